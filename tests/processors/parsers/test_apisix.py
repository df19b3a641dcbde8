"""APISIX default log entries: real-looking payloads from tests/data/apisix."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
from parser_samples import HASH, Samples, around_non_objects, assert_never_in_events

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers import apisix
from processors.parsers.base import Rejected

APISIX = Samples("apisix", apisix.parse, "apisix-logs/0@41")


def test_reference_batch_maps_every_field() -> None:
    (event,) = APISIX.events(APISIX.read("reference_batch.json"))
    assert event == AccessEvent(
        event_time=datetime(2024, 6, 10, 9, 45, 45, 678000, tzinfo=UTC),
        request_id="6f1c2b3a-9d8e-4f70-a1b2-c3d4e5f6a7b8",
        gateway="apisix",
        api="orders",
        route="orders-get",
        method="GET",
        path="/orders/1234",
        query="expand=items",
        headers={  # as logged: the apikey is dropped by the privacy step, not the parser
            "host": "api.example.com",
            "user-agent": "okhttp/4.12.0",
            "apikey": "k3y-mobile-4f1c9a7e2b",
            "x-request-id": "6f1c2b3a-9d8e-4f70-a1b2-c3d4e5f6a7b8",
        },
        status=200,
        latency_ms=41.0,  # 41.000127792358: float noise rounded away
        upstream_latency_ms=38.0,
        gateway_latency_ms=3.0,
        bytes_in=412,
        bytes_out=1893,
        consumer="mobile_app",
        application="",
        credential_hash=HASH("k3y-mobile-4f1c9a7e2b"),
        client_ip="203.0.113.7",
        user_agent="okhttp/4.12.0",
        source="apisix-logs/0@41#0",  # the default output is an array, even of one entry
    )
    assert len(event.credential_hash) == 32


def test_array_with_one_bad_element_keeps_the_others() -> None:
    first, bad, third = APISIX.results(APISIX.read("batch_one_bad.json"))

    assert isinstance(first, AccessEvent)
    assert first.source == "apisix-logs/0@41#0"
    assert (first.method, first.path, first.status) == ("POST", "/payments", 201)
    assert (first.api, first.route) == ("", "payments-create")  # route without a service
    assert first.consumer == ANONYMOUS  # no consumer object: not authenticated by APISIX
    assert first.credential_hash == HASH("k3y-billing-a81f")  # repeated ?apikey: the first
    # the uri has no query string: the querystring object, form-encoded, each value once
    assert first.query == "apikey=k3y-billing-a81f&apikey=k3y-billing-dup"
    assert (first.latency_ms, first.upstream_latency_ms, first.gateway_latency_ms) == (
        117.0,
        112.0,
        5.0,
    )
    assert (first.bytes_in, first.bytes_out) == (982, 377)
    assert first.request_id == ""  # no request-id plugin
    assert first.event_time == datetime(2024, 6, 10, 9, 45, 46, tzinfo=UTC)

    assert isinstance(bad, Rejected)
    assert bad.reason == "response.status: expected int, got str"
    bad_record = msgspec.json.decode(bad.record)
    assert bad_record["request"]["headers"]["x-request-id"] == "req-bad-element-01"
    assert bad_record["response"]["status"] == "200"

    assert isinstance(third, AccessEvent)
    assert third.source == "apisix-logs/0@41#2"
    assert third.status == 404
    assert third.path == "/wp-login.php"
    assert (third.api, third.route) == ("", "")  # no route matched: service_id is the host
    assert third.upstream_latency_ms is None  # no upstream was called
    assert (third.latency_ms, third.gateway_latency_ms) == (1.0, 1.0)
    assert third.credential_hash == ""
    assert third.user_agent == "Mozilla/5.0 zgrab/0.x"
    assert third.event_time == datetime(2024, 6, 10, 9, 45, 46, 500000, tzinfo=UTC)


def test_single_object_when_batch_max_size_is_one() -> None:
    (event,) = APISIX.events(APISIX.read("single_object.json"))
    assert event.source == "apisix-logs/0@41"  # no index for a lone object
    assert event.consumer == "alice"
    # no apikey header, `?apikey` is a flag without value: the Authorization header counts
    assert event.credential_hash == HASH("Basic YWxpY2U6czNjcjN0LXBhc3M=")
    assert event.user_agent == "MyApp/2.1 (iPhone; iOS 17.5)"  # repeated header: the first
    assert event.request_id == "b2c4e6f8-0000-4a1b-9c2d-111122223333"
    assert (event.method, event.path, event.status) == ("PUT", "/catalog/items/sku-88", 204)
    assert event.query == "flag"  # from the uri, as logged
    assert event.headers == {  # repeated headers joined
        "host": "api.example.com",
        "user-agent": "MyApp/2.1 (iPhone; iOS 17.5), MyApp/2.0",
        "authorization": "Basic YWxpY2U6czNjcjN0LXBhc3M=",
        "x-request-id": "b2c4e6f8-0000-4a1b-9c2d-111122223333, dup",
    }
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        411.0,
        411.0,
        0.0,
    )
    assert (event.bytes_in, event.bytes_out) == (1024, 0)
    assert event.client_ip == "2001:db8::7"
    assert event.event_time == datetime(2024, 6, 10, 11, 46, 40, 1000, tzinfo=UTC)  # float


def test_array_elements_that_are_not_objects() -> None:
    first, last = around_non_objects(APISIX.results(APISIX.read("batch_mixed_types.json")))
    assert (first.path, first.source, first.consumer) == ("/a", "apisix-logs/0@41#0", ANONYMOUS)
    assert (first.latency_ms, first.bytes_in, first.client_ip) == (None, None, "")
    assert (last.method, last.path, last.status) == ("DELETE", "/b", 204)
    assert (last.source, last.latency_ms) == ("apisix-logs/0@41#5", 1.5)
    assert last.event_time == datetime(2024, 6, 10, 9, 45, 45, 999000, tzinfo=UTC)


def test_file_logger_unicode_and_escapes() -> None:
    unicode_line = APISIX.lines("file_logger.ndjson")[0]
    (event,) = APISIX.events(unicode_line)
    assert event.path == "/caf%C3%A9/men%C3%BC/été"  # percent-encoding kept as sent
    assert event.user_agent == 'Mozilla/5.0 (é中😀) "quoted" back\\slash\ttab\x00nul'
    assert (event.consumer, event.api, event.route) == ("jürgen", "menü", "menü-route")
    assert event.credential_hash == HASH("k3y-jürgen-ß")
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        13.0,
        12.0,
        1.0,
    )
    assert event.event_time == datetime(2024, 6, 10, 10, 46, 40, 123000, tzinfo=UTC)
    assert event.source == "apisix-logs/0@41"


def test_upstream_list_after_retries_does_not_matter() -> None:
    (event,) = APISIX.events(APISIX.lines("file_logger.ndjson")[1])
    assert (event.method, event.path, event.status) == ("OPTIONS", "/health", 502)
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        5.0,
        5.0,
        0.0,
    )
    assert (event.user_agent, event.request_id, event.credential_hash) == ("", "", "")


@pytest.mark.parametrize(
    "name",
    ["reference_batch.json", "batch_one_bad.json", "single_object.json", "file_logger.ndjson"],
)
def test_credential_never_in_clear(name: str) -> None:
    secrets = [
        "k3y-mobile-4f1c9a7e2b",
        "k3y-billing-a81f",
        "k3y-billing-dup",
        "YWxpY2U6czNjcjN0LXBhc3M=",
        "k3y-jürgen-ß",
    ]
    for line in APISIX.lines(name):
        assert_never_in_events(APISIX.results(line), secrets)


MALFORMED_REASONS = [
    "invalid JSON: Input data was truncated",
    "expected a JSON object or array, got int",
    "expected a JSON object or array, got str",
    "expected a JSON object or array, got null",
    "empty JSON array",
    "response.status: expected int, got str",
    "response.status: 0 not in 100-599",
    "response.status: 600 not in 100-599",
    "response.size: negative (-5)",
    "request.size: negative (-2)",
    "start_time: 1718012745 is not epoch milliseconds",  # seconds
    "start_time: missing required field",
    "start_time: expected int | float, got str",
    "request.uri: missing required field",
    "response: missing required field",
    "start_time: missing required field",  # a custom log_format entry
    "request.headers.user-agent: expected str | array | null, got int",
    "consumer: expected object | null, got str",
    "latency: expected float | null, got str",
    "request.uri: empty",
    "request.uri: empty path ('?a=1')",
    "request.method: empty",
    "invalid JSON: JSON is malformed: trailing characters (byte 298)",
    "invalid JSON: JSON is malformed: invalid character (byte 0)",  # meta_format: origin
    "request.querystring.apikey: expected bool | str | array | null, got int",
    "response.status: expected int, got bool",
    "start_time: 1e+300 is not epoch milliseconds",
    "request: expected object, got str",
]


def _expected_record(line: bytes) -> bytes:
    """A bad element of an array is kept alone; anything else keeps the whole line."""
    try:
        raw = msgspec.json.decode(line)
    except msgspec.DecodeError:
        return line
    return msgspec.json.encode(raw[0]) if isinstance(raw, list) and raw else line


@pytest.mark.parametrize(
    ("line", "reason"),
    list(zip(APISIX.lines("malformed.ndjson"), MALFORMED_REASONS, strict=True)),
)
def test_malformed_records_are_rejected(line: bytes, reason: str) -> None:
    assert APISIX.results(line) == [Rejected(reason, _expected_record(line))]


test_empty_line = APISIX.empty_lines_test()


@pytest.mark.parametrize(
    "line", [b"\xff\xfe[]", b'[{"request":{"uri":"/\xff","method":"GET"}}]', b'"\\udc00"']
)
def test_undecodable_lines_are_rejected(line: bytes) -> None:
    APISIX.rejected(line)


# --- property tests ------------------------------------------------------------------

VALID_LINES = APISIX.valid_lines("malformed.ndjson")

test_random_bytes_never_raise = APISIX.random_bytes_test()
test_mutated_bytes_never_raise = APISIX.mutated_lines_test(
    VALID_LINES, b'[]{}",:0-.\\', examples=300
)
test_mutated_json_values_never_raise = APISIX.mutated_json_test(
    VALID_LINES, batch_with=APISIX.read("single_object.json")
)
