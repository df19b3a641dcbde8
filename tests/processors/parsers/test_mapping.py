"""Declarative mapping parser: the example mappings in tests/data/mapping, and bad ones.

haproxy_2.6_real.log was written by HAProxy 2.6.12 (Debian bookworm) itself, `option
httplog`, logging to stdout with `format raw`, `short` and `rfc3164`, behind frontends
with h2c, captures, `accept-invalid-http-request`, `logasap` and an IPv6 bind.
"""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parser_properties import JSON_VALUES, check_results, mutate, paths, records_in, replace
from parser_samples import DATA, HASH, only_event, only_rejection

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers.base import ParseContext, Parser, Rejected
from processors.parsers.mapping import MappingError, load_mapping, validate_mapping

MAPPING_DATA = DATA / "mapping"
DOCS = Path(__file__).parents[3] / "docs" / "mapping.md"
CTX = ParseContext(source="gw.log:7", hash_credential=HASH)
MAPPINGS = sorted(p.name for p in MAPPING_DATA.glob("*.yaml"))


def _parser(name: str) -> Parser:
    return load_mapping(MAPPING_DATA / name)


def _lines(name: str) -> list[bytes]:
    return (MAPPING_DATA / name).read_bytes().splitlines()


def _event(parser: Parser, line: bytes) -> AccessEvent:
    return only_event(parser(line, CTX))


def _reasons(parser: Parser, lines: list[bytes]) -> list[str]:
    return [only_rejection(parser(line, CTX), line).reason for line in lines]


def _write(directory: Path, text: str) -> Path:
    path = directory / "mapping.yaml"
    path.write_text(text)
    return path


JSON_BASE = """\
name: custom
input: json
fields:
  event_time: {source: ts, format: epoch_ms}
  method: m
  path: p
  status: s
"""
JSON_RECORD = {"ts": 1718012745678, "m": "GET", "p": "/x", "s": 200}


def _json_event(tmp_path: Path, extra_fields: str, **record: Any) -> AccessEvent:
    """The event of one record (JSON_RECORD updated) under JSON_BASE plus `extra_fields`."""
    parser = load_mapping(_write(tmp_path, JSON_BASE + extra_fields))
    return _event(parser, msgspec.json.encode({**JSON_RECORD, **record}))


# --- HAProxy (regex) -----------------------------------------------------------------

HAPROXY = _lines("haproxy.log")


def test_haproxy_reference_line_maps_every_field() -> None:
    assert _event(_parser("haproxy.yaml"), HAPROXY[0]) == AccessEvent(
        event_time=datetime(2024, 6, 10, 9, 45, 45, 678000, tzinfo=UTC),
        gateway="haproxy",
        method="GET",
        path="/orders/1234",
        status=200,
        request_id="",
        api="be_orders",
        route="",
        latency_ms=41.0,
        upstream_latency_ms=38.0,
        gateway_latency_ms=3.0,  # Ta - Tr
        bytes_in=None,
        bytes_out=1893,
        consumer=ANONYMOUS,
        application="",
        credential_hash="",
        client_ip="203.0.113.7",
        user_agent="",
        source="gw.log:7",
    )


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (1, ("POST", "/payments", 201, "be_payments", 116.0, 112.0, 4.0, 412, 46, 1000)),
        (2, ("GET", "/payments/77", 200, "be_payments", 10.0, 9.0, 1.0, 230, 46, 500000)),
        (3, ("GET", "/payments/78", 200, "be_payments", 7.0, 7.0, 0.0, 230, 46, 900000)),
    ],
)
def test_haproxy_syslog_headers(index: int, expected: tuple[Any, ...]) -> None:
    """rfc3164 with and without host name, and `short` (<PRI> only)."""
    event = _event(_parser("haproxy.yaml"), HAPROXY[index])
    assert (
        event.method,
        event.path,
        event.status,
        event.api,
        event.latency_ms,
        event.upstream_latency_ms,
        event.gateway_latency_ms,
        event.bytes_out,
        event.event_time.second,
        event.event_time.microsecond,
    ) == expected
    assert event.client_ip == "198.51.100.23"


def test_haproxy_no_server_timers_are_unknown() -> None:
    event = _event(_parser("haproxy.yaml"), HAPROXY[4])  # 0/-1/-1/-1/0 503 <NOSRV>
    assert (event.status, event.api, event.bytes_out) == (503, "be_orders", 217)
    assert event.latency_ms == 0.0
    assert event.upstream_latency_ms is None
    assert event.gateway_latency_ms is None


def test_haproxy_http2_absolute_form_keeps_only_the_path() -> None:
    event = _event(_parser("haproxy.yaml"), HAPROXY[5])
    assert (event.method, event.path) == ("GET", "/orders/1234")


def test_haproxy_captured_headers_are_skipped() -> None:
    event = _event(_parser("haproxy.yaml"), HAPROXY[6])
    assert (event.path, event.api, event.user_agent) == ("/catalog", "be_catalog", "")


def test_haproxy_hash_escapes_are_decoded() -> None:
    event = _event(_parser("haproxy.yaml"), HAPROXY[7])
    assert event.path == '/files/café/a"b#c.txt'


