"""NGINX JSON `log_format` parser: real-looking lines from tests/data/nginx_json."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from parser_samples import HASH, Samples

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers import nginx_json

NGINX_JSON = Samples("nginx_json", nginx_json.parse, "access.json.log:3")
ACCESS = NGINX_JSON.lines("access.ndjson")
NON_UTF8 = NGINX_JSON.lines("non_utf8.ndjson")
MALFORMED = NGINX_JSON.lines("malformed.ndjson")


def _at(second: int, ms: int = 0) -> datetime:
    return datetime(2024, 6, 10, 9, 45, second, ms * 1000, tzinfo=UTC)


def _line(**fields: Any) -> bytes:
    base = {"time_iso8601": "2024-06-10T09:45:45+00:00", "request_method": "GET"}
    return msgspec.json.encode({**base, "request_uri": "/x", "status": "200", **fields})


def test_reference_example_maps_every_field() -> None:
    assert NGINX_JSON.event(ACCESS[0]) == AccessEvent(
        event_time=_at(45, 637),  # msec 09:45:45.678 is the end; request_time 0.041 before
        gateway="nginx",
        method="GET",
        path="/orders/1234",
        query="expand=items",
        status=200,
        request_id="9b2e4f6a8c0d1e3f5a7b9c1d3e5f7a9b",
        api="",
        route="",
        latency_ms=41.0,
        upstream_latency_ms=38.0,
        gateway_latency_ms=3.0,
        bytes_in=412,
        bytes_out=1893,
        consumer=ANONYMOUS,  # remote_user ""
        application="",
        credential_hash="",
        client_ip="203.0.113.7",
        user_agent="okhttp/4.12.0",
        source="access.json.log:3",
    )


def test_variable_named_keys_request_line_and_retries() -> None:
    event = NGINX_JSON.event(ACCESS[1])
    assert event.event_time == _at(49, 955)  # time_local 11:45:50 +0200, minus 45 ms
    assert (event.method, event.path, event.status) == ("GET", "/v2/inventory/sku-42", 502)
    assert event.query == "warehouse=3"  # from the $request line
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        45.0,
        30.0,  # "0.010, 0.020": two upstreams tried
        15.0,
    )
    assert (event.bytes_in, event.bytes_out) == (389, 157)  # only body_bytes_sent logged
    assert event.consumer == "alice"
    assert event.user_agent == "acme-sdk-go/1.4.2"
    assert event.request_id == "0c6e4a2f8b1d3e5f7a9c0b2d4e6f8a1c"


def test_dash_upstream_time_is_unknown_and_bytes_sent_wins() -> None:
    event = NGINX_JSON.event(ACCESS[2])
    assert event.event_time == _at(51)  # 02:45:51-07:00, request_time 0.000
    assert (event.method, event.path, event.status) == ("HEAD", "/health", 204)
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        0.0,
        None,
        None,
    )
    assert event.bytes_out == 143  # bytes_sent (headers + body), not body_bytes_sent 0
    assert event.bytes_in == 78
    assert event.consumer == ANONYMOUS


def test_unquoted_numbers_and_upstream_list_across_redirects() -> None:
    event = NGINX_JSON.event(ACCESS[3])
    assert event.event_time == _at(52)  # msec 1718012752.25 (a JSON number) minus 250 ms
    assert event.status == 200
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        250.0,
        230.0,  # "0.100, 0.050 : 0.080"
        20.0,
    )
    assert (event.bytes_in, event.bytes_out) == (512, 9120)
    assert event.path == "/v2/legacy/report"
    assert event.request_id == ""


def test_json_escapes_and_raw_utf8() -> None:
    event = NGINX_JSON.event(ACCESS[4])
    assert event.path == '/files/a"b\\c.txt'
    assert event.user_agent == 'Mozilla "quoted" \\back\x01 é中😀'
    assert event.consumer == "jürgen"
    assert event.upstream_latency_ms is None  # "" under escape=json: no upstream
    assert event.event_time == _at(52, 998)


def test_api_key_is_hashed_and_names_the_consumer() -> None:
    event = NGINX_JSON.event(ACCESS[5])
    expected = HASH("sk_live_9f8e7d6c5b4a3210")
    assert event.credential_hash == expected
    assert event.consumer == "unknown:b185830295b8"  # remote_user is "-"
    assert b"sk_live_9f8e7d6c5b4a3210" not in msgspec.json.encode(event)
    assert event.event_time == _at(54, 108)  # @timestamp 09:45:54.120Z minus 12 ms
    assert (event.method, event.status, event.bytes_out) == ("DELETE", 204, 0)
    assert event.client_ip == "2001:db8::1"
    assert event.user_agent == ""  # "-"


def test_uri_key_and_epoch_seconds_in_time_key() -> None:
    event = NGINX_JSON.event(ACCESS[6])
    assert (event.method, event.path, event.status) == ("POST", "/v2/payments", 201)
    assert event.event_time == _at(54, 880)  # time "1718012755" minus 120 ms
    assert event.user_agent == "python-requests/2.32.3"
    assert (event.bytes_in, event.bytes_out) == (1024, 87)


def test_upstream_list_with_a_dash_entry() -> None:
    event = NGINX_JSON.event(ACCESS[7])
    assert event.status == 499
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        1503.0,
        1500.0,  # "1.500, -": the second upstream was never tried
        3.0,
    )
    assert (event.method, event.path) == ("POST", "/v2/upload")
    assert event.event_time == _at(54, 497)


def test_invalid_utf8_bytes_become_replacement_characters() -> None:
    event = NGINX_JSON.event(NON_UTF8[0])
    assert event.path == "/caf\ufffd/men\ufffd"
    assert event.user_agent == "raw-bytes-agent \ufffd\ufffd"
    assert event.status == 404


def test_without_request_time_the_logged_time_is_kept() -> None:
    event = NGINX_JSON.event(_line(msec="1718012745.678"))
    assert event.event_time == _at(45, 678)
    assert event.latency_ms is None


def test_negative_json_latency_is_unknown() -> None:
    event = NGINX_JSON.event(_line(request_time=-1, upstream_response_time=-0.5))
    assert (event.latency_ms, event.upstream_latency_ms) == (None, None)
    assert event.event_time == _at(45)


def test_msec_wins_over_second_resolution_times() -> None:
    line = _line(time_local="10/Jun/2024:09:45:40 +0000", msec="1718012745.5", request_time="0")
    assert NGINX_JSON.event(line).event_time == _at(45, 500)


def test_request_method_and_uri_win_over_the_request_line() -> None:
    event = NGINX_JSON.event(_line(request="POST /other HTTP/1.1", request_uri="/v1/a?b=c"))
    assert (event.method, event.path) == ("GET", "/v1/a")


def test_every_access_line_parses() -> None:
    assert all(isinstance(NGINX_JSON.event(line), AccessEvent) for line in ACCESS + NON_UTF8)


MALFORMED_REASONS = [
    "status: expected a status code, got 'abc'",
    "status: 999 not in 100-599",
    "status: missing required field",
    "status: expected int | float | str | null, got object",
    "bytes_sent: negative (-5)",
    "body_bytes_sent: expected a byte count, got '12.5'",
    "request_length: expected int | float | str | null, got bool",
    "request_time: expected seconds, got 'abc'",
    "upstream_response_time: expected seconds, got '0.038 extra'",
    "time: missing required field (none of msec, time_iso8601, time_local, timestamp, time,"
    " ts, @timestamp)",
    "time_iso8601: no UTC offset in '2024-06-10T09:46:00'",
    "time_local: expected dd/Mon/yyyy:HH:MM:SS +hhmm, got '10/Jux/2024:11:45:45 +0200'",
    "time_local: day is out of range for month: '31/Jun/2024:11:45:45 +0200'",
    "msec: '17180127' is not epoch seconds or milliseconds",
    "msec: expected epoch seconds or milliseconds, got 'abc'",
    "time_iso8601: '0001-01-01T00:00:00+00:00' is before 1973 or after 2286",
    "request: expected 'METHOD TARGET PROTOCOL', got '\\x16\\x03\\x01",
    "request: missing required field (and no request_method + request_uri)",
    "request: invalid method 'GET,POST'",
    "request: invalid protocol 'FOO/1.0'",
    "invalid JSON: JSON is malformed: invalid escape character in string",  # escape=default
    "invalid JSON: JSON is malformed: invalid character",  # unquoted "-"
    "invalid JSON: Input data was truncated",
    "expected object, got array",
    "remote_user: expected str | null, got int",
    "invalid JSON: JSON is malformed: trailing characters",  # a `combined` line
    "request_uri: empty path ('?a=1')",
    "expected object, got null",
    "time_iso8601: '2024-06-10T09:46:00+00:00' minus request_time is out of range",
]


@pytest.mark.parametrize(("line", "reason"), list(zip(MALFORMED, MALFORMED_REASONS, strict=True)))
def test_malformed_lines_are_rejected(line: bytes, reason: str) -> None:
    rejected = NGINX_JSON.rejected(line)
    assert rejected.reason.startswith(reason), rejected.reason


test_empty_line = NGINX_JSON.empty_lines_test()


# --- property tests ------------------------------------------------------------------

VALID = ACCESS + NON_UTF8

test_random_bytes_never_raise = NGINX_JSON.random_bytes_test(one_result=True)
test_mutated_lines_never_raise = NGINX_JSON.mutated_lines_test(
    VALID + MALFORMED,
    b'{}[]",:-./\\0123456789 eE\x00\x80\xff',
    one_result=True,
)
test_mutated_json_values_never_raise = NGINX_JSON.mutated_json_test(
    ACCESS, results_owed=lambda _: 1
)
