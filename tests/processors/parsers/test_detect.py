"""`--format auto`: the one format that reads a sample best, or a reason naming why not."""

from __future__ import annotations

from pathlib import Path

import pytest

from processors.parsers import PARSERS, kong
from processors.parsers.detect import MIN_SHARE, detect

DATA = Path(__file__).parents[2] / "data"


def _hash(credential: str) -> str:
    return "h"


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("kong/custom_id_only.ndjson", "kong"),
        ("nginx/access.log", "nginx"),
        ("nginx_json/access.ndjson", "nginx-json"),
        ("envoy/access.log", "envoy"),
        ("envoy/istio.ndjson", "envoy-json"),
        ("traefik/clf.log", "traefik"),
        ("traefik/v3.ndjson", "traefik"),
        ("caddy/access.ndjson", "caddy"),
        ("tyk/kafka_messages.ndjson", "tyk"),
        ("apisix/file_logger.ndjson", "apisix"),
        ("gravitee/requests.ndjson", "gravitee"),
        ("aws_apigw/rest_default.log", "aws-apigw"),
        ("azure_apim/eventhub_message.json", "azure-apim"),
    ],
)
def test_each_gateway_sample_is_recognised(sample: str, expected: str) -> None:
    detection = detect((DATA / sample).read_bytes().splitlines(), PARSERS, _hash)
    assert detection.format == expected, detection.reason


def test_an_unknown_format_is_refused_with_a_reason() -> None:
    detection = detect([b"<html>not a log</html>", b"hello"], PARSERS, _hash)
    assert detection.format is None
    assert detection.reason.startswith("format auto: no known format reads these lines")


def test_two_formats_reading_the_lines_alike_are_ambiguous_not_guessed() -> None:
    lines = (DATA / "kong/custom_id_only.ndjson").read_bytes().splitlines()
    detection = detect(lines, {"kong": kong.parse, "kong-copy": kong.parse}, _hash)
    assert detection.format is None
    assert detection.reason == (
        "format auto: ambiguous, kong and kong-copy read these lines alike; declare one of them"
    )


def test_a_mostly_broken_sample_is_not_enough() -> None:
    good = (DATA / "nginx/access.log").read_bytes().splitlines()[:2]
    bad = [b"garbage"] * 3
    assert len(good) / (len(good) + len(bad)) < MIN_SHARE
    assert detect([*good, *bad], PARSERS, _hash).format is None
    assert detect([b"", b"  "], PARSERS, _hash).reason == (
        "format auto: no line to detect the format from"
    )
