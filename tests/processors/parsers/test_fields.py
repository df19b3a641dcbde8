"""The value rules every parser shares (`processors.parsers.fields`), one decision at a time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from processors.parsers import fields
from processors.parsers.fields import BadValue

AT = datetime(2024, 6, 10, 9, 45, 45, tzinfo=UTC)
AT_MS = AT.replace(microsecond=678000)


@pytest.mark.parametrize(
    ("convert", "expected"),
    [
        # times are cut to the millisecond, never rounded up: epoch numbers as text
        (lambda: fields.epoch_time("t", 1718012745678), AT_MS),
        (lambda: fields.epoch_time("t", 1718012745678.9), AT_MS),
        (lambda: fields.epoch_time("t", 1718012745.6789, "epoch_s"), AT_MS),
        (lambda: fields.epoch_time("t", "1718012745.678", "epoch_s"), AT_MS),  # exactly .678
        (lambda: fields.epoch_time("t", 1718012745678999, "epoch_us"), AT_MS),
        (lambda: fields.epoch_s_or_ms("t", "1718012745.678"), AT_MS),
        (lambda: fields.epoch_s_or_ms("t", 1718012745678), AT_MS),
        (lambda: fields.epoch_time("t", 8589934592000), datetime(2242, 3, 16, 12, 56, 32, 0, UTC)),
        (lambda: fields.iso_time("t", "2024-06-10T11:45:45.678999999+02:00"), AT_MS),
        (lambda: fields.iso_time("t", "2024-06-10T11:45:45.678+0200"), AT_MS),
        (lambda: fields.iso_time("t", "2024-06-10 09:45:45Z"), AT),
        (lambda: fields.clf_time("t", "10/Jun/2024:11:45:45 +0200"), AT),
        (
            lambda: fields.text_time(
                "t", "2024-06-10T05:45:45", zone=timezone(-timedelta(hours=4))
            ),
            AT,
        ),
        # latencies: ms rounded to the µs; negative or not finite is unknown; lists are summed
        (lambda: fields.latency_ms("l", 41.000127792358), 41.0),
        (lambda: fields.latency_ms("l", 41), 41.0),
        (lambda: fields.latency_ms("l", -1), None),
        (lambda: fields.latency_ms("l", "-1"), None),
        (lambda: fields.latency_ms("l", "1e999", "s"), None),
        (lambda: fields.latency_ms("l", "0.041", "s"), 41.0),
        (lambda: fields.latency_ms("l", "0.010, -, 0.020 : 0.005", "s"), 35.0),
        (lambda: fields.latency_ms("l", [10, "-", None, 20.5]), 30.5),
        (lambda: fields.latency_ms("l", "-, -", "s"), None),
        (lambda: fields.latency_ms("l", 41234567, "ns"), 41.235),
        (lambda: fields.latency_ms("l", "1m2.5s", fields.DURATION), 62500.0),
        (lambda: fields.latency_ms("l", "850µs", fields.DURATION), 0.85),
        (lambda: fields.latency_ms("l", "-1s", fields.DURATION), None),
        (lambda: fields.remainder_ms(10.0, 12.5), 0.0),
        # integers: text with a sign, integral floats; sizes: unknown when not logged
        (lambda: fields.status("s", "200"), 200),
        (lambda: fields.status("s", 204.0), 204),
        (lambda: fields.size("b", "+165"), 165),
        (lambda: fields.size("b", "-"), None),
        (lambda: fields.size("b", None), None),
        # methods are RFC 9110 tokens; paths lose query, scheme and authority
        (lambda: fields.method("m", "get"), "get"),
        (lambda: fields.method("m", "M-SEARCH"), "M-SEARCH"),
        (lambda: fields.path("p", "/x?y=1"), "/x"),
        (lambda: fields.path("p", "https://host:8443/x?y=1"), "/x"),
        (lambda: fields.path("p", "https://host"), "/"),
        (lambda: fields.path("p", "*"), "*"),
        (lambda: fields.request_line("r", "GET /x?y HTTP/1.1"), ("GET", "/x")),
        (lambda: fields.request_line("r", "GET /x"), ("GET", "/x")),  # HTTP/0.9
        # the query: after the first "?", as logged, without a fragment
        (lambda: fields.split_target("p", "/x?a=1&b=%2F&c"), ("/x", "a=1&b=%2F&c")),
        (lambda: fields.split_target("p", "/x?a=1?b#top"), ("/x", "a=1?b")),
        (lambda: fields.split_target("p", "/x?"), ("/x", "")),
        (lambda: fields.split_target("p", "/x"), ("/x", "")),
        (lambda: fields.split_target("p", "https://host:8443?a=1"), ("/", "a=1")),
        (lambda: fields.split_target("p", "*"), ("*", "")),
        (
            lambda: fields.split_request_line("r", "GET /x?q=caf%C3%A9 HTTP/1.1"),
            ("GET", "/x", "q=caf%C3%A9"),
        ),
        (lambda: fields.split_request_line("r", "GET /x"), ("GET", "/x", "")),
        # header and query-argument values as JSON loggers write them
        (lambda: fields.first_value("h", "okhttp/4.12.0"), "okhttp/4.12.0"),
        (lambda: fields.first_value("h", ["MyApp/2.1", "MyApp/2.0"]), "MyApp/2.1"),
        (lambda: fields.first_value("h", []), ""),
        (lambda: fields.first_value("h", None), ""),
        (lambda: fields.first_value("q", True, flags=True), ""),  # `?apikey` without value
        (lambda: fields.first_value("q", [True, "k"], flags=True), ""),
    ],
)
def test_values(convert: Callable[[], Any], expected: Any) -> None:
    assert convert() == expected


@pytest.mark.parametrize(
    ("convert", "reason"),
    [
        (lambda: fields.epoch_time("t", 1718012745), "t: 1718012745 is not epoch milliseconds"),
        (lambda: fields.epoch_time("t", "x", "epoch_s"), "t: expected epoch seconds, got 'x'"),
        (lambda: fields.epoch_time("t", None), "t: missing required field"),
        (
            lambda: fields.epoch_s_or_ms("t", "17180127"),
            "t: '17180127' is not epoch seconds or milliseconds",
        ),
        (
            lambda: fields.iso_time("t", "0001-01-01T00:00:00Z"),
            "t: '0001-01-01T00:00:00Z' is before 1973 or after 2286",
        ),
        (
            lambda: fields.iso_time("t", "2024-06-10 09:45:45"),
            "t: no UTC offset in '2024-06-10 09:45:45'",
        ),
        (
            lambda: fields.iso_time("t", "2024-06-10x09:45:45Z"),
            "t: expected an ISO 8601 time, got '2024-06-10x09:45:45Z'",
        ),
        (
            lambda: fields.iso_time("t", "2024-02-30T00:00:00Z"),
            "t: day is out of range for month: '2024-02-30T00:00:00Z'",
        ),
        (
            lambda: fields.clf_time("t", "10/Jux/2024:11:45:45 +0200"),
            "t: expected dd/Mon/yyyy:HH:MM:SS +hhmm, got '10/Jux/2024:11:45:45 +0200'",
        ),
        (lambda: fields.latency_ms("l", "fast", "s"), "l: expected seconds, got 'fast'"),
        (
            lambda: fields.latency_ms("l", "41ms12", fields.DURATION),
            "l: expected a duration like '41.2ms', got '41ms12'",
        ),
        (lambda: fields.status("s", "abc"), "s: expected a status code, got 'abc'"),
        (lambda: fields.status("s", True), "s: expected a status code, got bool"),
        (lambda: fields.status("s", 600), "s: 600 not in 100-599"),
        (lambda: fields.status("s", "-"), "s: missing required field"),
        (lambda: fields.size("b", -1), "b: negative (-1)"),  # unknown only where a gateway says so
        (lambda: fields.size("b", 1.5), "b: expected a byte count, got 1.5"),
        (lambda: fields.size("b", "1" * 19), f"b: expected a byte count, got '{'1' * 19}'"),
        (lambda: fields.method("m", ""), "m: empty"),
        (lambda: fields.method("m", "GET /x"), "m: invalid method 'GET /x'"),
        (lambda: fields.path("p", "?a=1"), "p: empty path ('?a=1')"),
        (lambda: fields.request_line("r", "-"), "r: expected 'METHOD TARGET PROTOCOL', got '-'"),
        (lambda: fields.request_line("r", "GET /x FOO/1.0"), "r: invalid protocol 'FOO/1.0'"),
        (lambda: fields.any_text("a", {}), "a: expected str, got object"),
        (lambda: fields.split_target("p", "?a=1"), "p: empty path ('?a=1')"),
        (lambda: fields.first_value("h", 5), "h: expected str | array | null, got int"),
        (lambda: fields.first_value("h", True), "h: expected str | array | null, got bool"),
        (lambda: fields.first_value("h", [{}]), "h[0]: expected str, got object"),
        (
            lambda: fields.first_value("q", {}, flags=True),
            "q: expected bool | str | array | null, got object",
        ),
    ],
)
def test_bad_values(convert: Callable[[], Any], reason: str) -> None:
    with pytest.raises(BadValue) as caught:
        convert()
    assert str(caught.value) == reason


def test_unescape() -> None:
    assert fields.unescape(b"caf\\xC3\\xA9 \\x22q\\x22 \\xFF", "nginx") == 'café "q" \ufffd'
    assert fields.any_text("r", "GET /a#20b#C3#A9", "haproxy") == "GET /a bé"


@pytest.mark.parametrize(
    ("logged", "kept"),
    [
        (None, {}),
        ({}, {}),
        (  # names lower-cased, repeated headers joined, other scalars as JSON text
            {
                "Host": "api.example.com",
                "Accept": ["application/json", "*/*"],
                "X-Retry": 2,
                "X-Ratio": 0.5,
                "DNT": True,
                "X-Mixed": ["a", 1, None, {"b": 1}, False],
            },
            {
                "host": "api.example.com",
                "accept": "application/json, */*",
                "x-retry": "2",
                "x-ratio": "0.5",
                "dnt": "true",
                "x-mixed": "a, 1, false",
            },
        ),
        ({"x-a": None, "x-b": {"c": "d"}, "x-c": [], "x-d": [None], "x-e": ""}, {"x-e": ""}),
        ({"User-Agent": "a", "user-agent": "b"}, {"user-agent": "b"}),  # the last wins
    ],
)
def test_header_map(logged: dict[str, Any] | None, kept: dict[str, str]) -> None:
    assert fields.header_map(logged) == kept


def test_header_map_of_many_headers() -> None:
    """From six headers on, text values under lower-case names are copied as they are."""
    logged = {f"x-h{i}": f"v{i}" for i in range(8)}
    kept = fields.header_map(logged)
    assert kept == logged and kept is not logged
    assert fields.header_map({**logged, "X-Upper": "u"}) == {**logged, "x-upper": "u"}
    assert fields.header_map({**logged, "x-list": ["a", "b"]}) == {**logged, "x-list": "a, b"}


@pytest.mark.parametrize(
    ("arguments", "query"),
    [
        ({"expand": "items", "debug": True}, "expand=items&debug"),  # a flag: the bare name
        ({"tag": ["new", "sale"], "q": "café au lait"}, "tag=new&tag=sale&q=caf%C3%A9+au+lait"),
        ({"a&b": "c=d", "n": 2, "f": 1.5}, "a%26b=c%3Dd&n=2&f=1.5"),
        ({"x": None, "y": False, "z": {"k": "v"}, "w": [True, "1", ["2"]]}, "w&w=1"),
        ({}, ""),
        (None, ""),
        (["a", "b"], ""),
        ("a=b", ""),
    ],
)
def test_query_string(arguments: Any, query: str) -> None:
    assert fields.query_string(arguments) == query
