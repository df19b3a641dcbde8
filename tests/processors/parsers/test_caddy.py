"""Caddy JSON access-log parser: real-looking entries from tests/data/caddy."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
from parser_samples import HASH, Samples

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers import caddy
from processors.parsers.base import Rejected

CADDY = Samples("caddy", caddy.parse, "caddy.log:4")
ACCESS = CADDY.lines("access.ndjson")
MALFORMED = CADDY.lines("malformed.ndjson")
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhY21lIn0.c2lnbmF0dXJl"


def test_reference_example_maps_every_field() -> None:
    assert CADDY.event(ACCESS[0]) == AccessEvent(
        event_time=datetime(2024, 6, 10, 9, 45, 45, 678000, tzinfo=UTC),  # ts .6789012: cut to ms
        gateway="caddy",
        method="GET",
        path="/orders/1234",
        query="expand=items",
        status=200,
        request_id="",
        api="",
        route="",
        latency_ms=41.235,  # duration 0.041234567 s
        upstream_latency_ms=None,
        gateway_latency_ms=None,
        bytes_in=0,
        bytes_out=1530,
        consumer="alice",
        application="",
        credential_hash="",  # Authorization is "REDACTED"
        client_ip="203.0.113.7",  # client_ip, not the proxy's remote_ip
        user_agent="okhttp/4.12.0",
        source="caddy.log:4",
    )


def test_empty_user_id_is_anonymous() -> None:
    event = CADDY.event(ACCESS[1])
    assert event.consumer == ANONYMOUS
    assert (event.status, event.bytes_out, event.latency_ms) == (404, 99, 1.544)
    assert event.event_time == datetime(2026, 8, 6, 22, 14, 46, 193000, tzinfo=UTC)  # .193625


def test_logged_credential_is_hashed_and_request_id_header_used() -> None:
    event = CADDY.event(ACCESS[2])
    assert event.credential_hash == HASH(BEARER)
    assert event.consumer == ANONYMOUS  # a credential sent is not an authenticated user
    assert event.request_id == "0b9b1d5e-8a54-4c38-a2f4-71f2d1b3a6e1"
    assert event.user_agent == "acme-billing/2.4"  # the first of repeated values
    assert (event.bytes_in, event.bytes_out, event.latency_ms) == (412, 88, 120.5)
    assert BEARER.split(".")[1].encode() not in msgspec.json.encode(event)


def test_rfc3339_ts_and_go_duration_string() -> None:
    event = CADDY.event(ACCESS[3])
    assert event.event_time == datetime(2024, 6, 10, 9, 45, 47, 123000, tzinfo=UTC)
    assert event.latency_ms == 62500.0  # "1m2.5s"
    assert event.consumer == "bob"


def test_old_caddy_remote_addr() -> None:
    event = CADDY.event(ACCESS[4])
    assert event.client_ip == "2001:db8::9"
    assert (event.method, event.status, event.bytes_in, event.bytes_out) == ("DELETE", 204, None, 0)
    assert event.latency_ms == 12.0


def test_filter_encoder_strings_integer_ts_and_zero_duration() -> None:
    event = CADDY.event(ACCESS[5])
    assert event.user_agent == "acme-trader/5.0"
    assert event.credential_hash == ""  # "REDACTED" as a plain string
    assert event.event_time == datetime(2024, 6, 10, 9, 45, 49, tzinfo=UTC)
    assert event.latency_ms == 0.0
    assert event.path == "/v1/quotes"


def test_error_level_entry_is_still_an_access_entry() -> None:
    event = CADDY.event(ACCESS[6])
    assert (event.status, event.latency_ms, event.user_agent) == (502, 3012.0, "")


def test_unicode_and_microsecond_duration() -> None:
    event = CADDY.event(ACCESS[7])
    assert event.user_agent == 'Mozilla/5.0 (é中😀) "quoted" back\\slash'
    assert event.consumer == "jürgen"
    assert event.path == "/caf%C3%A9/men%C3%BC"  # percent-encoding kept as sent
    assert event.latency_ms == 0.85  # "850µs"


def test_array_with_one_bad_entry_keeps_the_others() -> None:
    first, bad, third = CADDY.results(CADDY.read("batch_one_bad.json"))
    assert isinstance(first, AccessEvent)
    assert (first.source, first.consumer, first.latency_ms) == ("caddy.log:4#0", "alice", 41.0)
    assert isinstance(bad, Rejected)
    assert bad.reason == "status: expected int, got str"
    assert msgspec.json.decode(bad.record)["request"]["uri"] == "/orders/1235"
    assert isinstance(third, AccessEvent)
    assert (third.source, third.method, third.client_ip) == (
        "caddy.log:4#2",
        "DELETE",
        "203.0.113.8",
    )


MALFORMED_REASONS = [
    "status: 0, Caddy wrote no response (the client may have gone away)",
    "status: 600 not in 100-599",
    "status: expected int, got str",
    "ts: 1718012763000 is not epoch seconds",  # time_format unix_milli
    "ts: expected an ISO 8601 time, got 'yesterday'",
    "ts: missing required field",
    "duration: expected a duration like '41.2ms', got 'fast'",
    "size: negative (-5)",
    "bytes_read: expected int | null, got str",
    "request: missing required field",
    "logger: 'http.log.error.log0' is not an access logger (http.log.access…)",
    "logger: 'http.handlers.reverse_proxy' is not an access logger (http.log.access…)",
    "request.uri: empty",
    "request.method: empty",
    "request.headers.User-Agent: expected str | array | null, got int",
    "invalid JSON: JSON is malformed: trailing characters (byte 5)",  # console encoder
    "invalid JSON: Input data was truncated",
    "expected a JSON object or array, got str",
    "empty JSON array",
]


@pytest.mark.parametrize(("line", "reason"), list(zip(MALFORMED, MALFORMED_REASONS, strict=True)))
def test_malformed_entries_are_rejected(line: bytes, reason: str) -> None:
    assert CADDY.results(line) == [Rejected(reason, line)]


test_empty_line = CADDY.empty_lines_test()


@pytest.mark.parametrize("line", [b"\xff{}", b'{"ts":"\xff"}'])
def test_undecodable_lines_are_rejected(line: bytes) -> None:
    CADDY.rejected(line)


# --- property tests ------------------------------------------------------------------

test_random_bytes_never_raise = CADDY.random_bytes_test()
test_mutated_bytes_never_raise = CADDY.mutated_lines_test(
    ACCESS + MALFORMED, b'"-:,.{}[]0e', examples=300
)
test_mutated_json_values_never_raise = CADDY.mutated_json_test(ACCESS, batch_with=ACCESS[0])
