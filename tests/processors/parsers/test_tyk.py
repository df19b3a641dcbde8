"""Tyk pump records and gateway access logs: real-looking lines from tests/data/tyk."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
from parser_samples import HASH, Samples

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers import logrus_text, tyk
from processors.parsers.base import Rejected

SOURCE = "tyk-analytics/2@977"
TYK = Samples("tyk", tyk.parse, SOURCE)


@pytest.fixture
def june_2025(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tyk, "_utc_now", lambda: datetime(2025, 6, 10, 12, 0, tzinfo=UTC))


# --- tyk-pump Kafka messages ---------------------------------------------------------


def test_kafka_reference_message_maps_every_field() -> None:
    (line,) = TYK.lines("kafka_reference.json")
    assert TYK.event(line) == AccessEvent(
        event_time=datetime(2024, 6, 10, 9, 45, 45, 678000, tzinfo=UTC),  # ns cut to ms
        request_id="",  # Tyk logs none
        gateway="tyk",
        api="Orders API",
        route="",
        method="GET",
        path="/orders/1234",
        status=200,
        latency_ms=41.0,
        upstream_latency_ms=None,  # not in the Kafka pump message
        gateway_latency_ms=None,
        bytes_in=0,  # content_length: request body
        bytes_out=None,  # Tyk logs no response size
        consumer="mobile-app",  # alias
        application="",
        credential_hash=HASH("5f3a1c2e9b7d4e10"),  # Tyk's hashed key, hashed again
        client_ip="203.0.113.7",
        user_agent="okhttp/4.12.0",
        source=SOURCE,
    )


def test_keyless_message_with_zone_offset_and_tracked_path() -> None:
    event = TYK.event(TYK.lines("kafka_messages.ndjson")[0])
    assert event.event_time == datetime(2024, 6, 10, 9, 45, 46, 500000, tzinfo=UTC)  # +02:00
    assert (event.consumer, event.credential_hash) == (ANONYMOUS, "")  # api_key 00000000
    assert event.path == "/weather/paris"  # raw_path, not the normalised `path`
    assert event.route == ""  # the Kafka message says nothing of track_path
    assert event.bytes_in is None  # content_length -1
    assert (event.api, event.latency_ms) == ("Public Weather", 7.0)


def test_key_without_alias_identifies_by_its_hash() -> None:
    event = TYK.event(TYK.lines("kafka_messages.ndjson")[1])
    assert event.credential_hash == HASH("e5b2a9c41f3d7e60")
    assert event.consumer == "unknown:b9e3004420da"  # the hash's first 12 hex
    assert event.application == "acme-mobile-client"  # oauth_id
    assert event.api == "9a8b7c6d5e4f3a2b"  # api_name is "": api_id
    assert (event.method, event.status, event.bytes_in) == ("POST", 201, 982)
    assert event.client_ip == "2001:db8::15"
    assert event.event_time == datetime(2024, 6, 10, 9, 45, 47, tzinfo=UTC)


def test_clear_key_is_hashed_and_never_copied() -> None:
    line = TYK.lines("kafka_messages.ndjson")[2]
    event = TYK.event(line)
    assert (event.consumer, event.status) == ("acme-billing", 429)
    assert event.credential_hash == HASH("a1b2c3d4e5f6clearkey42")
    assert event.event_time == datetime(2024, 6, 10, 9, 45, 48, 123000, tzinfo=UTC)  # -04:00
    assert b"clearkey42" in line  # in the api_key and the key-… tag
    assert b"clearkey42" not in msgspec.json.encode(event)


def test_obfuscated_keys() -> None:
    obfuscated, short = (TYK.event(line) for line in TYK.lines("kafka_messages.ndjson")[3:5])
    assert obfuscated.credential_hash == HASH("****9f3e")
    assert obfuscated.consumer == "unknown:cc699158cb85"
    assert obfuscated.event_time == datetime(2024, 6, 10, 9, 45, 49, 999000, tzinfo=UTC)
    assert (short.consumer, short.credential_hash) == (ANONYMOUS, "")  # "--": short key hidden
    assert short.user_agent == 'Mozilla/5.0 (é中😀) "quoted"\ttab'
    assert short.status == 403


# --- stdout pump (full AnalyticsRecord) ----------------------------------------------


def test_stdout_record_maps_every_field() -> None:
    assert TYK.event(TYK.lines("stdout_pump.ndjson")[0]) == AccessEvent(
        event_time=datetime(2024, 6, 10, 9, 45, 45, 678000, tzinfo=UTC),  # record, not logrus
        request_id="",
        gateway="tyk",
        api="Orders API",
        route="/orders/{id}",  # track_path: `path` is the tracked endpoint
        method="GET",
        path="/api/v1/orders/1234",  # original_path, before listen-path stripping
        status=200,
        latency_ms=41.0,
        upstream_latency_ms=38.0,
        gateway_latency_ms=3.0,
        bytes_in=0,
        bytes_out=None,  # network.bytes_out is 0 on the HTTP path: not used
        consumer="mobile-app",
        application="",
        credential_hash=HASH("5f3a1c2e9b7d4e10"),
        client_ip="203.0.113.7",
        user_agent="okhttp/4.12.0",
        source=SOURCE,
    )


def test_gateway_latency_is_derived_when_not_logged() -> None:
    event = TYK.event(TYK.lines("stdout_pump.ndjson")[1])
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        250.0,
        230.0,
        20.0,
    )
    assert event.event_time == datetime(2024, 6, 10, 9, 45, 51, 250000, tzinfo=UTC)  # +05:30
    assert (event.route, event.path, event.bytes_in) == ("", "/reports/daily", None)
    assert (event.api, event.consumer) == ("Reports", "reporting-job")


def test_request_answered_by_the_gateway_keeps_upstream_zero() -> None:
    event = TYK.event(TYK.lines("stdout_pump.ndjson")[2])
    assert (event.status, event.consumer, event.credential_hash) == (401, ANONYMOUS, "")
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        2.0,
        0.0,
        2.0,
    )


# --- gateway access log --------------------------------------------------------------


def test_json_access_log_maps_every_field() -> None:
    assert TYK.event(TYK.lines("access_log.ndjson")[0]) == AccessEvent(
        event_time=datetime(2024, 6, 10, 9, 45, 45, tzinfo=UTC),  # 11:45:45+02:00
        request_id="",
        gateway="tyk",
        api="httpbin",
        route="",
        method="GET",
        path="/httpbin/orders/1234",  # original_path
        status=200,
        latency_ms=41.0,
        upstream_latency_ms=38.0,
        gateway_latency_ms=3.0,
        bytes_in=None,
        bytes_out=None,
        consumer="unknown:afe986d5a6fc",
        application="",
        credential_hash=HASH("6129dc1e8b64c6b4"),
        client_ip="203.0.113.7",
        user_agent="okhttp/4.12.0",
        source=SOURCE,
    )


def test_json_access_log_upstream_error() -> None:
    event = TYK.event(TYK.lines("access_log.ndjson")[1])
    assert (event.status, event.path, event.api) == (503, "/health", "my-api")
    assert (event.consumer, event.credential_hash) == (ANONYMOUS, "")
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        120.0,
        118.0,
        2.0,
    )
    assert event.event_time == datetime(2025, 2, 10, 14, 32, 45, tzinfo=UTC)


@pytest.mark.usefixtures("june_2025")
def test_text_access_log_without_year_maps_every_field() -> None:
    assert TYK.event(TYK.lines("access_log.txt")[0]) == AccessEvent(
        event_time=datetime(2025, 1, 29, 8, 27, 9, tzinfo=UTC),  # "Jan 29 08:27:09"
        request_id="",
        gateway="tyk",
        api="httpbin",
        route="",
        method="GET",
        path="/get",
        status=200,
        latency_ms=62.0,
        upstream_latency_ms=61.0,
        gateway_latency_ms=1.0,  # total - upstream
        bytes_in=None,
        bytes_out=None,
        consumer=ANONYMOUS,  # api_key=00000000: keyless API
        application="",
        credential_hash="",
        client_ip="::1",
        user_agent="PostmanRuntime/7.43.0",
        source=SOURCE,
    )


@pytest.mark.parametrize(
    ("now", "stamp", "expected"),
    [
        (
            datetime(2026, 1, 1, 0, 10, tzinfo=UTC),
            "Dec 31 23:59:59",
            datetime(2025, 12, 31, 23, 59, 59),
        ),
        (
            datetime(2025, 12, 31, 23, 50, tzinfo=UTC),
            "Jan 01 00:00:05",
            datetime(2026, 1, 1, 0, 0, 5),
        ),
        (datetime(2025, 3, 1, 8, 0, tzinfo=UTC), "Feb 29 23:00:00", datetime(2024, 2, 29, 23, 0)),
        (
            datetime(2025, 6, 10, 12, 0, tzinfo=UTC),
            "Jun 11 11:59:59",
            datetime(2025, 6, 11, 11, 59, 59),
        ),
        (
            datetime(2025, 6, 10, 12, 0, tzinfo=UTC),
            "Jun 11 12:00:01",
            datetime(2024, 6, 11, 12, 0, 1),
        ),
    ],
)
def test_year_of_a_yearless_time(
    monkeypatch: pytest.MonkeyPatch, now: datetime, stamp: str, expected: datetime
) -> None:
    monkeypatch.setattr(tyk, "_utc_now", lambda: now)
    line = f'time="{stamp}" level=info method=GET path=/x prefix=access-log status=200'
    assert TYK.event(line.encode()).event_time == expected.replace(tzinfo=UTC)


def test_text_access_log_with_rfc3339_time_and_hashed_key() -> None:
    event = TYK.event(TYK.lines("access_log.txt")[1])
    assert event.event_time == datetime(2025, 1, 29, 8, 27, 9, tzinfo=UTC)
    assert event.path == "/httpbin/get"  # original_path
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        62.0,
        61.0,
        1.0,  # latency_gateway as logged
    )
    assert event.credential_hash == HASH("6129dc1e8b64c6b4")
    assert event.consumer == "unknown:afe986d5a6fc"
    assert event.client_ip == "203.0.113.7"


def test_text_access_log_error_entry_without_latencies() -> None:
    event = TYK.event(TYK.lines("access_log.txt")[2])
    assert (event.method, event.path, event.status) == ("POST", "/orders", 429)
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        None,
        None,
        None,
    )
    assert event.credential_hash == HASH("****9f3e")  # quoted: `*` needs quoting
    assert event.user_agent == ""


def test_text_access_log_go_quoting() -> None:
    event = TYK.event(TYK.lines("access_log.txt")[3])
    assert event.user_agent == (
        'Mozilla/5.0 (X11; Linux x86_64) "quoted" café\ttab \\back \ufffd\u200b end'
    )
    assert event.path == "/caf%C3%A9/men%C3%BC/été"
    assert event.api == "Menü API"
    assert event.event_time == datetime(2025, 1, 29, 8, 27, 9, tzinfo=UTC)  # 10:27:09+02:00
    assert event.client_ip == "2001:db8::7"
    assert (event.status, event.latency_ms, event.gateway_latency_ms) == (204, 13.0, 1.0)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'a=1 b= c="" d="x y"', {"a": "1", "b": "", "c": "", "d": "x y"}),
        (b'k="\\a\\b\\f\\n\\r\\t\\v\\\\\\"\\q"', {"k": '\a\b\f\n\r\t\v\\"q'}),
        (b'k="\\u00e9\\U0001F600\\U00110000\\xc3\\xa9"', {"k": "é😀\ufffdé"}),
        (b"k=1  k=2\r\n", {"k": "2"}),
        (b"k=caf\xc3\xa9 v=\xff", {"k": "café", "v": "\ufffd"}),
    ],
)
def test_logrus_text_fields(line: bytes, expected: dict[str, str]) -> None:
    assert logrus_text.fields(line) == expected


@pytest.mark.parametrize("line", [b"k", b'k="open', b"=v", b'k=a"b', b"k=1 junk"])
def test_logrus_text_rejects_what_is_not_key_value(line: bytes) -> None:
    with pytest.raises(logrus_text.NotLogrusText):
        logrus_text.fields(line)


# --- rejections ----------------------------------------------------------------------

MALFORMED_REASONS = [
    "response_code: expected int, got str",
    "response_code: 0 not in 100-599",
    "timestamp: no UTC offset in '2024-06-10 09:45:45'",
    "timestamp: '0001-01-01T00:00:00Z' is before 1973 or after 2286",  # Go zero time
    "timestamp: day is out of range for month: '2024-02-30T00:00:00Z'",
    "timestamp: missing required field",
    "content_length: negative (-5)",
    "method: empty",
    "path: empty",
    "request_time_ms: expected float | null, got str",
    "syslog pump output (Go map text) is not supported",
    "expected a JSON object, got array",
    "expected a JSON object, got int",
    "tyk-analytics-record: expected object, got str",
    "tyk-analytics-record.response_code: expected int, got str",
    "not an access-log entry nor a tyk-analytics-record (prefix 'main')",  # JSON app log
    "not an access-log entry nor a tyk-analytics-record (prefix 'main')",  # text app log
    "status: expected int, got str",
    "status: missing required field",
    "text log line: expected key=value at byte 34: 'this is not logfmt'",
    "time: 'Feb 30 10:00:00' is not a date of the past year",
    "time: expected an ISO 8601 time, got 'yesterday'",
    "latency_total: expected float | null, got str",  # JSON: numbers must be numbers
    "latency_total: expected float | null, got str",
    "invalid JSON: Input data was truncated",
    "not an access-log entry nor a tyk-analytics-record (prefix 'stdout-pump')",  # text pump
    "status: 600 not in 100-599",
    "not an access-log entry nor a tyk-analytics-record (prefix None)",  # other field name
    "path: empty",
    "time: expected str, got int",
    "text log line: expected key=value at byte 89: 'client_ip=\"unterminated latency_total=62'",
]


@pytest.mark.parametrize(
    ("line", "reason"), list(zip(TYK.lines("malformed.log"), MALFORMED_REASONS, strict=True))
)
def test_malformed_lines_are_rejected(line: bytes, reason: str) -> None:
    assert TYK.results(line) == [Rejected(reason, line)]


test_empty_line = TYK.empty_lines_test()


@pytest.mark.parametrize(
    "line", [b"\xff\xfe{}", b'{"method":"\xff"}', b'{"a":"\\ud800"}', b"time=\xff"]
)
def test_undecodable_lines_are_rejected(line: bytes) -> None:
    TYK.rejected(line)


# --- property tests ------------------------------------------------------------------

VALID_LINES = TYK.valid_lines("malformed.log")

test_random_bytes_never_raise = TYK.random_bytes_test(one_result=True)
test_mutated_bytes_never_raise = TYK.mutated_lines_test(
    VALID_LINES + TYK.lines("malformed.log"),
    b'[]{}",:=\\ 0-.xu\x00\x7f\xff\n',
    one_result=True,
)
test_mutated_json_values_never_raise = TYK.mutated_json_test(
    [line for line in VALID_LINES if line.startswith(b"{")],
    results_owed=lambda _: 1,
)
