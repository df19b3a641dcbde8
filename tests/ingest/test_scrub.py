"""Ship-time credential hashing: parse(scrub(line)) names the same caller as parse(line), and
no clear credential is left in what the shippers send."""

from __future__ import annotations

import base64
import gzip
import json
import sys
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parents[1] / "processors" / "parsers"))
from parser_samples import DATA, HASH

from apim.credentials import CredentialHasher, is_hashed
from apim.event import AccessEvent
from ingest.scrub import JSON_NAMES, NAME_STEMS, CredentialScrubber
from processors.parsers import PARSERS
from processors.parsers.base import ParseContext

SCRUB = CredentialScrubber(HASH).scrub
DIRS = {
    "kong": "kong",
    "tyk": "tyk",
    "apisix": "apisix",
    "envoy": "envoy",
    "envoy-json": "envoy",
    "traefik": "traefik",
    "nginx": "nginx",
    "nginx-json": "nginx_json",
    "aws-apigw": "aws_apigw",
    "azure-apim": "azure_apim",
    "caddy": "caddy",
    "gravitee": "gravitee",
}


def fixture_lines() -> list[tuple[str, str, bytes]]:
    found = []
    for fmt, directory in DIRS.items():
        for path in sorted((DATA / directory).iterdir()):
            data = path.read_bytes()
            lines = data.splitlines()
            found += [(fmt, path.name, line) for line in lines]
            if len(lines) > 1:
                found.append((fmt, path.name, data))  # pretty-printed JSON, whole
    return found


FIXTURES = fixture_lines()


def parsed(fmt: str, line: bytes) -> tuple[list, list[str]]:
    """The parser's results (query and headers blanked) and the values it hashed."""
    hashed: list[str] = []

    def hasher(value: str) -> str:
        hashed.append(value)
        return HASH(value)

    results = PARSERS[fmt](line, ParseContext("test", hasher))
    blanked = [
        msgspec.structs.replace(r, query="", headers={}) if isinstance(r, AccessEvent) else r
        for r in results
    ]
    return blanked, hashed


def same_parse(fmt: str, line: bytes, scrubbed: bytes) -> None:
    before, _ = parsed(fmt, line)
    after, _ = parsed(fmt, scrubbed)
    for a, b in zip(before, after, strict=True):
        if isinstance(a, AccessEvent):
            assert b == a
            assert (b.credential_hash, b.consumer) == (a.credential_hash, a.consumer)
        else:
            assert type(b) is type(a)


@pytest.mark.parametrize(
    ("fmt", "name", "line"), FIXTURES, ids=[f"{f}-{n}-{i}" for i, (f, n, _) in enumerate(FIXTURES)]
)
def test_fixture_lines_parse_the_same_and_lose_their_secrets(fmt, name, line) -> None:
    scrubbed = SCRUB(line)
    same_parse(fmt, line, scrubbed)
    events, hashed = parsed(fmt, line)
    consumers = {e.consumer for e in events if isinstance(e, AccessEvent)}
    for value in hashed:
        if value in consumers:  # an identifier logged on purpose (AWS key id, Azure sub id)
            continue
        assert value.encode() not in scrubbed, f"{value!r} left in {scrubbed[:300]!r}"
    assert SCRUB(scrubbed) == scrubbed  # hashing twice changes nothing


def test_every_gateway_that_hashes_is_covered() -> None:
    hashing = {fmt for fmt, _, line in FIXTURES if any(parsed(fmt, line)[1])}
    assert hashing >= {"kong", "tyk", "apisix", "aws-apigw", "azure-apim", "nginx-json", "caddy"}
    assert hashing >= {"gravitee", "traefik"}


SECRET = "ak_live_Zq8Wx3Er6TySECRET"
KONG = {
    "request": {
        "method": "GET",
        "uri": f"/v1/orders/1?api_key={SECRET}&page=2",
        "querystring": {"api_key": SECRET, "page": "2"},
        "headers": {"apikey": SECRET, "user-agent": "okhttp/4.12.0", "x-api-key": [SECRET]},
    },
    "response": {"status": 200, "size": 512},
    "latencies": {"request": 20, "proxy": 15, "kong": 5},
    "authenticated_entity": {"id": "kc-ios-7Hq2LmX9vB4nR8sT"},
    "service": {"name": "orders"},
    "client_ip": "81.2.69.160",
    "started_at": 1718000000000,
}
APISIX = {
    "start_time": 1718012745678,
    "request": {
        "method": "GET",
        "uri": f"/v1/x?apikey={SECRET}",
        "headers": {"authorization": f"Bearer {SECRET}", "user-agent": "curl/8"},
        "querystring": {"apikey": SECRET},
    },
    "response": {"status": 200},
}
REALISTIC = [
    ("kong", json.dumps(KONG).encode(), [SECRET, "kc-ios-7Hq2LmX9vB4nR8sT"]),
    ("kong", json.dumps([KONG, KONG], indent=2).encode(), [SECRET, "kc-ios-7Hq2LmX9vB4nR8sT"]),
    ("apisix", json.dumps(APISIX).encode(), [SECRET]),
    (
        "tyk",
        b'time="2025-02-10T14:31:22Z" level=info api_id=abc api_key="sk=' + SECRET.encode() + b'"'
        b" method=POST path=/orders prefix=access-log status=429",
        [SECRET],
    ),
    (
        "nginx",
        b'203.0.113.7 - - [10/Jun/2024:11:45:45 +0200] "GET /v1/x?token='
        + SECRET.encode()
        + b"&a=1"
        b' HTTP/1.1" 200 12 "-" "curl/8.5.0"',
        [SECRET],
    ),
    (
        "nginx-json",
        json.dumps(
            {
                "msec": "1718012745.678",
                "request": f"GET /x?api_key={SECRET} HTTP/1.1",
                "status": "200",
                "http_x_api_key": SECRET,
            }
        ).encode(),
        [SECRET],
    ),
    (
        "azure-apim",
        json.dumps(
            {
                "time": "2024-06-10T09:45:46Z",
                "category": "GatewayLogs",
                "properties": {
                    "method": "GET",
                    "url": f"https://apim.azure-api.net/w?subscription-key={SECRET}#top",
                    "responseCode": 200,
                    "apimSubscriptionId": "mobile-app-sub",
                    "requestHeaders": {"Ocp-Apim-Subscription-Key": SECRET},
                },
            }
        ).encode(),
        [SECRET],
    ),
]