def test_haproxy_ipv6_client_and_queue_time() -> None:
    event = _event(_parser("haproxy.yaml"), HAPROXY[8])
    assert event.client_ip == "2001:db8::7"
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        60.0,
        40.0,
        20.0,
    )
    assert (event.method, event.status) == ("DELETE", 200)


def test_haproxy_logasap_plus_prefixes() -> None:
    event = _event(_parser("haproxy.yaml"), HAPROXY[9])
    assert (event.latency_ms, event.bytes_out) == (2.0, 165)


def test_haproxy_local_time_zone(tmp_path: Path) -> None:
    text = (
        (MAPPING_DATA / "haproxy.yaml")
        .read_text()
        .replace("timezone: UTC", "timezone: Asia/Kolkata")
    )
    event = _event(load_mapping(_write(tmp_path, text)), HAPROXY[0])
    assert event.event_time == datetime(2024, 6, 10, 4, 15, 45, 678000, tzinfo=UTC)


def test_haproxy_every_line_parses() -> None:
    parser = _parser("haproxy.yaml")
    assert [_event(parser, line).source for line in HAPROXY] == ["gw.log:7"] * len(HAPROXY)


HAPROXY_REASONS = [
    "request: expected 'METHOD TARGET PROTOCOL', got '<BADREQ>'",
    "status: -1 not in 100-599",
    "line does not match the mapping's pattern",  # option tcplog
    "line does not match the mapping's pattern",  # a startup message
    "accept_date: does not match '%d/%b/%Y:%H:%M:%S.%f': '10/Jux/2024:09:45:45.678'",
    "accept_date: day is out of range for month: '31/Jun/2024:09:45:45.678'",
    "Ta: expected milliseconds, got '4x1'",
    "status: missing",
    "bytes_read: negative (-5)",
    "request: invalid protocol 'FOO/1.0'",
    "request: invalid method 'G(T'",
    "request: expected 'METHOD TARGET PROTOCOL', got 'GET  HTTP/1.1'",
    "line does not match the mapping's pattern",  # rfc5424 header
    "accept_date: '01/Jan/1970:00:00:00.000' is before 1973 or after 2286",
    "line does not match the mapping's pattern",  # trailing text
]


def test_haproxy_malformed_lines() -> None:
    parser = _parser("haproxy.yaml")
    assert _reasons(parser, _lines("haproxy_malformed.log")) == HAPROXY_REASONS


def test_real_haproxy_2_6_output() -> None:
    parser = _parser("haproxy.yaml")
    results = [parser(line, CTX)[0] for line in _lines("haproxy_2.6_real.log")]
    rejected = [i for i, r in enumerate(results) if isinstance(r, Rejected)]
    assert rejected == [9]  # the <BADREQ> line
    events: list[AccessEvent] = [r for r in results if isinstance(r, AccessEvent)]
    assert [(e.method, e.path, e.status) for e in events] == [
        ("GET", "/", 200),
        ("GET", "/missing%22x", 404),
        ("POST", "/payments", 501),
        ("GET", "/empty/x", 503),
        ("GET", "/h2path", 404),
        ("GET", "/short", 404),
        ("GET", "/short", 404),
        ("GET", "/short", 404),
        ("GET", "/capture", 404),
        ("GET", '/café/a"b#c{d}|e', 404),
        ("GET", "/v6", 404),
        ("GET", "/asap", 404),
        ("GET", "/slow", 200),
    ]
    assert events[0].event_time == datetime(2026, 11, 24, 10, 57, 40, 535000, tzinfo=UTC)
    assert events[10].client_ip == "::1"
    assert (events[10].latency_ms, events[10].upstream_latency_ms) == (4.0, 3.0)
    assert (events[11].latency_ms, events[11].bytes_out) == (2.0, 165)
    assert (events[3].upstream_latency_ms, events[3].api) == (None, "be_empty")


# --- KrakenD (JSON, Go durations, local time) ------------------------------------------

KRAKEND = _lines("krakend.ndjson")


def test_krakend_reference_record_maps_every_field() -> None:
    assert _event(_parser("krakend.yaml"), KRAKEND[0]) == AccessEvent(
        event_time=datetime(2024, 6, 10, 9, 45, 45, 678000, tzinfo=UTC),  # 11:45 CEST
        gateway="krakend",
        method="GET",
        path="/orders/1234",
        status=200,
        api="storefront",  # a constant
        latency_ms=41.235,  # "41.234567ms"
        consumer=ANONYMOUS,
        client_ip="203.0.113.7",
        source="gw.log:7",
    )


@pytest.mark.parametrize(
    ("index", "latency"), [(1, 1502.0), (2, 0.85), (3, 123500.0), (4, 0.0), (5, 12.5)]
)
def test_krakend_go_durations(index: int, latency: float) -> None:
    assert _event(_parser("krakend.yaml"), KRAKEND[index]).latency_ms == latency


@pytest.mark.parametrize(
    ("index", "utc"),
    [
        (2, datetime(2024, 1, 15, 9, 0, tzinfo=UTC)),  # CET, +01:00
        (5, datetime(2024, 10, 27, 0, 30, tzinfo=UTC)),  # 02:30 happens twice: the first
    ],
)
def test_krakend_local_times(index: int, utc: datetime) -> None:
    assert _event(_parser("krakend.yaml"), KRAKEND[index]).event_time == utc


