"""Envoy / Istio default text format parser: real-looking lines from tests/data/envoy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from parser_samples import Samples

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers import envoy

ENVOY = Samples("envoy", envoy.parse, "envoy.log:3")
ACCESS = ENVOY.lines("access.log", keepends=True)
ISTIO = ENVOY.lines("istio.log", keepends=True)
MALFORMED = ENVOY.lines("malformed.log", keepends=True)
NON_UTF8 = ENVOY.lines("non_utf8.log", keepends=True)


def test_reference_example_maps_every_field() -> None:
    assert ENVOY.event(ACCESS[0]) == AccessEvent(
        event_time=datetime(2024, 6, 10, 9, 45, 45, 678000, tzinfo=UTC),
        gateway="envoy",
        method="GET",
        path="/orders/1234",
        query="expand=items",  # split off the path, as logged
        status=200,
        request_id="6f1c2b3a-9d8e-4f70-a1b2-c3d4e5f6a7b8",
        api="",
        route="",
        latency_ms=41.0,
        upstream_latency_ms=38.0,
        gateway_latency_ms=3.0,
        bytes_in=0,
        bytes_out=1530,
        consumer=ANONYMOUS,
        application="",
        credential_hash="",
        client_ip="203.0.113.7",
        user_agent="okhttp/4.12.0",
        source="envoy.log:3",
    )


def test_dash_values_are_unknown() -> None:
    event = ENVOY.event(ACCESS[1])  # no route: NR, no upstream service time, no headers
    assert (event.method, event.path, event.status) == ("GET", "/elastic", 404)
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        0.0,
        None,
        None,
    )
    assert (event.request_id, event.user_agent, event.client_ip) == ("", "", "")
    assert (event.bytes_in, event.bytes_out) == (0, 0)


def test_ambassador_access_prefix_is_skipped() -> None:
    event = ENVOY.event(ACCESS[2])
    assert event.event_time == datetime(2024, 6, 10, 9, 45, 47, 250000, tzinfo=UTC)
    assert (event.method, event.path, event.status) == ("POST", "/v2/payments", 201)
    assert (event.bytes_in, event.bytes_out) == (412, 88)
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        120.0,
        115.0,
        5.0,
    )
    assert event.request_id == "b7ba9b4c-f4b7-47c2-9718-c23aa1465f49"


def test_forwarded_for_list_and_unescaped_quotes_in_user_agent() -> None:
    event = ENVOY.event(ACCESS[3])
    assert event.client_ip == "203.0.113.50"  # first X-Forwarded-For entry
    assert event.user_agent == 'Mozilla/5.0 "quoted" (X11; Linux x86_64)'
    assert event.request_id == "1d9e3a2c-77b0-4f4e-9c55-0b2f6a1e8d31"
    assert (event.path, event.query) == ("/search", "q=%22x%22")


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (4, datetime(2024, 6, 10, 9, 45, 49, 500000, tzinfo=UTC)),  # %START_TIME(%s.%1f)%
        (5, datetime(2024, 6, 10, 9, 45, 50, 123000, tzinfo=UTC)),  # +0200 offset
        (6, datetime(2024, 6, 10, 9, 45, 51, 123000, tzinfo=UTC)),  # nanoseconds truncated
    ],
)
def test_start_time_forms(index: int, expected: datetime) -> None:
    assert ENVOY.event(ACCESS[index]).event_time == expected


def test_ipv6_and_ip_port_forwarded_for() -> None:
    assert ENVOY.event(ACCESS[4]).client_ip == "2001:db8::7"
    assert ENVOY.event(ACCESS[5]).client_ip == "203.0.113.7"


def test_retried_upstream_failure() -> None:
    event = ENVOY.event(ACCESS[6])
    assert event.status == 503
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        3012.0,
        None,
        None,
    )
    assert event.bytes_out == 91


def test_upstream_service_time_that_is_not_a_number_is_unknown() -> None:
    event = ENVOY.event(ACCESS[7])  # an upstream sent its own "fast" header
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        9.0,
        None,
        None,
    )
    assert event.status == 200


def test_istio_reference_line_maps_every_field() -> None:
    assert ENVOY.event(ISTIO[0]) == AccessEvent(
        event_time=datetime(2022, 7, 20, 9, 52, 24, 955000, tzinfo=UTC),
        gateway="envoy",
        method="GET",
        path="/details/0",
        status=200,
        request_id="785918d6-06b6-9312-bf77-6d9bd968dc21",
        api="inbound|9080||",
        route="default",
        latency_ms=2.0,
        upstream_latency_ms=1.0,
        gateway_latency_ms=1.0,
        bytes_in=0,
        bytes_out=178,
        consumer=ANONYMOUS,
        client_ip="10.68.1.7",  # %DOWNSTREAM_REMOTE_ADDRESS% without the port
        user_agent=(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/103.0.5060.114 Safari/537.36"
        ),
        source="envoy.log:3",
    )


def test_istio_downstream_address_wins_over_forwarded_for() -> None:
    gateway = ENVOY.event(ISTIO[1])
    assert gateway.client_ip == "10.128.0.161"  # from "10.128.0.161:0"
    assert (gateway.path, gateway.bytes_out, gateway.latency_ms) == ("/productpage", 5294, 35.0)
    assert ENVOY.event(ISTIO[2]).client_ip == "2a02:cf40::4e36"  # "[2a02:cf40::4e36]:5000"


def test_istio_upstream_failure_with_spaces_in_the_quoted_reason() -> None:
    event = ENVOY.event(ISTIO[3])
    assert event.status == 503
    assert event.api == "outbound|9080||reviews.default.svc.cluster.local"
    assert event.route == "reviews-route"
    assert (event.latency_ms, event.upstream_latency_ms) == (30.0, None)
    assert event.client_ip == "10.124.2.6"


def test_istio_without_downstream_address_falls_back_to_forwarded_for() -> None:
    event = ENVOY.event(ISTIO[4])
    assert event.client_ip == "198.51.100.77"
    assert (event.method, event.path, event.status) == ("POST", "/orders", 201)
    assert (event.api, event.route) == ("outbound|8080||orders.prod.svc.cluster.local", "orders")
    assert (event.bytes_in, event.bytes_out) == (230, 96)
    assert event.gateway_latency_ms == 5.0


def test_every_valid_line_parses() -> None:
    events = [ENVOY.event(line) for line in ACCESS + ISTIO]
    assert all(e.consumer == ANONYMOUS and e.credential_hash == "" for e in events)
    assert {e.gateway for e in events} == {"envoy"}


MALFORMED_REASONS = [
    "request: no HTTP method or path (a TCP record, or an undecodable request)",
    "RESPONSE_CODE: 0, no response was sent (the downstream disconnected)",
    "RESPONSE_CODE: 600 not in 100-599",
    "RESPONSE_CODE: expected a status code, got 'abc'",
    "BYTES_SENT: negative (-5)",
    "DURATION: expected milliseconds, got '4x1'",
    "START_TIME: expected an ISO 8601 time, got '10/Jun/2024:09:46:05 +0000'",
    "START_TIME: '1718012765678' is not epoch seconds",
    "START_TIME: day is out of range for month: '2024-02-30T09:46:07.000Z'",
    "X-REQUEST-ID: missing or malformed (line does not match Envoy's default format)",
    "START_TIME: missing or malformed (line does not match Envoy's default format)",  # nginx
    "DOWNSTREAM_REMOTE_ADDRESS: missing or malformed (line does not match Istio's default format)",
    # Istio < 1.9 (%DYNAMIC_METADATA(istio.mixer:status)%)
    "UPSTREAM_TRANSPORT_FAILURE_REASON: missing or malformed (line does not match Istio's",
    "REQ(:METHOD): not logged",
    "REQ(X-ENVOY-ORIGINAL-PATH?:PATH): not logged",
    "REQ(X-ENVOY-ORIGINAL-PATH?:PATH): empty path ('?a=1')",
    "START_TIME: missing or malformed (line does not match Istio's default format)",  # k8s JSON
    "BYTES_SENT: expected a byte count, got '99999999999999999999'",
]


@pytest.mark.parametrize(("line", "reason"), list(zip(MALFORMED, MALFORMED_REASONS, strict=True)))
def test_malformed_lines_are_rejected(line: bytes, reason: str) -> None:
    rejected = ENVOY.rejected(line)
    assert rejected.reason.startswith(reason), rejected.reason


test_empty_line = ENVOY.empty_lines_test()


def test_ambassador_prefix_alone_is_an_empty_line() -> None:
    assert ENVOY.rejected(b"ACCESS ").reason == "empty line"


def test_raw_non_utf8_bytes_become_replacement_characters() -> None:
    event = ENVOY.event(NON_UTF8[0])
    assert event.path == "/café/\ufffd\ufffd"
    assert event.user_agent == "raw-bytes-agent \ufffd\ufffd("


def test_json_line_is_not_the_text_format() -> None:
    line = ENVOY.lines("istio.ndjson")[0]
    assert ENVOY.rejected(line).reason.startswith("START_TIME: missing or malformed")


# --- property tests ------------------------------------------------------------------

test_random_bytes_never_raise = ENVOY.random_bytes_test(one_result=True)
test_mutated_lines_never_raise = ENVOY.mutated_lines_test(
    ACCESS + ISTIO + MALFORMED + NON_UTF8,
    b' "[]-:.,+Z0123456789\x00\x7f\xff\n',
    one_result=True,
)
