"""Value conversions shared by the gateway parsers: times to UTC, latencies, sizes, status.

Each function either returns the canonical value (see `apim.event` for the units) or raises
`BadValue` whose message is a ready `Rejected` reason naming the field, so a parser can
write `status=check_status("response.status", rec.response.status)` and let one `except
BadValue` turn any bad field into a rejection.

Decisions a caller may need:
- event times must fall in 1973-03-03 .. 2286-11-20 (epoch milliseconds 1e11 .. 1e13), so
  a time in seconds, a Go zero time ("0001-01-01T00:00:00Z") or garbage is rejected;
  times keep millisecond precision (finer digits are dropped, epoch floats are rounded);
- a latency that is missing, negative or not finite is unknown (`None`), not a rejection;
  known latencies are rounded to 3 decimals (µs), which removes float noise such as
  APISIX's `41.000127792358`;
- a size of -1 is the "unknown" marker of several gateways (`None`); any other negative
  size is rejected.

Not supported: RFC 3339 times without a zone offset, and leap seconds (":60").
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_EPOCH_MS = 1e11  # 1973-03-03: anything smaller is most likely seconds
_MAX_EPOCH_MS = 1e13  # 2286-11-20
_MIN_TIME = _EPOCH + timedelta(milliseconds=_MIN_EPOCH_MS)
_MAX_TIME = _EPOCH + timedelta(milliseconds=_MAX_EPOCH_MS)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:[Zz]|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


class BadValue(ValueError):
    """A field holds a value the event cannot take; the message is the rejection reason."""


def utc_from_epoch_ms(field: str, value: float) -> datetime:
    """Epoch milliseconds (int or float) -> UTC datetime, ms precision."""
    if not _MIN_EPOCH_MS <= value < _MAX_EPOCH_MS:  # also false for NaN
        raise BadValue(f"{field}: {value!r} is not epoch milliseconds")
    return _EPOCH + timedelta(milliseconds=round(value))


def utc_from_rfc3339(field: str, text: str) -> datetime:
    """An RFC 3339 time with an offset ("2024-06-10T11:45:45.678901234+02:00") -> UTC, ms."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise BadValue(f"{field}: expected an RFC 3339 time with offset, got {text[:40]!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    millis = int((m[7] or "0").ljust(3, "0")[:3])
    try:
        offset = _offset(m[8], int(m[9] or 0), int(m[10] or 0))
        local = datetime(year, month, day, hour, minute, second, millis * 1000, offset)
    except ValueError as exc:
        raise BadValue(f"{field}: {exc}: {text!r}") from None
    return utc_in_range(field, local, text)


def _offset(sign: str | None, hours: int, minutes: int) -> timezone:
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if sign == "-" else delta)  # ValueError from 24:00 on


def utc_in_range(field: str, when: datetime, shown: str) -> datetime:
    """`when` (zone-aware) in UTC, rejected outside the range every parser accepts."""
    if not _MIN_TIME <= when < _MAX_TIME:
        raise BadValue(f"{field}: {shown!r} out of range")
    return when.astimezone(UTC)


def latency_ms(value: float | None) -> float | None:
    """A latency already in milliseconds; missing, negative or not finite -> `None`."""
    if value is None or value < 0 or not math.isfinite(value):
        return None
    return round(float(value), 3)


def size_bytes(field: str, value: int | None) -> int | None:
    """A byte count; `None` or -1 ("unknown") -> `None`, other negatives are rejected."""
    if value is None or value == -1:
        return None
    if value < 0:
        raise BadValue(f"{field}: negative ({value})")
    return value


def check_status(field: str, value: int) -> int:
    """An HTTP status sent to the client, 100-599."""
    if not 100 <= value <= 599:
        raise BadValue(f"{field}: {value} not in 100-599")
    return value


def non_empty(field: str, value: str) -> str:
    """A text the event cannot do without (e.g. the method)."""
    if not value:
        raise BadValue(f"{field}: empty")
    return value


def path_of(field: str, uri: str) -> str:
    """The path of a request target: the query string is dropped; an empty path is rejected."""
    path = uri.partition("?")[0]
    if not path:
        raise BadValue(f"{field}: empty path ({uri[:40]!r})" if uri else f"{field}: empty")
    return path