def test_krakend_string_status_empty_ip_and_forwarded_list() -> None:
    parser = _parser("krakend.yaml")
    assert _event(parser, KRAKEND[3]).status == 200  # "200"
    assert _event(parser, KRAKEND[4]).client_ip == ""
    assert _event(parser, KRAKEND[5]).client_ip == "203.0.113.7"  # "203.0.113.7, 10.0.0.2"


KRAKEND_REASONS = [
    "latency: expected a duration like '41.2ms', got '41ms12'",
    "latency: expected a duration like '41.2ms', got 41",
    "status_code: expected a status code, got 'abc'",
    "time: missing",
    "time: does not match '%Y/%m/%d - %H:%M:%S.%f': '2024-06-10T09:45:45Z'",
    "path: missing",
    "method: invalid method 'GET /x'",
    "status_code: expected a status code, got 200.5",
    "invalid JSON: JSON is malformed: invalid character (byte 1)",
    "empty JSON array",
    "expected a JSON object or array, got str",
    "time: expected a time string, got object",
    "status_code: expected a status code, got bool",
    "status_code: 99 not in 100-599",
    "client_ip: expected str, got object",
    "invalid JSON: Input data was truncated",
]


def test_krakend_malformed_records() -> None:
    parser = _parser("krakend.yaml")
    assert _reasons(parser, _lines("krakend_malformed.ndjson")) == KRAKEND_REASONS


def test_krakend_gin_text_format() -> None:
    parser = _parser("krakend_gin.yaml")
    events = [_event(parser, line) for line in _lines("krakend_gin.log")]
    assert events[0] == AccessEvent(
        event_time=datetime(2024, 6, 10, 9, 45, 45, tzinfo=UTC),
        gateway="krakend",
        method="GET",
        path="/orders/1234",
        status=200,
        latency_ms=41.235,
        client_ip="203.0.113.7",
        source="gw.log:7",
    )
    assert [e.latency_ms for e in events] == [41.235, 1502.113, 0.85, 123000.0]
    assert [e.method for e in events] == ["GET", "POST", "GET", "DELETE"]
    assert events[3].client_ip == ""


# --- AWS API Gateway (JSON, quoted values, credential) -----------------------------------

AWS = _lines("aws_apigateway.ndjson")


def test_aws_reference_record_maps_every_field() -> None:
    credential_hash = HASH("9x8y7z6w5v")
    assert _event(_parser("aws_apigateway.yaml"), AWS[0]) == AccessEvent(
        event_time=datetime(2024, 6, 10, 9, 45, 45, 678000, tzinfo=UTC),
        gateway="aws-apigateway",
        method="GET",
        path="/prod/orders/1234",
        status=200,
        request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        api="a1b2c3d4e5",
        route="/orders/{orderId}",
        latency_ms=41.0,
        upstream_latency_ms=38.0,
        gateway_latency_ms=3.0,
        bytes_in=None,
        bytes_out=1530,
        consumer="unknown:d707c2c09383",  # principalId, user and caller are "-"
        application="",
        credential_hash=credential_hash,
        client_ip="203.0.113.7",
        user_agent="okhttp/4.12.0",
        source="gw.log:7",
    )


def test_aws_consumer_fallbacks() -> None:
    parser = _parser("aws_apigateway.yaml")
    authorized = _event(parser, AWS[1])
    assert authorized.consumer == "user-42"
    assert authorized.credential_hash == HASH("k7m3n9p2q4")
    iam = _event(parser, AWS[3])
    assert (iam.consumer, iam.credential_hash) == ("AROAEXAMPLEID:ci-bot", "")
    assert (iam.status, iam.bytes_out) == (204, 0)


def test_aws_dash_values_are_unknown() -> None:
    event = _event(_parser("aws_apigateway.yaml"), AWS[2])
    assert (event.consumer, event.credential_hash) == (ANONYMOUS, "")
    assert (event.upstream_latency_ms, event.gateway_latency_ms) == (None, None)
    assert event.latency_ms == 3.0
    assert (event.bytes_out, event.route, event.user_agent) == (None, "", "")
    assert event.status == 403


def test_aws_credential_never_in_clear() -> None:
    parser = _parser("aws_apigateway.yaml")
    for line in AWS:
        secret = msgspec.json.decode(line)["apiKeyId"]
        encoded = msgspec.json.encode(_event(parser, line))
        assert secret == "-" or secret.encode() not in encoded


AWS_REASONS = [
    "status: missing",
    "requestTimeEpoch: '1718012745' is not epoch milliseconds",
    "responseLatency: expected milliseconds, got 'abc'",
    "responseLength: negative (-12)",
    "httpMethod: missing",
    "path: empty path ('?debug=1')",
]


def test_aws_malformed_records() -> None:
    parser = _parser("aws_apigateway.yaml")
    assert _reasons(parser, _lines("aws_apigateway_malformed.ndjson")) == AWS_REASONS


# --- Azure APIM (JSON envelope) ------------------------------------------------------


