"""Caddy JSON access-log parser: real-looking entries from tests/data/caddy."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json_values import JSON_VALUES, check_results, paths, replace
from mutations import mutate

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers import caddy
from processors.parsers.base import CredentialHasher, ParseContext, Rejected

DATA = Path(__file__).parents[2] / "data" / "caddy"
HASH = CredentialHasher(b"test-secret")
CTX = ParseContext(source="caddy.log:4", hash_credential=HASH)
ACCESS = (DATA / "access.ndjson").read_bytes().splitlines()
MALFORMED = (DATA / "malformed.ndjson").read_bytes().splitlines()
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhY21lIn0.c2lnbmF0dXJl"


def _event(line: bytes) -> AccessEvent:
    results = caddy.parse(line, CTX)
    assert len(results) == 1
    event = results[0]
    assert isinstance(event, AccessEvent), event
    return event


def test_reference_example_maps_every_field() -> None:
    assert _event(ACCESS[0]) == AccessEvent(
        event_time=datetime(2024, 6, 10, 9, 45, 45, 679000, tzinfo=UTC),  # ts rounded to ms
        gateway="caddy",
        method="GET",
        path="/orders/1234",
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
    event = _event(ACCESS[1])
    assert event.consumer == ANONYMOUS
    assert (event.status, event.bytes_out, event.latency_ms) == (404, 99, 1.544)
    assert event.event_time == datetime(2026, 8, 6, 22, 14, 46, 194000, tzinfo=UTC)


def test_logged_credential_is_hashed_and_request_id_header_used() -> None:
    event = _event(ACCESS[2])
    assert event.credential_hash == HASH(BEARER)
    assert event.consumer == ANONYMOUS  # a credential sent is not an authenticated user
    assert event.request_id == "0b9b1d5e-8a54-4c38-a2f4-71f2d1b3a6e1"
    assert event.user_agent == "acme-billing/2.4"  # the first of repeated values
    assert (event.bytes_in, event.bytes_out, event.latency_ms) == (412, 88, 120.5)
    assert BEARER.split(".")[1].encode() not in msgspec.json.encode(event)


def test_rfc3339_ts_and_go_duration_string() -> None:
    event = _event(ACCESS[3])
    assert event.event_time == datetime(2024, 6, 10, 9, 45, 47, 123000, tzinfo=UTC)
    assert event.latency_ms == 62500.0  # "1m2.5s"
    assert event.consumer == "bob"


def test_old_caddy_remote_addr() -> None:
    event = _event(ACCESS[4])
    assert event.client_ip == "2001:db8::9"
    assert (event.method, event.status, event.bytes_in, event.bytes_out) == ("DELETE", 204, None, 0)
    assert event.latency_ms == 12.0


def test_filter_encoder_strings_integer_ts_and_zero_duration() -> None:
    event = _event(ACCESS[5])
    assert event.user_agent == "acme-trader/5.0"
    assert event.credential_hash == ""  # "REDACTED" as a plain string
    assert event.event_time == datetime(2024, 6, 10, 9, 45, 49, tzinfo=UTC)
    assert event.latency_ms == 0.0
    assert event.path == "/v1/quotes"


def test_error_level_entry_is_still_an_access_entry() -> None:
    event = _event(ACCESS[6])
    assert (event.status, event.latency_ms, event.user_agent) == (502, 3012.0, "")


def test_unicode_and_microsecond_duration() -> None:
    event = _event(ACCESS[7])
    assert event.user_agent == 'Mozilla/5.0 (é中😀) "quoted" back\\slash'
    assert event.consumer == "jürgen"
    assert event.path == "/caf%C3%A9/men%C3%BC"  # percent-encoding kept as sent
    assert event.latency_ms == 0.85  # "850µs"


def test_array_with_one_bad_entry_keeps_the_others() -> None:
    first, bad, third = caddy.parse((DATA / "batch_one_bad.json").read_bytes(), CTX)
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
    "ts: expected an RFC 3339 time with offset, got 'yesterday'",
    "ts: missing required field",
    "duration: expected a Go duration such as '41.2ms', got 'fast'",
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
    assert caddy.parse(line, CTX) == [Rejected(reason, line)]


@pytest.mark.parametrize("line", [b"", b"  \n", b"\xff{}", b'{"ts":"\xff"}'])
def test_empty_and_undecodable_lines_are_rejected(line: bytes) -> None:
    (rejected,) = caddy.parse(line, CTX)
    assert isinstance(rejected, Rejected)
    assert rejected.record == line


# --- property tests ------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(line: bytes) -> None:
    check_results(caddy.parse(line, CTX))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ACCESS + MALFORMED), st.data())
def test_mutated_bytes_never_raise(line: bytes, data: st.DataObject) -> None:
    mutated = mutate(line, data, st.integers(0, 255) | st.sampled_from(list(b'"-:,.{}[]0e')))
    check_results(caddy.parse(mutated, CTX))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(ACCESS), st.data(), JSON_VALUES)
def test_mutated_json_values_never_raise(line: bytes, data: st.DataObject, new: Any) -> None:
    raw = msgspec.json.decode(line)
    mutated = replace(raw, data.draw(st.sampled_from(paths(raw))), new)
    batch = msgspec.json.encode([mutated, msgspec.json.decode(ACCESS[0])])
    results = caddy.parse(batch, CTX)
    check_results(results)
    assert len(results) == 2  # one result per array element
    assert isinstance(results[1], AccessEvent)  # the good entry survives its bad neighbour
