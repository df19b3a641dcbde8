"""Logged field values -> the units of `AccessEvent`; shared by the gateway parsers.

Gateways log numbers as JSON numbers or, when a template interpolates them into strings
(nginx `log_format`, AWS access-log templates), as strings: every function here takes both
(`Loose`). A value that was not logged (`None`, "" or "-") is unknown: `None`, or for a
required field (status, times, method) a `FieldError` "<field>: missing required field".
A malformed value raises `FieldError`, whose message is the `Rejected` reason and names the
field first, e.g. "status: expected an integer, got 'abc'".

Units and decisions:
- seconds and milliseconds become float milliseconds rounded to 0.001 ms; a non-numeric
  string is malformed, a negative JSON number is unknown (as Kong's -1 "not proxied");
- a list of upstream times ("0.010, 0.020" after retries, "0.010 : 0.020" across internal
  redirects, nginx style) is summed; "-" entries are skipped;
- times become UTC datetimes truncated to the millisecond: epoch seconds or milliseconds
  (told apart by magnitude: 1e8 <= seconds < 1e11 <= milliseconds < 1e13, i.e. 1973-2286),
  ISO 8601 with an offset, or CLF `dd/Mon/yyyy:HH:MM:SS +hhmm`. A time without an offset is
  malformed, since its zone cannot be known;
- sizes are non-negative integers; a negative one is malformed.

Not supported (malformed): durations or epochs written with a sign, an exponent, thousands
separators or a unit ("12ms"); fractional byte counts; CLF month names other than English.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache

Loose = str | int | float | None
"""A logged value: a JSON number, a number in a string, or unknown (None, "" or "-")."""


class FieldError(Exception):
    """A field's value is malformed; the message is the `Rejected` reason."""