def test_azure_envelope_keeps_good_records_and_rejects_bad_ones_alone() -> None:
    (line,) = _lines("azure_apim.json")
    first, cached, broken, number = _parser("azure_apim.yaml")(line, CTX)
    assert first == AccessEvent(
        event_time=datetime(2024, 6, 10, 9, 45, 45, 678000, tzinfo=UTC),  # .6781234Z
        gateway="azure-apim",
        method="GET",
        path="/orders/1234",  # from https://apim-prod.azure-api.net/orders/1234?expand=items
        status=200,
        request_id="3f06647e-1c2b-4d3e-9f8a-530eb9f15261",
        api="orders-api",
        route="get-order",
        latency_ms=41.0,
        upstream_latency_ms=38.0,
        gateway_latency_ms=3.0,
        bytes_in=412,
        bytes_out=1893,
        consumer="alice",
        application="mobile-app-sub",
        client_ip="203.0.113.7",
        source="gw.log:7#0",
    )
    assert isinstance(cached, AccessEvent)
    assert (cached.consumer, cached.application) == ("partner-sub", "partner-sub")  # no userId
    assert (cached.upstream_latency_ms, cached.gateway_latency_ms) == (None, None)  # cache hit
    assert (cached.path, cached.source) == ("/catalog/items", "gw.log:7#1")
    assert cached.event_time == datetime(2024, 6, 10, 9, 45, 46, 1000, tzinfo=UTC)

    assert isinstance(broken, Rejected)
    assert broken.reason == "properties.method: expected object at 'properties', got str"
    assert msgspec.json.decode(broken.record)["correlationId"] == (
        "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
    )
    assert number == Rejected("record: expected object, got int", b"42")


AZURE_REASONS = [
    "expected a JSON object with 'records', got array",
    "records: empty array",
    "records: expected array, got object",
    "records: missing",
    "invalid JSON: Input data was truncated",
]


def test_azure_malformed_envelopes() -> None:
    parser = _parser("azure_apim.yaml")
    assert _reasons(parser, _lines("azure_apim_malformed.ndjson")) == AZURE_REASONS


# --- Caddy (JSON, float seconds, header arrays, arrays of records) -----------------------

CADDY = _lines("caddy.ndjson")


def test_caddy_reference_record_maps_every_field() -> None:
    assert _event(_parser("caddy.yaml"), CADDY[0]) == AccessEvent(
        event_time=datetime(2024, 6, 10, 9, 45, 45, 678000, tzinfo=UTC),  # ts 1718012745.6789012
        gateway="caddy",
        method="GET",
        path="/orders/1234",
        status=200,
        request_id="6f1c2b3a-9d8e-4f70-a1b2-c3d4e5f6a7b8",  # first of resp_headers.X-Request-Id
        latency_ms=41.235,  # 0.041234567 s
        bytes_in=0,
        bytes_out=1530,
        consumer="alice",
        client_ip="203.0.113.7",
        user_agent="okhttp/4.12.0",
        source="gw.log:7",
    )


def test_caddy_empty_user_and_missing_headers() -> None:
    event = _event(_parser("caddy.yaml"), CADDY[1])
    assert (event.consumer, event.user_agent, event.request_id) == (ANONYMOUS, "", "")
    assert (event.latency_ms, event.bytes_in, event.bytes_out) == (0.5, 87, 0)
    assert event.event_time == datetime(2024, 6, 10, 9, 45, 46, 500000, tzinfo=UTC)


def test_caddy_client_ip_fallback_and_list_index() -> None:
    event = _event(_parser("caddy.yaml"), CADDY[2])
    assert event.client_ip == "10.0.0.12"  # no request.client_ip: request.remote_ip
    assert event.user_agent == "curl/8.5.0"  # request.headers.User-Agent.0
    assert (event.latency_ms, event.status, event.consumer) == (1250.0, 502, "bob")


def test_caddy_array_of_records() -> None:
    (line,) = _lines("caddy_batch.json")
    first, text, bad, last = _parser("caddy.yaml")(line, CTX)
    assert isinstance(first, AccessEvent) and isinstance(last, AccessEvent)
    assert (first.source, first.path) == ("gw.log:7#0", "/orders/1234")
    assert (last.source, last.method, last.status) == ("gw.log:7#3", "POST", 204)
    assert text == Rejected("record: expected object, got str", b'"not a record"')
    assert isinstance(bad, Rejected)
    assert bad.reason == "status: expected a status code, got 'abc'"
    assert msgspec.json.decode(bad.record)["status"] == "abc"


CADDY_REASONS = [
    "status: 0 not in 100-599",
    "request.headers.User-Agent.0: expected object or array at 'request.headers.User-Agent', "
    "got str",
    "ts: expected epoch seconds, got 'abc'",
    "ts: 1718012745678 is not epoch seconds",
    "request.method: expected object at 'request', got str",
    "size: expected a byte count, got 1.5",
    "duration: expected seconds, got 'fast'",
]


def test_caddy_malformed_records() -> None:
    parser = _parser("caddy.yaml")
    assert _reasons(parser, _lines("caddy_malformed.ndjson")) == CADDY_REASONS


# --- features, one at a time -------------------------------------------------------------


@pytest.mark.parametrize(("line"), [b"", b"\n", b"  \r\n"])
@pytest.mark.parametrize("name", MAPPINGS)
def test_empty_lines(name: str, line: bytes) -> None:
    assert _parser(name)(line, CTX) == [Rejected("empty line", line)]


