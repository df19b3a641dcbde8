"""Envoy / Istio default text format parser: real-looking lines from tests/data/envoy."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from json_values import check_results
from mutations import mutate

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers import envoy
from processors.parsers.base import CredentialHasher, ParseContext, Rejected

DATA = Path(__file__).parents[2] / "data" / "envoy"
CTX = ParseContext(source="envoy.log:3", hash_credential=CredentialHasher(b"test-secret"))
ACCESS = (DATA / "access.log").read_bytes().splitlines(keepends=True)
ISTIO = (DATA / "istio.log").read_bytes().splitlines(keepends=True)
MALFORMED = (DATA / "malformed.log").read_bytes().splitlines(keepends=True)
NON_UTF8 = (DATA / "non_utf8.log").read_bytes().splitlines(keepends=True)


def _event(line: bytes) -> AccessEvent:
    results = envoy.parse(line, CTX)
    assert len(results) == 1
    event = results[0]
    assert isinstance(event, AccessEvent), event
    return event


def test_reference_example_maps_every_field() -> None:
    assert _event(ACCESS[0]) == AccessEvent(
        event_time=datetime(2024, 6, 10, 9, 45, 45, 678000, tzinfo=UTC),
        gateway="envoy",
        method="GET",
        path="/orders/1234",  # query string dropped
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
    event = _event(ACCESS[1])  # no route: NR, no upstream service time, no headers
    assert (event.method, event.path, event.status) == ("GET", "/elastic", 404)
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        0.0,
        None,
        None,
    )
    assert (event.request_id, event.user_agent, event.client_ip) == ("", "", "")
    assert (event.bytes_in, event.bytes_out) == (0, 0)


def test_ambassador_access_prefix_is_skipped() -> None:
    event = _event(ACCESS[2])
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
    event = _event(ACCESS[3])
    assert event.client_ip == "203.0.113.50"  # first X-Forwarded-For entry
    assert event.user_agent == 'Mozilla/5.0 "quoted" (X11; Linux x86_64)'
    assert event.request_id == "1d9e3a2c-77b0-4f4e-9c55-0b2f6a1e8d31"
    assert event.path == "/search"


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (4, datetime(2024, 6, 10, 9, 45, 49, 500000, tzinfo=UTC)),  # %START_TIME(%s.%1f)%
        (5, datetime(2024, 6, 10, 9, 45, 50, 123000, tzinfo=UTC)),  # +0200 offset
        (6, datetime(2024, 6, 10, 9, 45, 51, 123000, tzinfo=UTC)),  # nanoseconds truncated
    ],
)
def test_start_time_forms(index: int, expected: datetime) -> None:
    assert _event(ACCESS[index]).event_time == expected


def test_ipv6_and_ip_port_forwarded_for() -> None:
    assert _event(ACCESS[4]).client_ip == "2001:db8::7"
    assert _event(ACCESS[5]).client_ip == "203.0.113.7"


def test_retried_upstream_failure() -> None:
    event = _event(ACCESS[6])
    assert event.status == 503
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        3012.0,
        None,
        None,
    )
    assert event.bytes_out == 91


def test_upstream_service_time_that_is_not_a_number_is_unknown() -> None:
    event = _event(ACCESS[7])  # an upstream sent its own "fast" header
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        9.0,
        None,
        None,
    )
    assert event.status == 200


def test_istio_reference_line_maps_every_field() -> None:
    assert _event(ISTIO[0]) == AccessEvent(
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
    gateway = _event(ISTIO[1])
    assert gateway.client_ip == "10.128.0.161"  # from "10.128.0.161:0"
    assert (gateway.path, gateway.bytes_out, gateway.latency_ms) == ("/productpage", 5294, 35.0)
    assert _event(ISTIO[2]).client_ip == "2a02:cf40::4e36"  # "[2a02:cf40::4e36]:5000"


def test_istio_upstream_failure_with_spaces_in_the_quoted_reason() -> None:
    event = _event(ISTIO[3])
    assert event.status == 503
    assert event.api == "outbound|9080||reviews.default.svc.cluster.local"
    assert event.route == "reviews-route"
    assert (event.latency_ms, event.upstream_latency_ms) == (30.0, None)
    assert event.client_ip == "10.124.2.6"


def test_istio_without_downstream_address_falls_back_to_forwarded_for() -> None:
    event = _event(ISTIO[4])
    assert event.client_ip == "198.51.100.77"
    assert (event.method, event.path, event.status) == ("POST", "/orders", 201)
    assert (event.api, event.route) == ("outbound|8080||orders.prod.svc.cluster.local", "orders")
    assert (event.bytes_in, event.bytes_out) == (230, 96)
    assert event.gateway_latency_ms == 5.0


def test_every_valid_line_parses() -> None:
    events = [_event(line) for line in ACCESS + ISTIO]
    assert all(e.consumer == ANONYMOUS and e.credential_hash == "" for e in events)
    assert {e.gateway for e in events} == {"envoy"}


MALFORMED_REASONS = [
    "request: no HTTP method or path (a TCP record, or an undecodable request)",
    "RESPONSE_CODE: 0, no response was sent (the downstream disconnected)",
    "RESPONSE_CODE: 600 not in 100-599",
    "RESPONSE_CODE: expected a status code, got 'abc'",
    "BYTES_SENT: expected a byte count, got '-5'",
    "DURATION: expected milliseconds, got '4x1'",
    "START_TIME: expected an RFC 3339 time with offset, got '10/Jun/2024:09:46:05 +0000'",
    "START_TIME: 1718012765678.0 is not epoch seconds",
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
    results = envoy.parse(line, CTX)
    assert len(results) == 1
    rejected = results[0]
    assert isinstance(rejected, Rejected)
    assert rejected.reason.startswith(reason), rejected.reason
    assert rejected.record == line


@pytest.mark.parametrize("line", [b"", b"\n", b"ACCESS ", b"   \r\n"])
def test_empty_line(line: bytes) -> None:
    assert envoy.parse(line, CTX) == [Rejected("empty line", line)]


def test_raw_non_utf8_bytes_become_replacement_characters() -> None:
    event = _event(NON_UTF8[0])
    assert event.path == "/café/\ufffd\ufffd"
    assert event.user_agent == "raw-bytes-agent \ufffd\ufffd("


def test_json_line_is_not_the_text_format() -> None:
    line = (DATA / "istio.ndjson").read_bytes().splitlines()[0]
    (rejected,) = envoy.parse(line, CTX)
    assert isinstance(rejected, Rejected)
    assert rejected.reason.startswith("START_TIME: missing or malformed")


# --- property tests ------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(line: bytes) -> None:
    check_results(envoy.parse(line, CTX))


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(ACCESS + ISTIO + MALFORMED + NON_UTF8), st.data())
def test_mutated_lines_never_raise(line: bytes, data: st.DataObject) -> None:
    interesting = st.sampled_from([*b' "[]-:.,+Z0123456789', 0, 0x7F, 0xFF, 0x0A])
    mutated = mutate(line, data, st.integers(0, 255) | interesting)
    check_results(envoy.parse(mutated, CTX))