_UNKNOWN = frozenset((None, "", "-"))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_EPOCH_S = 1e8  # 1973-03-03: smaller numbers are not plausible request times
_MIN_EPOCH_MS = 1e11  # the same instant in ms; anything below it is seconds
_MAX_EPOCH_MS = 1e13  # 2286-11-20
_INTEGER = re.compile(r"-?\d+", re.ASCII)
_DECIMAL = re.compile(r"\d+(?:\.\d+)?", re.ASCII)
_LIST_SEP = re.compile(r"[,:]")
_METHOD = re.compile(r"[A-Z][A-Z_-]*")
_CLF_TIME = re.compile(
    r"(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})", re.ASCII
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def unknown(value: Loose) -> bool:
    """True for a value the gateway did not log: null, "" or "-"."""
    return value in _UNKNOWN


def first(*values: Loose) -> Loose:
    """The first known value, or None."""
    for value in values:
        if value not in _UNKNOWN:
            return value
    return None


def first_named(*pairs: tuple[str, Loose]) -> tuple[str, Loose]:
    """The first known (name, value) pair; the first name with None when none is known."""
    return next(((n, v) for n, v in pairs if not unknown(v)), (pairs[0][0], None))


def text(value: Loose) -> str:
    """A text field: "" when unknown."""
    return "" if value in _UNKNOWN else str(value)


def required_text(name: str, value: Loose) -> str:
    """A text field that must be known."""
    _require(name, value)
    return str(value)


def integer(name: str, value: Loose) -> int | None:
    """An integer from a JSON number or a string of digits."""
    if value is None or unknown(value):
        return None
    if isinstance(value, str):
        if not _INTEGER.fullmatch(value):
            raise FieldError(f"{name}: expected an integer, got {value[:40]!r}")
        return int(value)
    if isinstance(value, float) and not value.is_integer():
        raise FieldError(f"{name}: expected an integer, got {value!r}")
    return int(value)


def size(name: str, value: Loose) -> int | None:
    """A byte count: a non-negative integer."""
    count = integer(name, value)
    if count is not None and count < 0:
        raise FieldError(f"{name}: negative ({count})")
    return count


def status(name: str, value: Loose) -> int:
    """The HTTP status sent to the client: required, 100-599."""
    _require(name, value)
    code = integer(name, value)
    if code is None or not 100 <= code <= 599:
        raise FieldError(f"{name}: {code} not in 100-599")
    return code


def milliseconds(name: str, value: Loose) -> float | None:
    """A duration logged in milliseconds."""
    return _duration(name, value, 1.0, "milliseconds")


def seconds_to_ms(name: str, value: Loose) -> float | None:
    """A duration logged in seconds (nginx's "0.041"), in milliseconds."""
    return _duration(name, value, 1000.0, "seconds")


def seconds_list_to_ms(name: str, value: Loose) -> float | None:
    """Sum of an upstream time list ("0.010, 0.020" or "0.010 : 0.020"); "-" entries skipped."""
    if not isinstance(value, str):
        return seconds_to_ms(name, value)
    times = [seconds_to_ms(name, v.strip()) for v in _LIST_SEP.split(value)]
    known = [t for t in times if t is not None]
    return round(sum(known), 3) if known else None


def remainder_ms(total: float | None, spent: float | None) -> float | None:
    """`total` minus the part `spent` elsewhere (e.g. upstream), never below 0."""
    if total is None or spent is None:
        return None
    return max(0.0, round(total - spent, 3))


def epoch_time(name: str, value: Loose) -> datetime:
    """Epoch seconds ("1718012745.678") or milliseconds ("1718012745678"), by magnitude."""
    _require(name, value)
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        raise FieldError(f"{name}: expected epoch seconds or milliseconds, got {value[:40]!r}")
    number = Decimal(str(value))  # exact, so "…745.678" s is 678 ms, not 677.99…
    if not number.is_finite() or not _MIN_EPOCH_S <= number < _MAX_EPOCH_MS:
        raise FieldError(f"{name}: {value!r} is not epoch seconds or milliseconds")
    ms = int(number if number >= _MIN_EPOCH_MS else number * 1000)
    return _EPOCH + timedelta(milliseconds=ms)


def iso_time(name: str, value: str | None) -> datetime:
    """ISO 8601 with an offset or "Z" (any number of fraction digits) -> UTC."""
    if value is None or unknown(value):
        raise FieldError(f"{name}: missing required field")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FieldError(f"{name}: expected an ISO 8601 time, got {value[:40]!r}") from None
    if parsed.utcoffset() is None:
        raise FieldError(f"{name}: no UTC offset in {value[:40]!r}")
    try:
        return truncate_ms(parsed.astimezone(UTC))
    except OverflowError:
        raise FieldError(f"{name}: {value[:40]!r} is out of range in UTC") from None


@lru_cache(maxsize=4096)
def clf_time(name: str, value: str) -> datetime:
    """Common Log Format time `10/Jun/2024:11:45:45 +0200` -> UTC."""
    _require(name, value)
    m = _CLF_TIME.fullmatch(value)
    month = _MONTHS.get(m[2]) if m else None
    if m is None or month is None:
        raise FieldError(f"{name}: expected dd/Mon/yyyy:HH:MM:SS +hhmm, got {value[:40]!r}")
    try:
        sign = -1 if m[7] == "-" else 1
        offset = timezone(sign * timedelta(hours=int(m[8]), minutes=int(m[9])))
        local = datetime(int(m[3]), month, int(m[1]), int(m[4]), int(m[5]), int(m[6]), 0, offset)
        return local.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise FieldError(f"{name}: {exc}: {value!r}") from None


def truncate_ms(moment: datetime) -> datetime:
    """`moment` without its sub-millisecond part."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def request_line(name: str, value: str) -> tuple[str, str]:
    """(method, path without the query) from a request line "GET /x?y=1 HTTP/1.1"."""
    parts = value.split(" ")
    if len(parts) != 3:
        shown = value[:80]
        raise FieldError(
            f"{name}: expected 'METHOD URI PROTOCOL', got {len(parts)} part(s): {shown!r}"
        )
    method, uri, protocol = parts
    if not _METHOD.fullmatch(method):
        raise FieldError(f"{name}: invalid method {method[:40]!r}")
    if not uri:
        raise FieldError(f"{name}: empty URI")
    if not protocol.startswith("HTTP/"):
        raise FieldError(f"{name}: invalid protocol {protocol[:40]!r}")
    return method, uri.partition("?")[0]


def _require(name: str, value: Loose) -> None:
    if unknown(value):
        raise FieldError(f"{name}: missing required field")


def _duration(name: str, value: Loose, factor: float, unit: str) -> float | None:
    if value is None or unknown(value):
        return None
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        raise FieldError(f"{name}: expected {unit}, got {value[:40]!r}")
    number = float(value)
    if number < 0 or not math.isfinite(number):  # a JSON number; a string cannot be negative
        return None
    return round(number * factor, 3)