def aws_envelope() -> bytes:
    record = {
        "requestId": "r1",
        "httpMethod": "GET",
        "path": "/prod/quotes",
        "stage": "prod",
        "status": "200",
        "requestTimeEpoch": "1718012745678",
        "identity": {"apiKey": SECRET},
    }
    envelope = {
        "messageType": "DATA_MESSAGE",
        "logEvents": [{"id": "1", "timestamp": 1718012745678, "message": json.dumps(record)}],
    }
    return json.dumps(envelope).encode()


REALISTIC += [
    ("aws-apigw", aws_envelope(), [SECRET]),
    ("aws-apigw", gzip.compress(aws_envelope()), [SECRET]),
    ("aws-apigw", base64.b64encode(gzip.compress(aws_envelope())), [SECRET]),
]


@pytest.mark.parametrize(("fmt", "line", "secrets"), REALISTIC)
def test_realistic_records_keep_their_caller_and_lose_every_clear_key(fmt, line, secrets) -> None:
    scrubbed = SCRUB(line)
    same_parse(fmt, line, scrubbed)
    plain = scrubbed
    if plain.startswith(b"H4sI"):
        plain = base64.b64decode(plain)
    if plain.startswith(b"\x1f\x8b"):
        plain = gzip.decompress(plain)
    for secret in secrets:
        assert secret.encode() not in plain
    events, _ = parsed(fmt, scrubbed)
    assert all(isinstance(e, AccessEvent) for e in events)


def test_the_authorization_header_is_hashed_whole_as_parsers_hash_it() -> None:
    scrubbed = json.loads(SCRUB(json.dumps(APISIX).encode()))
    assert scrubbed["request"]["headers"]["authorization"] == "hash:" + HASH(f"Bearer {SECRET}")
    assert scrubbed["request"]["headers"]["user-agent"] == "curl/8"


def test_a_cut_json_line_still_loses_its_keys() -> None:
    line = b'{"request": {"method": "GET", "headers": {"apikey": "%s"}' % SECRET.encode()
    assert SECRET.encode() not in SCRUB(line)
    line = b'{"authenticated_entity": {"id": "kc-1", "x": 1}, "request": {"uri": "/a?key=%s' % (
        SECRET.encode()
    )
    scrubbed = SCRUB(line)
    assert b"kc-1" not in scrubbed and SECRET.encode() not in scrubbed


@pytest.mark.parametrize(
    "line",
    [
        b'{"request":{"method":"GET","uri":"/v1/x?page=2"},"response":{"status":200}}',
        b'203.0.113.7 - - [10/Jun/2024:11:45:45 +0200] "GET /x?page=1 HTTP/1.1" 200 1 "-" "-"',
        b'{"authorization":"REDACTED","api_key":"00000000","apikey":"","token":"-"}',
        b'{"headers": {"apikey": "hash:' + HASH("k").encode() + b'"}}',
        b"  \n",
        b"",
    ],
)
def test_lines_without_a_credential_are_returned_as_they_are(line) -> None:
    assert SCRUB(line) is line


def test_no_credential_fixture_lines_are_byte_identical() -> None:
    for fmt, _, line in FIXTURES:
        if fmt in ("envoy", "envoy-json"):
            assert SCRUB(line) is line


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_scrub_never_raises_and_leaves_lines_without_names_alone(line: bytes) -> None:
    scrubbed = SCRUB(line)
    assert isinstance(scrubbed, bytes)
    lower = line.lower()
    stems = (b"key", b"auth", b"token", b"cookie", b"secret", b"passw", b"sig", b"code", b"cred")
    if not any(stem in lower for stem in stems):
        assert scrubbed == line


NAMES = st.sampled_from([*sorted(JSON_NAMES), "id", "authenticated_entity", "uri", "a", "Tags"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(NAMES, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_scrubbed_json_is_json_and_hashes_every_named_string(value) -> None:
    line = json.dumps(value).encode()
    scrubbed = SCRUB(line)
    decoded = json.loads(scrubbed)

    def check(node, parent: str = "") -> None:
        if isinstance(node, dict):
            for key, item in node.items():
                named = key.lower() in JSON_NAMES
                if isinstance(item, str) and named and item not in ("", "-", "REDACTED"):
                    assert is_hashed(item) or item in ("00000000", "--"), (key, item)
                check(item, key.lower())
        elif isinstance(node, list):
            for item in node:
                check(item, parent)

    check(decoded)


def test_hasher_takes_a_shipper_hash_as_already_hashed() -> None:
    hasher = CredentialHasher(b"s")
    digest = hasher("clear")
    assert hasher(f"hash:{digest}") == digest
    assert hasher.hashed("clear") == f"hash:{digest}" == hasher.hashed(f"hash:{digest}")
    assert hasher(f"hash:{digest.upper()}") != digest  # not the exact form: a credential


def test_every_credential_name_holds_a_pre_check_stem() -> None:
    names = JSON_NAMES | {"authenticated_entity"}
    assert all(any(stem.decode() in name for stem in NAME_STEMS) for name in names)