@pytest.mark.parametrize(
    ("unit", "value", "expected"),
    [
        ("ms", 41, 41.0),
        ("ms", "41.5", 41.5),
        ("s", 0.041, 41.0),
        ("s", "0.010, 0.020 : 0.005", 35.0),  # nginx upstream list: summed
        ("s", "-, 0.020", 20.0),
        ("s", "-, -", None),
        ("ms", [10, "-", None, 20.5], 30.5),
        ("us", 850, 0.85),
        ("ns", 41234567, 41.235),
        ("ms", -1, None),  # Kong / HAProxy: not measured
        ("ms", "1e999", None),
        ("duration", "1h", 3600000.0),
        ("duration", "-1.5s", None),
    ],
)
def test_latency_units(tmp_path: Path, unit: str, value: Any, expected: float | None) -> None:
    event = _json_event(tmp_path, f"  latency_ms: {{source: l, unit: {unit}}}\n", l=value)
    assert event.latency_ms == expected


AT = datetime(2024, 6, 10, 9, 45, 45, tzinfo=UTC)
AT_MS = AT.replace(microsecond=678000)


@pytest.mark.parametrize(
    ("fmt", "value", "expected"),
    [
        ("epoch_s", "1718012745.678", AT_MS),
        ("epoch_s", 1718012745, AT),
        ("epoch_ms", 1718012745678.9, AT_MS),
        ("epoch_us", 1718012745678901, AT_MS),
        ("epoch_ns", "1718012745678901234", AT_MS),
        ("iso8601", "2024-06-10T11:45:45.678901+02:00", AT_MS),
        ("iso8601", "2024-06-10T09:45:45.678901234Z", AT_MS),
        ("iso8601", "2024-06-10 09:45:45", AT),
        ("'strptime:%d/%b/%Y:%H:%M:%S %z'", "10/Jun/2024:11:45:45 +0200", AT),
    ],
)
def test_time_formats(tmp_path: Path, fmt: str, value: Any, expected: datetime) -> None:
    text = JSON_BASE.replace("format: epoch_ms", f"format: {fmt}")
    parser = load_mapping(_write(tmp_path, text))
    assert _event(parser, msgspec.json.encode({**JSON_RECORD, "ts": value})).event_time == expected


def test_naive_iso_time_in_a_zone(tmp_path: Path) -> None:
    text = JSON_BASE.replace("format: epoch_ms", "format: iso8601, timezone: America/New_York")
    parser = load_mapping(_write(tmp_path, text))
    naive, aware = (
        _event(parser, msgspec.json.encode({**JSON_RECORD, "ts": ts}))
        for ts in ("2024-06-10T05:45:45", "2024-06-10T05:45:45Z")
    )
    assert naive.event_time == datetime(2024, 6, 10, 9, 45, 45, tzinfo=UTC)  # EDT
    assert aware.event_time == datetime(2024, 6, 10, 5, 45, 45, tzinfo=UTC)  # has its zone


def test_per_field_null_values(tmp_path: Path) -> None:
    extra = "  bytes_in: {source: b, null_values: [-1]}\n  api: {source: a, null_values: [none]}\n"
    event = _json_event(tmp_path, extra, b=-1, a="none")
    assert (event.bytes_in, event.api) == (None, "")
    assert _json_event(tmp_path, extra, b=-1.0, a="-").api == "-"  # "-" is a name here


def test_top_level_null_values(tmp_path: Path) -> None:
    text = JSON_BASE.replace("fields:", "null_values: [n/a]\nfields:") + "  route: r\n"
    parser = load_mapping(_write(tmp_path, text))
    for raw, route in (("n/a", ""), ("-", "-")):
        assert _event(parser, msgspec.json.encode({**JSON_RECORD, "r": raw})).route == route


def test_request_line_field_in_json(tmp_path: Path) -> None:
    text = JSON_BASE.replace(
        "  method: m\n  path: p\n", "  request: {source: r, unescape: nginx}\n"
    )
    parser = load_mapping(_write(tmp_path, text))
    line = msgspec.json.encode({**JSON_RECORD, "r": "PUT /caf\\xC3\\xA9?a=1 HTTP/1.1"})
    assert (_event(parser, line).method, _event(parser, line).path) == ("PUT", "/café")
    for target, path in (("https://h.example", "/"), ("*", "*"), ("/x", "/x")):
        line = msgspec.json.encode({**JSON_RECORD, "r": f"OPTIONS {target}"})  # HTTP/0.9 form
        assert _event(parser, line).path == path


def test_explicit_gateway_latency_is_not_derived(tmp_path: Path) -> None:
    latencies = (
        "  latency_ms: {source: t, unit: ms}\n  upstream_latency_ms: {source: u, unit: ms}\n"
    )
    derived = _json_event(tmp_path, latencies, t=10, u=12)
    assert derived.gateway_latency_ms == 0.0  # clamped
    explicit = _json_event(
        tmp_path, latencies + "  gateway_latency_ms: {source: g, unit: ms}\n", t=10, u=8
    )
    assert explicit.gateway_latency_ms is None  # g not logged


def test_constants_and_numbers_as_text(tmp_path: Path) -> None:
    extra = (
        "  consumer: c\n  credential: k\n  application: {value: 7}\n  bytes_out: {value: '12'}\n"
    )
    event = _json_event(tmp_path, extra, c=42, k=1234)
    assert (event.consumer, event.application, event.bytes_out) == ("42", "7", 12)
    assert event.credential_hash == HASH("1234")


