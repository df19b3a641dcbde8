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
    ],
)
def test_bad_values(convert: Callable[[], Any], reason: str) -> None:
    with pytest.raises(BadValue) as caught:
        convert()
    assert str(caught.value) == reason


def test_unescape() -> None:
    assert fields.unescape(b"caf\\xC3\\xA9 \\x22q\\x22 \\xFF", "nginx") == 'café "q" \ufffd'
    assert fields.any_text("r", "GET /a#20b#C3#A9", "haproxy") == "GET /a bé"
