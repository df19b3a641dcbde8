"""Kong log-serializer parser: real-looking records from tests/data/kong."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
from parser_samples import HASH, Samples, around_non_objects, assert_never_in_events

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers import kong
from processors.parsers.base import Rejected

KONG = Samples("kong", kong.parse, "kong.log:12")


def test_full_record_maps_every_field() -> None:
    event = KONG.event(KONG.read("full_record.json"))
    assert event == AccessEvent(
        event_time=datetime(2024, 6, 10, 9, 45, 45, 678000, tzinfo=UTC),
        request_id="3d2b5f0e8a7c4e21b9f1c6d4a2e8f0b7",
        gateway="kong",
        api="orders",
        route="orders-get",
        method="GET",
        path="/orders/1234",
        query="expand=items&debug",  # from the uri; `querystring` is not needed
        headers={
            "host": "api.example.com",
            "user-agent": "okhttp/4.12.0",
            "accept": "application/json",
            "authorization": "REDACTED",
            "x-forwarded-for": "203.0.113.7",
        },
        status=200,
        latency_ms=41.0,
        upstream_latency_ms=38.0,
        gateway_latency_ms=2.0,
        bytes_in=412,
        bytes_out=1893,
        consumer="mobile-app",
        application="",
        credential_hash=HASH("c62c1455-9b1d-4f2d-8797-509ba83b8ae8"),
        client_ip="203.0.113.7",
        user_agent="okhttp/4.12.0",
        source="kong.log:12",
    )
    assert event.event_time.utcoffset() is not None
    assert len(event.credential_hash) == 32


def test_array_with_one_bad_element_keeps_the_others() -> None:
    results = KONG.results(KONG.read("batch_one_bad.json"))
    assert len(results) == 3
    first, bad, third = results

    assert isinstance(first, AccessEvent)
    assert first.source == "kong.log:12#0"
    assert (first.method, first.path, first.status) == ("POST", "/payments", 201)
    assert (first.api, first.route) == ("payments", "payments-create")
    assert first.consumer == "acme-billing"
    assert first.application == "acme-checkout"
    assert first.credential_hash == HASH("0b9b1d5e-8a54-4c38-a2f4-71f2d1b3a6e1")
    assert (first.latency_ms, first.upstream_latency_ms, first.gateway_latency_ms) == (
        116.0,
        112.0,
        3.0,
    )
    assert first.event_time == datetime(2024, 6, 10, 9, 45, 46, tzinfo=UTC)

    assert isinstance(bad, Rejected)
    assert bad.reason == "response.status: expected int, got str"
    bad_record = msgspec.json.decode(bad.record)
    assert bad_record["request"]["id"] == "c9f0f895fb98ab9159f51fd0297e236d"
    assert bad_record["response"]["status"] == "200"

    assert isinstance(third, AccessEvent)
    assert third.source == "kong.log:12#2"
    assert third.status == 429
    assert third.path == "/payments"
    assert third.upstream_latency_ms is None  # latencies.proxy == -1: Kong answered itself
    assert (third.latency_ms, third.gateway_latency_ms) == (0.0, 0.0)


def test_array_elements_that_are_not_objects() -> None:
    first, last = around_non_objects(KONG.results(KONG.read("batch_mixed_types.json")))
    assert (first.path, first.source) == ("/a", "kong.log:12#0")
    assert (last.method, last.status, last.source) == ("DELETE", 204, "kong.log:12#5")
    assert last.upstream_latency_ms is None


def test_credential_without_consumer_identifies_by_credential_hash() -> None:
    event = KONG.event(KONG.read("credential_without_consumer.json"))
    expected_hash = HASH("4e0d6e5a-1b7c-4f21-9d7e-0a5c3b8f2e19")
    assert event.credential_hash == expected_hash
    assert event.consumer == "unknown:effb80b2c9bd"  # the first 12 hex of the hash
    assert expected_hash.startswith("effb80b2c9bd")
    assert event.request_id == ""
    assert (event.api, event.route) == ("reporting", "reports")
    assert event.latency_ms == 256.0
    assert event.event_time == datetime(2024, 6, 10, 10, 0, tzinfo=UTC)


def test_no_auth_and_no_route_is_anonymous() -> None:
    event = KONG.event(KONG.read("no_route_anonymous.json"))
    assert event.consumer == ANONYMOUS
    assert event.credential_hash == ""
    assert event.application == ""
    assert (event.api, event.route) == ("", "")
    assert (event.method, event.path, event.status) == ("POST", "/wp-login.php", 404)
    assert event.upstream_latency_ms is None
    assert (event.latency_ms, event.gateway_latency_ms) == (1.0, 1.0)
    assert event.user_agent == "Mozilla/5.0 zgrab/0.x"
    assert event.client_ip == "45.148.10.92"
    assert event.event_time == datetime(2024, 6, 10, 10, 40, 0, 500000, tzinfo=UTC)


def test_repeated_user_agent_header_takes_the_first() -> None:
    event = KONG.event(KONG.read("repeated_user_agent.json"))
    assert event.user_agent == "MyApp/2.1 (iPhone; iOS 17.5)"
    # username and custom_id are "", so the consumer id is the identity
    assert event.consumer == "7d4c9a5b-3e2f-4b1a-8c6d-5e4f3a2b1c0d"
    assert event.credential_hash == HASH("2f6a1c8e-9d3b-4e7f-a1c5-6b8d0e2f4a13")
    assert event.route == ""  # route.name is null
    assert event.headers == {  # repeated headers joined, as one header line would hold them
        "host": "api.example.com",
        "user-agent": "MyApp/2.1 (iPhone; iOS 17.5), CFNetwork/1496.0.7 Darwin/23.5.0",
        "accept": "application/json, */*",
    }
    assert event.query == ""
    assert event.api == "catalog"
    assert event.event_time == datetime(2024, 6, 10, 11, 46, 39, 999000, tzinfo=UTC)


def test_query_from_querystring_when_the_uri_has_none() -> None:
    event = KONG.event(KONG.read("querystring_only.json"))
    assert (event.path, event.query) == ("/search", "q=caf%C3%A9+au+lait&tag=new&tag=sale&preview")
    assert event.headers == {
        "host": "api.example.com",
        "user-agent": "okhttp/4.12.0",
        "accept": "application/json",
        "x-forwarded-for": "198.51.100.23, 10.0.0.5",
    }
    assert (event.api, event.route, event.consumer) == ("catalog", "search", ANONYMOUS)


def test_unicode_and_escapes_in_strings() -> None:
    event = KONG.event(KONG.read("unicode_escapes.json"))
    assert event.path == "/caf%C3%A9/men%C3%BC/été"  # percent-encoding kept as sent
    assert event.query == 'q=%E2%9C%93&x="y"'  # as logged, not re-encoded
    assert event.user_agent == 'Mozilla/5.0 (é中😀) "quoted" back\\slash\ttab\x00nul'
    assert event.consumer == "jürgen"
    assert event.application == "café-küche"  # "app:" with no name is skipped
    assert (event.api, event.route) == ("menü", "café-route")
    assert event.method == "PUT"
    # float latencies and a float started_at; *_ns fields ignored
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        41.5,
        7.0,
        0.5,
    )
    assert event.event_time == datetime(2024, 6, 10, 11, 46, 40, 1000, tzinfo=UTC)
    assert event.client_ip == "2001:db8::7"
    assert (event.bytes_in, event.bytes_out) == (1024, 0)
    assert event.credential_hash == ""


def test_consumer_falls_back_to_custom_id_then_id() -> None:
    with_custom, id_only = (KONG.event(line) for line in KONG.lines("custom_id_only.ndjson"))
    assert with_custom.consumer == "cust-9001"
    assert with_custom.credential_hash == HASH("f00dfeed-0000-4000-8000-00000000beef")
    assert with_custom.path == "/v1/quotes"
    assert with_custom.user_agent == "acme-trader/5.0"
    assert (with_custom.bytes_in, with_custom.bytes_out) == (None, None)
    assert with_custom.latency_ms is None
    assert with_custom.request_id == ""
    assert id_only.consumer == "3c2b1a09-8f7e-4d6c-b5a4-39281706f5e4"
    assert id_only.credential_hash == ""
    assert id_only.user_agent == ""


@pytest.mark.parametrize(
    "name",
    [
        "full_record.json",
        "batch_one_bad.json",
        "credential_without_consumer.json",
        "repeated_user_agent.json",
        "custom_id_only.ndjson",
    ],
)
def test_credential_never_in_clear(name: str) -> None:
    for line in KONG.lines(name):
        raw = msgspec.json.decode(line)
        records = raw if isinstance(raw, list) else [raw]
        secrets = {r["authenticated_entity"]["id"] for r in records if "authenticated_entity" in r}
        secrets.add("s3cr3t-key-should-not-leak")  # apikey header in batch_one_bad: `headers` only
        assert_never_in_events(KONG.results(line), secrets)


MALFORMED_REASONS = [
    "invalid JSON: Input data was truncated",
    "expected a JSON object or array, got int",
    "expected a JSON object or array, got str",
    "expected a JSON object or array, got null",
    "empty JSON array",
    "response.status: expected int, got str",
    "response.status: 42 not in 100-599",
    "response.status: 600 not in 100-599",
    "response.size: negative (-1)",
    "request.size: negative (-412)",
    "started_at: 1718012745 is not epoch milliseconds",
    "started_at: missing required field",
    "started_at: expected int | float, got str",
    "request.uri: missing required field",
    "response: missing required field",
    "request: missing required field",  # stream subsystem record
    "request.headers.user-agent: expected str | array | null, got int",
    "request.size: expected int | null, got str",
    "response.status: expected int, got bool",
    "request: expected object, got str",
    "request.uri: empty",
    "request.method: empty",
    "invalid JSON: JSON is malformed: trailing characters (byte 94)",
    "invalid JSON: Number out of range",
    "latencies.request: expected float | null, got str",
    "consumer: expected object | null, got str",
]


@pytest.mark.parametrize(
    ("line", "reason"),
    list(zip(KONG.lines("malformed.ndjson"), MALFORMED_REASONS, strict=True)),
)
def test_malformed_records_are_rejected(line: bytes, reason: str) -> None:
    assert KONG.rejected(line).reason.startswith(reason)


test_empty_line = KONG.empty_lines_test()


@pytest.mark.parametrize(
    "line", [b"\xff\xfe{}", b'{"request":{"uri":"/\xff","method":"GET"}}', b'"\\ud800"']
)
def test_undecodable_lines_are_rejected(line: bytes) -> None:
    KONG.rejected(line)


# --- property tests ------------------------------------------------------------------

VALID_LINES = KONG.valid_lines("malformed.ndjson")

test_random_bytes_never_raise = KONG.random_bytes_test()
test_mutated_bytes_never_raise = KONG.mutated_lines_test(VALID_LINES, examples=300)
test_mutated_json_values_never_raise = KONG.mutated_json_test(
    VALID_LINES, batch_with=KONG.read("full_record.json")
)