def test_constant_for_a_required_field(tmp_path: Path) -> None:
    parser = load_mapping(_write(tmp_path, JSON_BASE.replace("method: m", "method: {value: GET}")))
    assert _event(parser, msgspec.json.encode({**JSON_RECORD, "m": "POST"})).method == "GET"


def test_missing_required_field_names_all_its_sources(tmp_path: Path) -> None:
    parser = load_mapping(_write(tmp_path, JSON_BASE.replace("status: s", "status: [s, code]")))
    line = msgspec.json.encode({**JSON_RECORD, "s": None})
    assert parser(line, CTX) == [Rejected("s, code: missing", line)]
    assert (
        _event(parser, msgspec.json.encode({**JSON_RECORD, "s": None, "code": 204})).status == 204
    )


def test_list_index_past_the_end_is_unknown(tmp_path: Path) -> None:
    event = _json_event(tmp_path, "  user_agent: [h.ua.1, h.ua.0]\n", h={"ua": ["only"]})
    assert event.user_agent == "only"


def test_deep_json_is_rejected_not_raised(tmp_path: Path) -> None:
    parser = load_mapping(_write(tmp_path, JSON_BASE))
    line = b"[" * 100_000
    (rejected,) = parser(line, CTX)
    assert isinstance(rejected, Rejected)
    assert rejected.reason.startswith("invalid JSON: ")


# --- loading, caching, docs ---------------------------------------------------------------


@pytest.mark.parametrize("name", MAPPINGS)
def test_example_mappings_are_valid(name: str) -> None:
    assert validate_mapping(MAPPING_DATA / name) is None


def test_parser_is_cached_until_the_file_changes(tmp_path: Path) -> None:
    path = _write(tmp_path, JSON_BASE)
    first = load_mapping(path)
    assert load_mapping(path) is first
    path.write_text(JSON_BASE.replace("name: custom", "name: second"))  # same size
    second = load_mapping(path)
    assert second is not first
    assert _event(second, msgspec.json.encode(JSON_RECORD)).gateway == "second"


def _doc_yaml_blocks() -> list[Any]:
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), re.S)]


def test_docs_examples_are_the_tested_mappings() -> None:
    blocks = _doc_yaml_blocks()
    for name in ("azure_apim.yaml", "haproxy.yaml"):
        assert yaml.safe_load((MAPPING_DATA / name).read_text()) in blocks
    assert HAPROXY[0].decode() in DOCS.read_text()


def test_docs_json_example_gives_the_event_it_describes() -> None:
    (block,) = re.findall(r"```json\n(.*?)```", DOCS.read_text(), re.S)
    line = msgspec.json.encode(msgspec.json.decode(block))  # one line, as shipped
    (event,) = _parser("azure_apim.yaml")(line, CTX)
    assert isinstance(event, AccessEvent)
    assert (event.event_time, event.method, event.path, event.status) == (
        AT_MS,
        "GET",
        "/orders/1234",
        200,
    )
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        41.0,
        38.0,
        3.0,
    )
    assert (event.bytes_in, event.bytes_out, event.api, event.route) == (
        412,
        1893,
        "orders-api",
        "get-order",
    )
    assert (event.consumer, event.application, event.client_ip, event.gateway) == (
        "alice",
        "mobile-app-sub",
        "203.0.113.7",
        "azure-apim",
    )


# --- configuration errors -------------------------------------------------------------------

HEAD = "name: x\ninput: json\nfields:\n  event_time: t\n  method: m\n  path: p\n"
REGEX = "name: x\ninput: regex\npattern: '(?P<a>.*)'\nfields:\n  event_time: a\n  request: a\n"

