"""Logged values -> `AccessEvent` units: times, latencies, integers, text, request lines.

Pure converters for the declarative mapping parser (`processors.parsers.mapping`), written
so any parser can reuse them. Each takes one raw value as a gateway logged it (a JSON
scalar or list, or a regex group's text) and returns the canonical value, or raises
`BadValue` with a message that does not name the field (the caller prefixes it).

Decisions a caller may need:
- numbers may arrive as strings ("200", "0.041", "+1234" from HAProxy's `option logasap`);
  integers may also be integral floats (1530.0);
- latencies become milliseconds rounded to the microsecond (3 decimals); a negative or
  non-finite latency (HAProxy -1, Kong -1) is unknown (`None`); a list, as a JSON array or
  as nginx's "0.010, 0.020" / "0.010 : 0.020" text, is summed with unknown entries skipped;
- `duration` is a Go duration string ("41.234567ms", "1m2.5s", "850µs");
- times become UTC datetimes truncated to the millisecond; naive times are read in the
  given zone (an ambiguous local time during a DST change is taken as the first one); times
  before 1973-03-03 or from 2286-11-20 on are rejected, as a wrong epoch unit gives those;
- text takes the first element of a list (repeated headers), and a client IP the first
  entry of a comma list (X-Forwarded-For);
- a path drops the query string and, for an absolute-form target ("https://host/x", as
  HAProxy logs HTTP/2 requests), the scheme and authority.

Not supported: epoch values with more than 3 exponent digits, integers with more than 18
digits in text, time formats other than epoch / ISO 8601 / `strptime`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import ROUND_FLOOR, Decimal
from typing import Any

EPOCH_UNITS = {
    "epoch_s": Decimal(1000),
    "epoch_ms": Decimal(1),
    "epoch_us": Decimal("0.001"),
    "epoch_ns": Decimal("0.000001"),
}
"""Epoch time formats and their size in milliseconds."""

LATENCY_UNITS = {"ms": 1.0, "s": 1000.0, "us": 0.001, "ns": 0.000001}
"""Numeric latency units and their size in milliseconds (plus "duration", Go strings)."""

DURATION = "duration"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_MS = 100_000_000_000  # 1973-03-03: anything earlier is most likely a wrong epoch unit
_MAX_MS = 10_000_000_000_000  # 2286-11-20
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d{1,18}", re.ASCII)
_LIST_SEP = re.compile(r"[,:]")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", re.ASCII)
_DURATION_MS = {
    "ns": 1e-6,
    "us": 1e-3,
    "µs": 1e-3,
    "μs": 1e-3,
    "ms": 1.0,
    "s": 1e3,
    "m": 6e4,
    "h": 3.6e6,
}
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 method token
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?]*")
_ESCAPES = {  # marker, escape
    "haproxy": ("#", re.compile(rb"#([0-9A-Fa-f]{2})")),  # HAProxy's request line and captures
    "nginx": ("\\x", re.compile(rb"\\x([0-9A-Fa-f]{2})")),  # nginx's default log escaping
}
UNESCAPES = tuple(_ESCAPES)
_MAX_INT = 2**63 - 1


class BadValue(ValueError):
    """A value that cannot be converted; the message does not name the field."""


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type ("object", "array", "null", "str", ...)."""
    if value is None:
        return "null"
    return {dict: "object", list: "array"}.get(type(value), type(value).__name__)


def shown(value: Any) -> str:
    """A value for a message: strings quoted and cut, numbers as is, others by JSON type."""
    if isinstance(value, str):
        return repr(value[:40])
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value)
    return json_type(value)


# --- times ---------------------------------------------------------------------------


def epoch_time(value: Any, fmt: str) -> datetime:
    """Epoch seconds / ms / us / ns (number or numeric string) -> UTC, ms precision."""
    number = _decimal(value, f"expected {fmt}")
    ms = int((number * EPOCH_UNITS[fmt]).to_integral_value(ROUND_FLOOR))
    if not _MIN_MS <= ms < _MAX_MS:
        raise BadValue(f"{shown(value)} is not {fmt} (before 1973 or after 2286)")
    return _EPOCH + timedelta(milliseconds=ms)


