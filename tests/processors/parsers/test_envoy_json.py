"""Istio / Envoy Gateway JSON access-log parser: real-looking records from tests/data/envoy."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
from parser_samples import Samples

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers import envoy_json
from processors.parsers.base import Rejected

ENVOY_JSON = Samples("envoy", envoy_json.parse, "istio.log:5")
ISTIO = ENVOY_JSON.lines("istio.ndjson")
ENVOY_GATEWAY = ENVOY_JSON.lines("envoy_gateway.ndjson")
MALFORMED = ENVOY_JSON.lines("malformed.ndjson")


def test_istio_reference_example_maps_every_field() -> None:
    assert ENVOY_JSON.event(ISTIO[0]) == AccessEvent(
        event_time=datetime(2024, 6, 10, 9, 45, 45, 678000, tzinfo=UTC),
        gateway="envoy",
        method="GET",
        path="/orders/1234",
        query="expand=items",
        status=200,
        request_id="6f1c2b3a-9d8e-4f70-a1b2-c3d4e5f6a7b8",
        api="outbound|8080||orders.prod.svc.cluster.local",
        route="orders",
        latency_ms=41.0,
        upstream_latency_ms=38.0,  # "38": a string, from the response header
        gateway_latency_ms=3.0,
        bytes_in=0,
        bytes_out=1530,
        consumer=ANONYMOUS,
        application="",
        credential_hash="",
        client_ip="203.0.113.7",
        user_agent="okhttp/4.12.0",
        source="istio.log:5",
    )


def test_sidecar_record_with_null_forwarded_for_and_ipv6_peer() -> None:
    event = ENVOY_JSON.event(ISTIO[1])
    assert event.client_ip == "2a02:cf40::4e36"
    assert (event.api, event.route) == ("inbound|9080||", "default")
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        15.0,
        14.0,
        1.0,
    )
    assert event.event_time == datetime(2022, 9, 8, 12, 51, 5, 656000, tzinfo=UTC)


def test_null_and_dash_mixed_in_one_record() -> None:
    event = ENVOY_JSON.event(ISTIO[2])
    assert (event.request_id, event.api, event.route, event.user_agent) == ("", "", "", "")
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        0.0,
        None,
        None,
    )
    assert event.client_ip == "198.51.100.4"  # no downstream address: first X-Forwarded-For
    assert event.status == 404


def test_string_typed_numbers_and_offset_start_time() -> None:
    event = ENVOY_JSON.event(ISTIO[3])
    assert event.status == 503
    assert (event.bytes_in, event.bytes_out) == (230, 91)
    assert (event.latency_ms, event.upstream_latency_ms) == (3012.0, None)
    assert event.event_time == datetime(2024, 6, 10, 9, 45, 47, 500000, tzinfo=UTC)  # +02:00


def test_epoch_seconds_start_time_and_a_bad_upstream_header() -> None:
    event = ENVOY_JSON.event(ISTIO[4])
    assert event.event_time == datetime(2024, 6, 10, 9, 45, 48, 250000, tzinfo=UTC)
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        9.0,
        None,  # "7,1" is not a number of ms
        None,
    )
    assert event.client_ip == "203.0.113.9"  # "ip:port" in X-Forwarded-For


def test_envoy_gateway_default_record() -> None:
    assert ENVOY_JSON.event(ENVOY_GATEWAY[0]) == AccessEvent(
        event_time=datetime(2025, 4, 9, 11, 44, 45, 639000, tzinfo=UTC),
        gateway="envoy",
        method="GET",
        path="/",
        status=200,
        request_id="ab1e4da7-5f1d-45ea-bb4a-fa1ccd03b82b",
        api="httproute/envoy-gateway-system/backend/rule/0",
        route="httproute/envoy-gateway-system/backend/rule/0/match/0/backend",
        latency_ms=1.0,
        upstream_latency_ms=None,  # Envoy Gateway disables x-envoy-* headers by default
        gateway_latency_ms=None,
        bytes_in=0,
        bytes_out=466,
        consumer=ANONYMOUS,
        client_ip="10.244.0.12",
        user_agent="curl/7.88.1",
        source="istio.log:5",
    )


def test_envoy_gateway_hyphenated_header_keys() -> None:
    event = ENVOY_JSON.event(ENVOY_GATEWAY[1])
    assert (event.method, event.path, event.status) == ("POST", "/v2/payments", 201)
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        120.0,
        115.0,
        5.0,
    )
    assert event.user_agent == "curl/8.4.0"
    assert event.request_id == "b7ba9b4c-f4b7-47c2-9718-c23aa1465f49"
    assert (event.bytes_in, event.bytes_out) == (412, 88)


def test_array_with_one_bad_record_keeps_the_others() -> None:
    first, bad, third = ENVOY_JSON.results(ENVOY_JSON.read("batch_one_bad.json"))
    assert isinstance(first, AccessEvent)
    assert (first.source, first.path, first.upstream_latency_ms) == (
        "istio.log:5#0",
        "/orders/1234",
        38.0,
    )
    assert isinstance(bad, Rejected)
    assert bad.reason == "response_code: expected a status code, got 'ok'"
    assert msgspec.json.decode(bad.record)["path"] == "/orders/1235"
    assert isinstance(third, AccessEvent)
    assert (third.source, third.method, third.status) == ("istio.log:5#2", "DELETE", 204)
    assert third.request_id == "ab1e4da7-5f1d-45ea-bb4a-fa1ccd03b82b"


MALFORMED_REASONS = [
    "request: no HTTP method or path (a TCP record, or an undecodable request)",
    "response_code: 0, no response was sent (the downstream disconnected)",
    "response_code: expected a status code, got 'abc'",
    "response_code: expected int | str | null, got bool",
    "response_code: missing required field",
    "start_time: missing required field",
    "start_time: expected str, got int",
    "bytes_sent: negative (-5)",
    "bytes_sent: expected a byte count, got '1.5'",
    "duration: expected milliseconds, got 'fast'",
    "path: not logged",
    "method: missing required field",
    "response_code: 42 not in 100-599",
    "user_agent: expected str | null, got int",
    "start_time: expected an ISO 8601 time, got '10/Jun/2024:09:46:12 +0000'",
    "invalid JSON: Input data was truncated",
    "invalid JSON: JSON is malformed",  # a text-format line
    "empty JSON array",
    "expected a JSON object or array, got str",
]


@pytest.mark.parametrize(("line", "reason"), list(zip(MALFORMED, MALFORMED_REASONS, strict=True)))
def test_malformed_records_are_rejected(line: bytes, reason: str) -> None:
    rejected = ENVOY_JSON.rejected(line)
    assert rejected.reason.startswith(reason), rejected.reason


test_empty_line = ENVOY_JSON.empty_lines_test()


@pytest.mark.parametrize("line", [b"\xff{}", b'{"method":"\xff"}'])
def test_undecodable_lines_are_rejected(line: bytes) -> None:
    ENVOY_JSON.rejected(line)


# --- property tests ------------------------------------------------------------------

VALID = ISTIO + ENVOY_GATEWAY

test_random_bytes_never_raise = ENVOY_JSON.random_bytes_test()
test_mutated_bytes_never_raise = ENVOY_JSON.mutated_lines_test(
    VALID + MALFORMED, b'"-:,{}[]0', examples=300
)
test_mutated_json_values_never_raise = ENVOY_JSON.mutated_json_test(VALID, batch_with=ISTIO[0])