CONFIG_ERRORS = [
    (
        HEAD + "  status: s\n  latency_ms: {source: l, unit: sec}\n",
        "fields.latency_ms.unit: expected one of ms, s, us, ns, duration",
    ),
    (HEAD + "  status: s\n  latency_ms: l\n", "fields.latency_ms.unit: required"),
    (
        HEAD + "  status: s\n  latency: l\n",
        "fields.latency: unknown key; expected one of event_time, request, method, path, "
        "status, latency_ms, upstream_latency_ms, gateway_latency_ms, bytes_in, bytes_out, "
        "request_id, api, route, client_ip, user_agent, consumer, application, credential",
    ),
    (HEAD, "fields.status: required"),
    (
        "name: X Y\ninput: xml\nfields: 3\n",
        "name: expected lower-case letters, digits, '-' or '_' (e.g. haproxy); "
        "input: expected one of json, regex; fields: expected a mapping",
    ),
    ("input: json\n", "name: required; fields: required"),
    ("- a\n", "expected a mapping with name, input and fields, got list"),
    ("", "expected a mapping with name, input and fields, got null"),
    (
        "name: x\nfields:\n  event_time: [\n",
        "invalid YAML: line 4, column 1: expected the node content, but found '<stream end>'",
    ),
    (
        REGEX.replace("(?P<a>.*)", "(?P<a") + "  status: a\n",
        "pattern: invalid regex: missing >, unterminated name at position 4",
    ),
    (
        REGEX + "  status: b\n  method: a\n",
        "fields.request: give either request, or method and path; "
        "fields.status.source: no group 'b' in pattern",
    ),
    (
        "name: x\ninput: json\nfields:\n  event_time: t\n  method: m\n  status: s\n",
        "fields.path: required (or give fields.request)",
    ),
    (
        REGEX.replace("pattern: '(?P<a>.*)'\n", "") + "  status: a\n",
        "pattern: required with input: regex",
    ),
    (REGEX + "  status: a\nrecords: r\n", "records: only used with input: json"),
    (
        HEAD.replace("fields:", "pattern: x\nrecords: a..b\nfields:") + "  status: s..t\n",
        "pattern: only used with input: regex; records: empty key in 'a..b'; "
        "fields.status.source: empty key in 's..t'",
    ),
    (
        HEAD.replace("fields:", "records: data.0\nfields:") + "  status: s\n",
        "records: list indexes are not supported in 'data.0'",
    ),
    (
        HEAD.replace("event_time: t", "event_time: {source: t, format: epoch_ms, timezone: UTC}")
        + "  status: s\n",
        "fields.event_time: timezone is only used with iso8601 and strptime formats",
    ),
    (
        HEAD.replace("event_time: t", "event_time: {source: t, format: 'strptime:%Q'}")
        + "  status: s\n",
        "fields.event_time.format: invalid strptime format '%Q': "
        "'Q' is a bad directive in format '%Q'",
    ),
    (
        HEAD.replace("event_time: t", "event_time: {source: t, format: epoch, timezone: Mars/Base}")
        + "  status: {source: s, value: 200}\n  api: {source: a, unescape: json}\n",
        "fields.event_time.format: expected one of epoch_s, epoch_ms, epoch_us, epoch_ns, "
        "iso8601, strptime:<format>; fields.event_time.timezone: unknown time zone 'Mars/Base' "
        "(use an IANA name); fields.status: give either source or value; "
        "fields.api.unescape: expected one of haproxy, nginx",
    ),
    (
        HEAD.replace("event_time: t", "event_time: {}")
        + "  status: 200\n  api: [1]\n  route: ['']\n  client_ip: {source: c, null_values: '-'}\n"
        + "  consumer: {source: c, null_values: [true]}\n",
        "fields.event_time: give either source or value; "
        "fields.status: expected a source, a list of sources, or a mapping of options; "
        "fields.api.source.0: expected a string; fields.route.source: empty source; "
        "fields.client_ip.null_values: expected a list; "
        "fields.consumer.null_values: expected strings or numbers",
    ),
    (
        HEAD.replace("fields:", "null_values: [[1]]\nfields:").replace(
            "event_time: t", "event_time: {source: t, frmat: x}"
        )
        + "  status: s\n",
        "null_values: expected strings or numbers; fields.event_time.frmat: unknown key; "
        "expected one of source, value, null_values, format, timezone",
    ),
    (
        HEAD + "  status: s\n  api: {value: 2024-06-10}\n",
        "fields.api.value: expected a string or a number",
    ),
    (HEAD + "  status: {value: 700}\n", "fields.status.value: 700 not in 100-599"),
    (HEAD + "  status: s\n  bytes_out: {value: -5}\n", "fields.bytes_out.value: negative (-5)"),
    (
        HEAD.replace("event_time: t", "event_time: {value: yesterday}") + "  status: s\n",
        "fields.event_time.value: expected an ISO 8601 time, got 'yesterday'",
    ),
    (
        HEAD + "  status: s\n  latency_ms: {value: abc, unit: s}\n",
        "fields.latency_ms.value: expected seconds, got 'abc'",
    ),
]


@pytest.mark.parametrize(("text", "message"), CONFIG_ERRORS)
def test_config_errors(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(MappingError) as caught:
        validate_mapping(path)
    assert str(caught.value) == f"{path}: {message}"
    assert "\n" not in str(caught.value)


def test_unreadable_mapping(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(MappingError, match=r"nope\.yaml: cannot read: No such file or directory$"):
        load_mapping(missing)
    with pytest.raises(MappingError, match=r": cannot read: Is a directory$"):
        validate_mapping(_write(tmp_path, "").parent / ".")


def test_mapping_error_is_a_value_error() -> None:
    assert issubclass(MappingError, ValueError)


# --- property tests ---------------------------------------------------------------------

SAMPLES = {
    "aws_apigateway.yaml": ["aws_apigateway.ndjson", "aws_apigateway_malformed.ndjson"],
    "azure_apim.yaml": ["azure_apim.json", "azure_apim_malformed.ndjson"],
    "caddy.yaml": ["caddy.ndjson", "caddy_batch.json", "caddy_malformed.ndjson"],
    "haproxy.yaml": ["haproxy.log", "haproxy_malformed.log", "haproxy_2.6_real.log"],
    "krakend.yaml": ["krakend.ndjson", "krakend_malformed.ndjson"],
    "krakend_gin.yaml": ["krakend_gin.log"],
}
SAMPLE_LINES = [(m, line) for m, files in SAMPLES.items() for f in files for line in _lines(f)]
JSON_LINES = [
    (m, line)
    for m, files in SAMPLES.items()
    if yaml.safe_load((MAPPING_DATA / m).read_text())["input"] == "json"
    for line in _lines(files[0]) + (_lines(files[1]) if m == "caddy.yaml" else [])
]


def test_samples_cover_every_mapping() -> None:
    assert sorted(SAMPLES) == MAPPINGS


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(MAPPINGS), st.binary(max_size=300))
def test_random_bytes_never_raise(name: str, line: bytes) -> None:
    check_results(_parser(name)(line, CTX))


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(SAMPLE_LINES), st.data())
def test_mutated_lines_never_raise(sample: tuple[str, bytes], data: st.DataObject) -> None:
    name, line = sample
    interesting = st.sampled_from([*b' "[]{}-+#\\x=,:/.0123456789', 0, 0x7F, 0xC3, 0xFF, 0x0A])
    check_results(_parser(name)(mutate(line, data, st.integers(0, 255) | interesting), CTX))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(JSON_LINES), st.data(), JSON_VALUES)
