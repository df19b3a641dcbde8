"""Gravitee reporter metrics (json output): real-looking records from tests/data/gravitee."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
from parser_samples import HASH, Samples, assert_never_in_events

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers import gravitee
from processors.parsers.base import Rejected

GRAVITEE = Samples("gravitee", gravitee.parse, "metrics.json:3")
APP = "91f077b0-1204-49e4-b077-b0120419e4f6"


def test_reference_record_maps_every_field() -> None:
    (line,) = GRAVITEE.lines("metrics.json")
    assert GRAVITEE.event(line) == AccessEvent(
        event_time=datetime(2024, 6, 10, 9, 45, 45, 678000, tzinfo=UTC),
        request_id="076aea69-6024-4590-aaea-6960247590a0",
        gateway="gravitee",
        api="orders",
        route="",
        method="GET",
        path="/orders/1234",
        query="expand=items",
        status=200,
        latency_ms=41.0,
        upstream_latency_ms=38.0,
        gateway_latency_ms=3.0,
        bytes_in=None,  # requestContentLength -1: unknown
        bytes_out=1530,
        consumer=APP,
        application=APP,
        credential_hash="",  # API_KEY plan, but no securityToken in the record
        client_ip="203.0.113.7",
        user_agent="okhttp/4.12.0",
        source="metrics.json:3",
    )


def test_api_key_plan_hashes_the_security_token() -> None:
    event = GRAVITEE.event(GRAVITEE.lines("requests.ndjson")[0])
    assert event.credential_hash == HASH("9c1f4e2a-clear-api-key-7d3b")
    assert (event.consumer, event.application) == (APP, APP)
    assert (event.method, event.path, event.status) == ("POST", "/orders", 201)
    assert event.route == "/orders/:id"  # the analytics path mapping
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        119.0,
        112.0,
        7.0,
    )
    assert (event.bytes_in, event.bytes_out) == (512, 87)
    assert event.event_time == datetime(2024, 6, 10, 9, 46, 45, 1000, tzinfo=UTC)


def test_keyless_plan_is_anonymous() -> None:
    event = GRAVITEE.event(GRAVITEE.lines("requests.ndjson")[1])
    assert (event.consumer, event.application, event.credential_hash) == (ANONYMOUS, "", "")
    assert event.client_ip == "198.51.100.77"  # also the keyless subscriptionId: not a credential
    assert (event.api, event.path) == ("public-weather", "/weather/paris")
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        1.0,
        0.0,  # an endpoint was called, so its 0 ms is a real value
        1.0,
    )
    assert (event.bytes_in, event.bytes_out) == (0, 642)
    assert event.event_time == datetime(2024, 6, 10, 9, 46, 46, 250000, tzinfo=UTC)


def test_request_rejected_by_the_gateway_never_reached_the_endpoint() -> None:
    event = GRAVITEE.event(GRAVITEE.lines("requests.ndjson")[2])
    assert (event.method, event.path, event.status) == ("DELETE", "/orders/77", 401)
    assert event.upstream_latency_ms is None  # no `endpoint`: endpointResponseTimeMs 0 ignored
    assert (event.latency_ms, event.gateway_latency_ms) == (2.0, 2.0)
    assert (event.consumer, event.application) == (ANONYMOUS, "")  # no applicationId
    assert event.credential_hash == HASH("wrong-key-0000")  # the failed attempt is traceable
    assert (event.bytes_in, event.bytes_out) == (None, 54)
    assert event.client_ip == "2001:db8::42"


def test_legacy_v2_record() -> None:
    event = GRAVITEE.event(GRAVITEE.lines("variants.ndjson")[0])
    assert event == AccessEvent(
        event_time=datetime(2024, 6, 10, 9, 46, 48, 500000, tzinfo=UTC),
        request_id="7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910",
        gateway="gravitee",
        api="c0ffee00-1111-4222-8333-444455556666",  # `api` (id): no apiName in this record
        route="/:cartId",
        method="PUT",
        path="/v1/carts/77",
        query="merge=true",
        status=204,
        latency_ms=120.0,  # proxyResponseTimeMs
        upstream_latency_ms=112.0,  # apiResponseTimeMs
        gateway_latency_ms=8.0,  # proxyLatencyMs
        bytes_in=128,
        bytes_out=0,
        consumer="a9b8c7d6-e5f4-4321-9abc-def012345678",  # `application`
        application="a9b8c7d6-e5f4-4321-9abc-def012345678",
        credential_hash=HASH("oauth-client-7f3a"),
        client_ip="203.0.113.99",
        user_agent="okhttp/4.12.0",
        source="metrics.json:3",
    )


def test_unicode_and_escapes() -> None:
    event = GRAVITEE.event(GRAVITEE.lines("variants.ndjson")[1])
    assert event.path == "/caf%C3%A9/men%C3%BC/été"
    assert event.user_agent == 'Mozilla/5.0 (é中😀) "quoted" back\\slash\ttab\x00nul'
    assert (event.api, event.consumer, event.application) == ("menü", "café-küche", "café-küche")
    assert event.method == "OTHER"  # Gravitee's name for a method it does not know
    assert event.client_ip == "2001:db8::7"
    assert event.event_time == datetime(2024, 6, 10, 10, 46, 40, 123000, tzinfo=UTC)


def test_array_with_one_bad_record_keeps_the_others() -> None:
    (line,) = GRAVITEE.lines("batch_one_bad.json")
    first, bad, third = GRAVITEE.results(line)
    assert isinstance(first, AccessEvent) and isinstance(third, AccessEvent)
    assert (first.source, first.status) == ("metrics.json:3#0", 201)
    assert (third.source, third.status) == ("metrics.json:3#2", 401)
    assert isinstance(bad, Rejected)
    assert bad.reason == "status: expected int, got str"
    assert msgspec.json.decode(bad.record)["requestId"] == "e3a1b2c4-0000-4d5e-8f90-aabbccddeeff"


@pytest.mark.parametrize("name", ["requests.ndjson", "variants.ndjson", "batch_one_bad.json"])
def test_security_token_never_in_clear(name: str) -> None:
    secrets = ["9c1f4e2a-clear-api-key-7d3b", "wrong-key-0000", "oauth-client-7f3a"]
    for line in GRAVITEE.lines(name):
        assert_never_in_events(GRAVITEE.results(line), secrets)


MALFORMED_REASONS = [
    "invalid JSON: Input data was truncated",
    "elasticsearch output format is not supported: set the reporter output to json",
    "invalid JSON: JSON is malformed: trailing characters (byte 14)",  # csv output
    "status: expected int, got str",
    "status: 0 not in 100-599",
    "timestamp: 1718012745 is not epoch milliseconds",
    "timestamp: missing required field",
    "httpMethod: expected str, got int",
    "uri: missing required field",
    "responseContentLength: negative (-7)",
    "requestContentLength: expected int | null, got str",
    "httpMethod: missing required field",  # a message-metrics record
    "gatewayResponseTimeMs: expected float | null, got str",
    "httpMethod: empty",
    "uri: empty",
    "expected a JSON object or array, got int",
    "empty JSON array",
    "applicationId: expected str | null, got int",
    "timestamp: expected int | float, got str",
]


@pytest.mark.parametrize(
    ("line", "reason"),
    list(zip(GRAVITEE.lines("malformed.ndjson"), MALFORMED_REASONS, strict=True)),
)
def test_malformed_records_are_rejected(line: bytes, reason: str) -> None:
    assert GRAVITEE.results(line) == [Rejected(reason, line)]


test_empty_line = GRAVITEE.empty_lines_test()


@pytest.mark.parametrize("line", [b"\xff{}", b'{"uri":"/\xfe"}', b'{"a":"\\ud800"}'])
def test_undecodable_lines_are_rejected(line: bytes) -> None:
    GRAVITEE.rejected(line)


# --- property tests ------------------------------------------------------------------

VALID_LINES = GRAVITEE.valid_lines("malformed.ndjson")

test_random_bytes_never_raise = GRAVITEE.random_bytes_test()
test_mutated_bytes_never_raise = GRAVITEE.mutated_lines_test(
    VALID_LINES, b'[]{}",:0-.\\', examples=300
)
test_mutated_json_values_never_raise = GRAVITEE.mutated_json_test(
    VALID_LINES, batch_with=GRAVITEE.read("metrics.json")
)