def text_time(value: Any, parse: Callable[[str], datetime], zone: tzinfo) -> datetime:
    """A time string parsed by `parse`; naive times are in `zone`. -> UTC, ms precision."""
    if not isinstance(value, str):
        raise BadValue(f"expected a time string, got {json_type(value)}")
    try:
        parsed = parse(value.strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=zone)
        utc = parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise BadValue(f"{exc}: {shown(value)}") from None
    if not _MIN_MS <= (utc - _EPOCH) // timedelta(milliseconds=1) < _MAX_MS:
        raise BadValue(f"{shown(value)} is before 1973 or after 2286")
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def iso8601(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("not an ISO 8601 time") from None


def strptime(fmt: str) -> Callable[[str], datetime]:
    def parse(text: str) -> datetime:
        try:
            return datetime.strptime(text, fmt)
        except ValueError as exc:
            if str(exc).startswith("time data"):  # "time data '…' does not match format '…'"
                raise ValueError(f"does not match {fmt!r}") from None
            raise  # "day is out of range for month", "unconverted data remains: …"

    return parse


# --- numbers -------------------------------------------------------------------------


def latency_ms(value: Any, unit: str, is_null: Callable[[Any], bool]) -> float | None:
    """A latency (or a list of them, summed) in `unit` -> ms; unknown -> None."""
    if isinstance(value, list):
        parts = value
    elif isinstance(value, str) and _LIST_SEP.search(value):
        parts = [part.strip() for part in _LIST_SEP.split(value)]
    else:
        return _one_latency(value, unit)
    known = [
        ms for ms in (_one_latency(p, unit) for p in parts if not is_null(p)) if ms is not None
    ]
    return round(sum(known), 3) if known else None


def status(value: Any) -> int:
    code = integer(value)
    if not 100 <= code <= 599:
        raise BadValue(f"{code} not in 100-599")
    return code


def size(value: Any) -> int:
    count = integer(value)
    if count < 0:
        raise BadValue(f"negative ({count})")
    return count


def integer(value: Any) -> int:
    """An int, an integral float or a decimal string -> int (at most 2**63 - 1 in size)."""
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > _MAX_INT:
            raise BadValue(f"{value} out of range")
        return value
    raise BadValue(f"expected int, got {shown(value)}")


def _one_latency(value: Any, unit: str) -> float | None:
    ms = _duration_ms(value) if unit == DURATION else _number(value) * LATENCY_UNITS[unit]
    if ms < 0 or not math.isfinite(ms):
        return None
    return round(ms, 3)


def _number(value: Any) -> float:
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return float(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an int beyond float range
            return math.inf
    raise BadValue(f"expected number, got {shown(value)}")


def _duration_ms(value: Any) -> float:
    """A Go duration string ("41.2ms", "1m2.5s", "-1s", "0") -> ms."""
    text = value.strip() if isinstance(value, str) else ""
    sign, digits = (-1.0, text[1:]) if text[:1] == "-" else (1.0, text.removeprefix("+"))
    if digits == "0":
        return 0.0
    parts = _DURATION_PART.findall(digits)
    if not parts or "".join(n + u for n, u in parts) != digits:
        raise BadValue(f"expected a duration like '41.2ms', got {shown(value)}")
    return sign * sum(float(n) * _DURATION_MS[u] for n, u in parts)


def _decimal(value: Any, expected: str) -> Decimal:
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return Decimal(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, float) and math.isfinite(value):
        return Decimal(repr(value))  # the shortest repr: 1718012745.678 stays .678
    raise BadValue(f"{expected}, got {shown(value)}")


# --- text ----------------------------------------------------------------------------


def text(value: Any, unescape: str | None = None) -> str:
    """A string, a number as written, or the first element of a list -> str."""
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise BadValue(f"expected str, got {json_type(value)}")
    return _unescape(value, unescape) if unescape else value


def client_ip(value: str) -> str:
    """The first address of a comma list (X-Forwarded-For: "client, proxy1, proxy2")."""
    return value.partition(",")[0].strip()


def method(value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise BadValue(f"invalid method {shown(value)}")
    return value


def path(target: str) -> str:
    """A request target without query string, scheme and authority; never empty."""
    absolute = _ABSOLUTE.match(target)
    rest = target[absolute.end() :] if absolute else target
    result = rest.partition("?")[0]
    if absolute and not result:
        return "/"
    if not result:
        raise BadValue("empty")
    return result


def request_line(value: str) -> tuple[str, str]:
    """'GET /x?y HTTP/1.1' (or HTTP/0.9's 'GET /x') -> (method, path)."""
    parts = value.split(" ")
    if len(parts) not in (2, 3) or not all(parts):
        raise BadValue(f"expected 'METHOD TARGET PROTOCOL', got {shown(value)}")
    if len(parts) == 3 and not parts[2].startswith("HTTP/"):
        raise BadValue(f"invalid protocol {shown(parts[2])}")
    return method(parts[0]), path(parts[1])


def _unescape(value: str, style: str) -> str:
    """Escaped bytes back to bytes, then UTF-8 (invalid sequences -> U+FFFD)."""
    marker, escape = _ESCAPES[style]
    if marker not in value:
        return value
    raw = value.encode("utf-8", "surrogatepass")
    decoded = escape.sub(lambda m: bytes((int(m[1], 16),)), raw)
    return decoded.decode("utf-8", "replace")
