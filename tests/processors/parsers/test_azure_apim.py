"""Azure API Management GatewayLogs parser: real-looking records from tests/data/azure_apim."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from parser_properties import records_in
from parser_samples import HASH, Samples, assert_never_in_events

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers import azure_apim
from processors.parsers.base import Rejected

AZURE = Samples("azure_apim", azure_apim.parse, "apim.raw-logs/1@4242")
MALFORMED = AZURE.lines("malformed.ndjson")
SUBSCRIPTION_KEY = "5f2c8a1e9b7d4c3a8e6f0b1d2c3a4e5f"


def _at(second: int, ms: int = 0) -> datetime:
    return datetime(2024, 6, 10, 9, 45, second, ms * 1000, tzinfo=UTC)


def test_reference_example_maps_every_field() -> None:
    assert AZURE.events(AZURE.read("eventhub_message.json")) == [
        AccessEvent(
            event_time=_at(45, 678),  # "…45.6781234Z": 7 digits, truncated to the ms
            gateway="azure-apim",
            method="GET",
            path="/orders/1234",
            query="expand=items",
            status=200,
            request_id="3f06647e-1c2b-4d3e-9f8a-530eb9f15261",
            api="orders-api",
            route="get-order",
            latency_ms=41.0,
            upstream_latency_ms=38.0,
            gateway_latency_ms=1.0,  # 41 - backendTime 38 - clientTime 2
            bytes_in=412,
            bytes_out=1893,
            consumer="mobile-app-sub",
            application="",
            credential_hash=HASH("mobile-app-sub"),
            client_ip="203.0.113.7",
            user_agent="",  # headers not logged
            source="apim.raw-logs/1@4242#0",  # a record of an Event Hub batch
        )
    ]


def test_batch_keeps_good_records_next_to_bad_ones() -> None:
    line = AZURE.read("eventhub_batch.json")
    results = AZURE.results(line)
    assert [type(r).__name__ for r in results] == [
        "AccessEvent",
        "AccessEvent",
        "Rejected",
        "AccessEvent",
        "Rejected",
    ]
    cached, unauthorized, websocket, upload, bad = results
    records = msgspec.json.decode(line)["records"]

    assert isinstance(cached, AccessEvent)
    assert cached.source == "apim.raw-logs/1@4242#0"
    assert (cached.method, cached.path, cached.status) == ("GET", "/catalog/items", 200)
    assert cached.query == "page=2"
    assert (cached.latency_ms, cached.upstream_latency_ms, cached.gateway_latency_ms) == (
        3.0,
        0.0,  # a cache hit: no backend call
        2.0,
    )
    assert (cached.bytes_in, cached.bytes_out) == (388, 5120)  # numbers given as strings
    assert cached.consumer == "partner-acme"
    assert cached.event_time == _at(46, 1)

    assert isinstance(unauthorized, AccessEvent)
    assert (unauthorized.status, unauthorized.consumer) == (401, ANONYMOUS)  # no subscription
    assert (unauthorized.credential_hash, unauthorized.route) == ("", "")
    assert (unauthorized.upstream_latency_ms, unauthorized.gateway_latency_ms) == (None, None)
    assert unauthorized.source == "apim.raw-logs/1@4242#1"

    assert isinstance(websocket, Rejected)
    assert websocket.reason == "category: 'WebSocketConnectionLogs' is not GatewayLogs"
    assert msgspec.json.decode(websocket.record) == records[2]

    assert isinstance(upload, AccessEvent)
    assert upload.gateway_latency_ms == 10.0  # 1250 - backend 240 - slow client 1000
    assert (upload.bytes_in, upload.method, upload.status) == (2097152, "PUT", 201)
    assert upload.source == "apim.raw-logs/1@4242#3"

    assert isinstance(bad, Rejected)
    assert bad.reason == "properties.responseCode: expected a status code, got 'two hundred'"
    assert msgspec.json.decode(bad.record) == records[4]


def test_storage_record_user_agent_and_subscription_key_only_in_the_query() -> None:
    (event,) = AZURE.events(AZURE.lines("storage_records.ndjson")[0])
    assert event.source == "apim.raw-logs/1@4242"  # one record per line: no index
    assert event.path == "/weather/forecast"
    # the query as logged, subscription key included: the privacy step drops it
    assert event.query == f"city=Oslo&subscription-key={SUBSCRIPTION_KEY}"
    assert event.headers == {}  # requestHeaders are read for the user agent only
    assert event.user_agent == "WeatherApp/5.1 (Android 14)"
    assert (event.consumer, event.credential_hash) == ("bob-starter", HASH("bob-starter"))
    assert event.client_ip == "10.0.8.4"  # the immediate caller, X-Forwarded-For not read
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        88.0,
        80.0,
        7.0,
    )
    assert_never_in_events([event], [SUBSCRIPTION_KEY])


def test_user_id_without_subscription_and_time_offset() -> None:
    (event,) = AZURE.events(AZURE.lines("storage_records.ndjson")[1])
    assert event.event_time == _at(49)  # 11:45:49+02:00
    assert (event.consumer, event.credential_hash) == ("carol", "")
    assert event.user_agent == "dup-header-agent"  # a repeated header, lower-cased name
    assert (event.method, event.status, event.bytes_out) == ("DELETE", 404, 0)
    assert event.gateway_latency_ms == 3.0  # clientTime not logged: 15 - 12


def test_log_analytics_rows_as_a_json_array() -> None:
    first, timeout = AZURE.events(AZURE.read("log_analytics_rows.json"))
    assert first == AccessEvent(
        event_time=_at(50, 123),
        gateway="azure-apim",
        method="GET",
        path="/orders/1234",
        query="expand=items",
        status=200,
        request_id="c3d4e5f6-a7b8-4c9d-8e0f-2a3b4c5d6e7f",
        api="orders-api",
        route="get-order",
        latency_ms=57.0,
        upstream_latency_ms=50.0,
        gateway_latency_ms=4.0,
        bytes_in=412,
        bytes_out=1893,
        consumer="mobile-app-sub",
        credential_hash=HASH("mobile-app-sub"),
        client_ip="203.0.113.7",
        user_agent="okhttp/4.12.0",
        source="apim.raw-logs/1@4242#0",
    )
    assert (timeout.status, timeout.latency_ms, timeout.upstream_latency_ms) == (
        504,
        30004.0,
        30000.0,
    )
    assert (timeout.consumer, timeout.source) == ("partner-acme", "apim.raw-logs/1@4242#1")
    assert timeout.event_time == _at(51)


def test_log_analytics_row_per_line() -> None:
    (health,) = AZURE.events(AZURE.lines("log_analytics_rows.ndjson")[0])
    assert (health.status, health.latency_ms, health.bytes_in) == (200, 9.0, 120)  # strings
    assert (health.consumer, health.path) == (ANONYMOUS, "/v1/health")
    (status,) = AZURE.events(AZURE.lines("log_analytics_rows.ndjson")[1])
    assert (status.path, status.status) == ("/v1/status", 503)  # a relative Url
    assert status.consumer == "1"  # UserId, ApimSubscriptionId being null
    assert (status.request_id, status.client_ip, status.bytes_out) == ("", "", None)


def test_workspace_export_rows_in_a_records_envelope() -> None:
    first, preflight = AZURE.events(AZURE.read("workspace_export.json"))
    assert (first.path, first.consumer, first.event_time) == (
        "/orders/77",
        "mobile-app-sub",
        _at(54, 444),
    )
    assert first.source == "apim.raw-logs/1@4242#0"
    assert (preflight.method, preflight.status, preflight.consumer) == ("OPTIONS", 204, ANONYMOUS)
    assert preflight.source == "apim.raw-logs/1@4242#1"


def test_resource_log_and_row_of_one_request_give_one_event() -> None:
    record = msgspec.json.decode(AZURE.read("eventhub_message.json"))["records"][0]
    columns = {"time": "TimeGenerated", "durationMs": "TotalTime"}
    row = {columns.get(k, k[:1].upper() + k[1:]): v for k, v in record.items() if k != "properties"}
    row |= {k[:1].upper() + k[1:]: v for k, v in record["properties"].items()}
    (from_row,) = AZURE.events(msgspec.json.encode(row))
    (from_log,) = AZURE.events(msgspec.json.encode(record))
    assert from_row == from_log


def test_element_that_is_not_an_object() -> None:
    record = msgspec.json.decode(AZURE.read("eventhub_message.json"))["records"][0]
    line = msgspec.json.encode({"records": [5, record]})
    rejected, event = AZURE.results(line)
    assert rejected == Rejected("record: expected object, got int", b"5")
    assert isinstance(event, AccessEvent)
    assert event.source == "apim.raw-logs/1@4242#1"


MALFORMED_REASONS = [
    "records: empty array",
    "records: expected array, got str",
    "expected a JSON object or array, got int",
    "empty JSON array",
    "invalid JSON: Input data was truncated",
    "properties.responseCode: 600 not in 100-599",
    "properties.responseSize: negative (-1)",
    "properties: missing required field",
    "time: missing required field",
    "time: no UTC offset in '2024-06-10T09:46:00.123'",
    "time: expected an ISO 8601 time, got 'yesterday'",
    "properties.method: missing required field",
    "properties.url: missing required field",
    "properties.url: Invalid IPv6 URL",
    "durationMs: expected milliseconds, got '41ms'",
    "properties.responseCode: expected int | float | str | null, got object",
    "category: 'GatewayLlmLogs' is not GatewayLogs",
    "ResponseCode: expected a status code, got 'abc'",
    "TimeGenerated: missing required field",
    "Url: missing required field",
    "BackendTime: expected milliseconds, got 'x'",
    "Method: missing required field",  # legacy AzureDiagnostics columns (method_s)
    "TimeGenerated: missing required field",  # a Log Analytics query API response
    "expected a JSON object or array, got str",
]


@pytest.mark.parametrize(("line", "reason"), list(zip(MALFORMED, MALFORMED_REASONS, strict=True)))
def test_malformed_lines_are_rejected(line: bytes, reason: str) -> None:
    assert AZURE.rejected(line).reason == reason


test_empty_line = AZURE.empty_lines_test()


# --- property tests ------------------------------------------------------------------

VALID = [
    *(AZURE.read(name).strip() for name in ("eventhub_message.json", "eventhub_batch.json")),
    *(AZURE.read(name).strip() for name in ("log_analytics_rows.json", "workspace_export.json")),
    *AZURE.lines("storage_records.ndjson"),
    *AZURE.lines("log_analytics_rows.ndjson"),
]


def _records_owed(value: Any) -> int:
    """One result per record, whatever they hold: in {"records": [...]} or an array."""
    if isinstance(value, dict) and "records" in value:
        value = value["records"]
    return records_in(value)


test_random_bytes_never_raise = AZURE.random_bytes_test()
test_mutated_lines_never_raise = AZURE.mutated_lines_test(
    VALID + MALFORMED, b'{}[]",:-./0123456789 TZ\x00\x80\xff'
)
test_mutated_json_values_never_raise = AZURE.mutated_json_test(VALID, results_owed=_records_owed)
