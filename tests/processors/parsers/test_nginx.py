"""NGINX `combined` parser: real-looking lines from tests/data/nginx."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from parser_samples import Samples

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers import nginx

NGINX = Samples("nginx", nginx.parse, "access.log:7")
ACCESS = NGINX.lines("access.log", keepends=True)
MALFORMED = NGINX.lines("malformed.log", keepends=True)
NON_UTF8 = NGINX.lines("non_utf8.log", keepends=True)


def _at(second: int) -> datetime:
    return datetime(2024, 6, 10, 9, 45, second, tzinfo=UTC)


def test_reference_example_maps_every_field() -> None:
    assert NGINX.event(ACCESS[0]) == AccessEvent(
        event_time=_at(45),  # 11:45:45 +0200
        gateway="nginx",
        method="GET",
        path="/orders/1234",
        query="expand=items",
        status=200,
        request_id="",
        api="",
        route="",
        latency_ms=None,
        upstream_latency_ms=None,
        gateway_latency_ms=None,
        bytes_in=None,
        bytes_out=1530,
        consumer="alice",
        application="",
        credential_hash="",
        client_ip="203.0.113.7",
        user_agent="okhttp/4.12.0",
        source="access.log:7",
    )


def test_dash_values() -> None:
    event = NGINX.event(ACCESS[1])
    assert event.consumer == ANONYMOUS
    assert event.bytes_out is None
    assert event.user_agent == ""
    assert (event.method, event.path, event.status) == ("HEAD", "/health", 204)
    assert event.event_time == _at(46)


def test_utf8_user_agent_is_unescaped_and_query_dropped() -> None:
    event = NGINX.event(ACCESS[2])
    assert event.user_agent == "Mozilla/5.0 (X11; Linux x86_64) Gecko… été"
    assert event.path == "/search"  # percent-encoding untouched
    assert event.query == "q=caf%C3%A9&page=2"  # as logged, not decoded
    assert event.event_time == _at(47)


def test_bare_request_and_upstream_time() -> None:
    event = NGINX.event(ACCESS[3])
    assert event.event_time == _at(48)  # 02:45:48 -0700
    assert (event.method, event.path, event.status) == ("POST", "/v2/payments", 201)
    assert event.query == "idempotency_key=7f3a&dry_run"
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        120.0,
        115.0,
        5.0,
    )
    assert event.consumer == "bob"
    assert event.credential_hash == ""


def test_key_value_extensions() -> None:
    event = NGINX.event(ACCESS[4])
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        41.0,
        38.0,
        3.0,
    )
    assert event.user_agent == "curl/8.5.0"


def test_upstream_list_after_retries_is_summed() -> None:
    event = NGINX.event(ACCESS[5])
    assert event.status == 502
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        45.0,
        30.0,
        15.0,
    )


def test_quoted_upstream_list_with_commas_and_colons() -> None:
    event = NGINX.event(ACCESS[6])
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        250.0,
        230.0,
        20.0,
    )


@pytest.mark.parametrize("index", [7, 9])
def test_unknown_upstream_time(index: int) -> None:
    event = NGINX.event(ACCESS[index])
    assert event.upstream_latency_ms is None
    assert event.gateway_latency_ms is None
    assert event.latency_ms == {7: 3.0, 9: 12.0}[index]


def test_escaped_quote_backslash_and_utf8_user_name() -> None:
    event = NGINX.event(ACCESS[8])
    assert event.path == '/files/a"b\\c.txt'
    assert event.query == "download=1"
    assert event.user_agent == 'Mozilla "quoted" \\back'
    assert event.consumer == "jürgen"


def test_ipv6_client() -> None:
    event = NGINX.event(ACCESS[9])
    assert event.client_ip == "2001:db8::1"
    assert (event.method, event.path, event.status, event.bytes_out) == (
        "DELETE",
        "/v2/orders/1234",
        204,
        0,
    )


def test_every_access_line_parses() -> None:
    assert all(isinstance(NGINX.event(line), AccessEvent) for line in ACCESS)


MALFORMED_REASONS = [
    "request: expected 'METHOD TARGET PROTOCOL', got '-'",
    "request: expected 'METHOD TARGET PROTOCOL', got '\\x16\\x03\\x01",
    "body_bytes_sent: missing or malformed",
    "time_local: expected dd/Mon/yyyy:HH:MM:SS +hhmm, got '10/Jux/2024:11:45:45 +0200'",
    "time_local: day is out of range for month",
    "time_local: missing or malformed",
    "status: expected a status code, got 'abc'",
    "status: 999 not in 100-599",
    "body_bytes_sent: negative (-5)",
    "request_time: expected seconds, got '9b2e4f6a8c0d1e3f5a7b9c1d3e5f7a9b'",
    "rt: expected seconds, got 'abc'",
    "request: invalid method 'GET,POST'",
    "request: invalid protocol 'FOO/1.0'",
    "http_user_agent: missing or malformed",
    "ident '-': missing or malformed",  # a JSON log line
    "upstream_response_time: expected seconds, got '0.038 extra'",
]


@pytest.mark.parametrize(("line", "reason"), list(zip(MALFORMED, MALFORMED_REASONS, strict=True)))
def test_malformed_lines_are_rejected(line: bytes, reason: str) -> None:
    rejected = NGINX.rejected(line)
    assert rejected.reason.startswith(reason), rejected.reason


def test_tls_handshake_garbage() -> None:
    assert NGINX.rejected(MALFORMED[1]).reason.startswith("request: ")


test_empty_line = NGINX.empty_lines_test()


def test_raw_non_utf8_bytes_do_not_raise() -> None:
    event = NGINX.event(NON_UTF8[0])
    assert event.path == "/café/\ufffd\ufffd"
    assert event.user_agent == "raw-bytes-agent \ufffd\ufffd("
    NGINX.rejected(NON_UTF8[1])


def test_escaped_invalid_utf8_becomes_replacement_character() -> None:
    line = (
        b'192.0.2.1 - - [10/Jun/2024:09:45:45 +0000] "GET /x HTTP/1.1" 200 1 "-" '
        b'"agent \\xFF\\xC3 \\xZZ"'
    )
    assert NGINX.event(line).user_agent == "agent \ufffd\ufffd \\xZZ"


def test_time_offsets_convert_to_utc() -> None:
    line = b'192.0.2.1 - - [01/Jan/2024:00:30:00 +0530] "GET /x HTTP/1.1" 200 1 "-" "-"'
    assert NGINX.event(line).event_time == datetime(2023, 12, 31, 19, 0, tzinfo=UTC)


# --- property tests ------------------------------------------------------------------

test_random_bytes_never_raise = NGINX.random_bytes_test(one_result=True)
test_mutated_lines_never_raise = NGINX.mutated_lines_test(
    ACCESS + MALFORMED + NON_UTF8,
    b' "[]-\\x=,:0123456789.\x00\x7f\xff\n',
    one_result=True,
)