def test_mutated_json_values_never_raise(
    sample: tuple[str, bytes], data: st.DataObject, new_value: Any
) -> None:
    name, line = sample
    raw = msgspec.json.decode(line)
    mutated = replace(raw, data.draw(st.sampled_from(paths(raw))), new_value)
    results = _parser(name)(msgspec.json.encode(mutated), CTX)
    check_results(results)
    if name == "azure_apim.yaml":  # the records are in {"records": [...]}
        mutated = mutated.get("records") if isinstance(mutated, dict) else None
    assert len(results) == records_in(mutated)  # one result per record


FIELD_NAMES = [
    "event_time", "request", "method", "path", "status", "latency_ms", "upstream_latency_ms",
    "gateway_latency_ms", "bytes_in", "bytes_out", "request_id", "api", "route", "client_ip",
    "user_agent", "consumer", "application", "credential", "bogus",
]  # fmt: skip
WORDS = st.sampled_from(
    ["a", "b", "a.b", "a.0", "", "ms", "s", "duration", "json", "regex", "epoch_ms", "iso8601",
     "strptime:%Y-%m-%d", "(?P<a>\\S+) (?P<b>.*)", "UTC", "Europe/Paris", "haproxy", "-", "x"]
)  # fmt: skip
SCALARS = st.none() | st.booleans() | st.integers(-5, 700) | st.floats(-10, 1e13) | WORDS
OPTIONS = ["source", "value", "null_values", "unit", "format", "timezone", "unescape", "bogus"]
SPECS = (
    SCALARS
    | st.lists(WORDS, max_size=3)
    | st.dictionaries(st.sampled_from(OPTIONS), SCALARS | st.lists(SCALARS, max_size=2), max_size=4)
)
ANY_CONFIG = st.fixed_dictionaries(
    {"name": st.sampled_from(["gw", "Bad Name"]), "input": st.sampled_from(["json", "regex", "x"])},
    optional={
        "pattern": WORDS,
        "records": WORDS,
        "null_values": st.lists(SCALARS, max_size=3),
        "fields": st.dictionaries(st.sampled_from(FIELD_NAMES), SPECS, max_size=8),
    },
)
SOURCES = st.sampled_from(["n", "x", ["x", "n"]])
LATENCY = st.fixed_dictionaries(
    {"source": st.sampled_from(["n", "x"]), "unit": st.sampled_from(["ms", "s", "ns", "duration"])}
)
TIME = st.fixed_dictionaries(
    {"source": st.just("t"), "format": st.sampled_from(["iso8601", "epoch_s", "strptime:%Y-%m-%d"])}
)


def _valid_config(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """Mostly loadable mappings: time t, request r, status s, other fields n or x."""
    optional: dict[str, st.SearchStrategy[Any]] = {
        name: LATENCY if name.endswith("latency_ms") else SOURCES for name in FIELD_NAMES[5:-1]
    }
    status = st.sampled_from(["s", ["n", "s"], {"value": 200}])
    fields = st.fixed_dictionaries(
        {"event_time": TIME, "request": st.just("r"), "status": status}, optional=optional
    )
    pattern = r"(?P<t>\S+) (?P<s>\S+) (?P<n>\S+) (?P<x>\S+) (?P<r>.*)"
    extra = {"pattern": st.just(pattern)} if kind == "regex" else {}
    return st.fixed_dictionaries(
        {"name": st.just("gw"), "input": st.just(kind), "fields": fields, **extra}
    )


CONFIGS = ANY_CONFIG | st.sampled_from(["json", "regex"]).flatmap(_valid_config)
LINES = st.binary(max_size=60) | st.sampled_from(
    [
        b'{"t": "2024-06-10", "s": "200", "n": "12", "x": "-", "r": "GET /x HTTP/1.1"}',
        b'[{"t": 1718012745.5, "s": 404, "n": 0.5, "x": "abc", "r": "DELETE https://h/z"}, 7]',
        b"2024-06-10 200 12 - GET /x?y HTTP/1.1",
        b"1718012745.5 404 0.5 abc DELETE https://h/z",
    ]
)


@settings(max_examples=300, deadline=None)
@given(CONFIGS, st.lists(LINES, max_size=3))
def test_random_mappings_load_or_fail_cleanly(config: dict[str, Any], lines: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = _write(Path(directory), yaml.safe_dump(config))
        try:
            parser = load_mapping(path)
        except MappingError as exc:
            assert str(exc).startswith(f"{path}: ")
            assert "\n" not in str(exc)
            return
    for line in lines:
        check_results(parser(line, CTX))
