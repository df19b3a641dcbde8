"""Logged field values -> the units of `AccessEvent`: the one set of value rules of every parser.

Each function takes a field's name and the value as the gateway logged it (a JSON number,
string or list, or a regex group's text) and returns the event's value, or raises
`BadValue`, whose message is the `Rejected` reason and names the field first
("response.status: 42 not in 100-599"). A parser lets one `except BadValue` turn any bad
field into a rejection; a mapping passes the name of the source it read.

Rules, the same for every built-in parser and every mapping:
- "not logged": `None`, "" and "-" (`unknown`). An optional field is then `None` (numbers)
  or "" (text); a required one (status, times) is rejected as "<field>: missing required
  field". A mapping chooses its own null values (`is_null`) and filters them first.
- numbers may be text, as templates write them ("200", "0.041", "+165" from HAProxy's
  logasap, "1e3"); integers may also be integral floats (1530.0), never booleans, and have
  at most 18 digits in text and 2**63 - 1 in size;
- status: 100-599. Sizes: bytes, never negative: a negative size is rejected. A gateway
  whose logs say "unknown" with -1 (Gravitee, Tyk) maps -1 to `None` itself, as a mapping
  does with `null_values: [-1]`;
- latencies become milliseconds rounded to 0.001 (µs); a negative or not finite one is
  unknown (`None`), as Kong's and HAProxy's -1. Units: ms, s, us, ns, and Go duration
  strings ("41.2ms", "1m3.5s", "850µs"). A list, a JSON array or nginx's "0.010, 0.020"
  (retries) / "0.010 : 0.020" (internal redirects), is summed, unknown entries skipped;
- times become UTC datetimes TRUNCATED to the millisecond (finer digits are dropped, never
  rounded up: epoch numbers and text alike) and must fall in 1973-03-03 .. 2286-11-20
  (epoch ms 1e11 .. 1e13), since a wrong epoch unit or a zero time gives the others. Epoch
  numbers are read exactly (1718012745.678 s is .678, not .677999). Text times are ISO 8601
  as `datetime.fromisoformat` reads it (RFC 3339 included: "Z", "+02:00" or "+0200", any
  number of fraction digits), CLF "10/Jun/2024:11:45:45 +0200", or a mapping's `strptime`
  format. A time without offset is rejected, unless the caller gives its zone;
- a method is an RFC 9110 token ("GET", "PROPFIND"); a path is the request target without
  its query string, and an absolute-form target ("https://host/x") keeps only its path ("/"
  when it has none); an empty path is rejected. The query is what follows the first "?" as
  logged (no decoding), without a "#fragment". A request line is "METHOD TARGET PROTOCOL",
  or HTTP/0.9's "METHOD TARGET";
- request headers (`header_map`) keep their names lower-cased and their values as text; a
  query-argument object (`query_string`) is form-encoded back into a query string.

Not supported: CLF month names other than English, lower-case "t" / "z" in ISO 8601 times,
epoch values with more than 3 exponent digits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus, urlencode

Loose = str | int | float | None
"""A logged value: a JSON number, a number in a string, or unknown (None, "" or "-")."""


class BadValue(ValueError):
    """A field holds a value the event cannot take; the message is the reason, field first."""


def unknown(value: Any) -> bool:
    """True for a value the gateway did not log: null, "" or "-"."""
    return value is None or value == "" or value == "-"


def first(*values: Loose) -> Loose:
    """The first known value, or None."""
    return next((value for value in values if not unknown(value)), None)


def first_named(*pairs: tuple[str, Loose]) -> tuple[str, Loose]:
    """The first known (name, value) pair; the first name with None when none is known."""
    return next(((n, v) for n, v in pairs if not unknown(v)), (pairs[0][0], None))


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type ("object", "array", "null", "str", "int" ...)."""
    if value is None:
        return "null"
    return {dict: "object", list: "array"}.get(type(value), type(value).__name__)


def shown(value: Any) -> str:
    """A value for a message: strings quoted and cut, numbers as is, others by JSON type."""
    if isinstance(value, str):
        return repr(value[:40])
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return json_type(value)


def _missing(field: str) -> BadValue:
    return BadValue(f"{field}: missing required field")


# --- text ------------------------------------------------------------------------------

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 method token
_COMMON_METHODS = frozenset(("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"))
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?]*")
_ESCAPES = {  # marker, escape
    "haproxy": (b"#", re.compile(rb"#([0-9A-Fa-f]{2})")),  # HAProxy's request line and captures
    "nginx": (b"\\x", re.compile(rb"\\x([0-9A-Fa-f]{2})")),  # nginx's default log escaping
}
UNESCAPES = tuple(_ESCAPES)
"""The escape styles `unescape` reverses."""


def text(value: Loose) -> str:
    """A text field: "" when unknown."""
    return "" if unknown(value) else str(value)


def required_text(field: str, value: Loose) -> str:
    """A text field that must be known."""
    if unknown(value):
        raise _missing(field)
    return str(value)


def header(value: str | list[str] | None) -> str:
    """A header value: a repeated header is a list, whose first value is used; "" if none."""
    if isinstance(value, list):
        return value[0] if value else ""
    return value or ""


def first_value(field: str, value: Any, *, flags: bool = False) -> str:
    """An untyped header or query-argument value: text; a repeated one (an array): the first;
    null: "". With `flags`, a boolean (an argument without value) gives "" too. Other JSON
    types are rejected."""
    kind = type(value)
    if kind is str:
        return value
    if value is None or (flags and kind is bool):
        return ""
    if kind is list:
        head = value[0] if value else ""
        if type(head) is str:
            return head
        if flags and type(head) is bool:
            return ""
        raise BadValue(f"{field}[0]: expected str, got {json_type(head)}")
    expected = "bool | str | array | null" if flags else "str | array | null"
    raise BadValue(f"{field}: expected {expected}, got {json_type(value)}")


_MANY_HEADERS = 6  # from here on, checking and copying in C beats the loop
_is_text = str.__instancecheck__


def header_map(headers: dict[str, Any] | None) -> dict[str, str]:
    """Logged request headers as the event keeps them: names lower-cased, a repeated header
    (an array) joined with ", ", numbers and booleans as JSON text; null and objects skipped.
    A name logged twice in different cases keeps the last value."""
    if not headers:
        return {}
    if len(headers) >= _MANY_HEADERS:
        names = "".join(headers)
        if names == names.lower() and all(map(_is_text, headers.values())):
            return dict(headers)  # the common case: lower-case names, text values
    kept: dict[str, str] = {}
    for name, value in headers.items():
        if type(value) is not str:
            value = _header_text(value)
            if value is None:
                continue
        kept[name.lower()] = value
    return kept


def _header_text(value: Any) -> str | None:
    if type(value) is not list:
        return _scalar_text(value)
    try:
        joined = ", ".join(value)  # the common case: every value is text
    except TypeError:
        value = [text for text in map(_scalar_text, value) if text is not None]
        joined = ", ".join(value)
    return joined if value else None


def _scalar_text(value: Any) -> str | None:
    """A JSON scalar as text (booleans as JSON spells them); None for null, arrays, objects."""
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return str(value)
    return None


_QUERY_VALUES = (str, int, float)


def query_string(arguments: Any) -> str:
    """The query string of a decoded query-argument object (Kong's and APISIX's
    `request.querystring`): form-encoded (`urlencode`) in the logged order, a repeated
    argument (an array) once per value, a flag without value (`true`) as its bare name;
    null, `false` and nested values are skipped. "" for anything but an object."""
    if not arguments or type(arguments) is not dict:
        return ""
    parts = []
    for name, value in arguments.items():
        for item in value if type(value) is list else (value,):
            if item is True:
                parts.append(quote_plus(name))
            elif type(item) in _QUERY_VALUES:
                parts.append(urlencode({name: str(item)}))
    return "&".join(parts)


def any_text(field: str, value: Any, escapes: str | None = None) -> str:
    """Any JSON value as text: a number as written, a list by its first element."""
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise BadValue(f"{field}: expected str, got {json_type(value)}")
    return unescape(value.encode("utf-8", "surrogatepass"), escapes) if escapes else value


def unescape(raw: bytes, style: str) -> str:
    r"""Escaped bytes (`style` in `UNESCAPES`: HAProxy's "#HH", nginx's "\xHH") back to bytes,
    then UTF-8 (invalid sequences -> U+FFFD)."""
    marker, escape = _ESCAPES[style]
    if raw.find(marker) != -1:  # much faster than `marker in raw` for bytes
        raw = escape.sub(lambda m: bytes((int(m[1], 16),)), raw)
    return raw.decode("utf-8", "replace")


def method(field: str, value: str) -> str:
    """An HTTP method: an RFC 9110 token."""
    if value in _COMMON_METHODS:
        return value
    if not value:
        raise BadValue(f"{field}: empty")
    if not _TOKEN.fullmatch(value):
        raise BadValue(f"{field}: invalid method {shown(value)}")
    return value


def path(field: str, target: str) -> str:
    """The path of a request target: no query string, no scheme and authority; never empty."""
    return split_target(field, target)[0]


def split_target(field: str, target: str) -> tuple[str, str]:
    """(path, query) of a request target: the path as `path` reads it, and the text after the
    first "?" as logged, without a "#fragment" ("" when there is none)."""
    if target[:1] == "/":  # the common case: origin form, never an empty path
        result, _, query = target.partition("?")
    else:
        absolute = _ABSOLUTE.match(target)
        result, _, query = (target[absolute.end() :] if absolute else target).partition("?")
        if not result:
            if not absolute:
                empty = f"{field}: empty path ({shown(target)})" if target else f"{field}: empty"
                raise BadValue(empty)
            result = "/"
    return result, query.partition("#")[0]


def request_line(field: str, value: str) -> tuple[str, str]:
    """(method, path) of "GET /x?y=1 HTTP/1.1", or of HTTP/0.9's "GET /x"."""
    logged_method, logged_path, _ = split_request_line(field, value)
    return logged_method, logged_path


def split_request_line(field: str, value: str) -> tuple[str, str, str]:
    """(method, path, query) of "GET /x?y=1 HTTP/1.1", or of HTTP/0.9's "GET /x"."""
    parts = value.split(" ")
    if len(parts) not in (2, 3) or "" in parts:
        raise BadValue(f"{field}: expected 'METHOD TARGET PROTOCOL', got {shown(value)}")
    if len(parts) == 3 and not parts[2].startswith("HTTP/"):
        raise BadValue(f"{field}: invalid protocol {shown(parts[2])}")
    return method(field, parts[0]), *split_target(field, parts[1])


# --- numbers ---------------------------------------------------------------------------

_INTEGER = re.compile(r"[+-]?\d{1,18}", re.ASCII)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?", re.ASCII)
_MAX_INT = 2**63 - 1
_INF = math.inf
_LIST_SEP = re.compile(r"[,:]")
LATENCY_UNITS = {"ms": 1.0, "s": 1000.0, "us": 0.001, "ns": 0.000001}
"""Numeric latency units and their size in milliseconds (plus `DURATION`, Go strings)."""
DURATION = "duration"
_UNIT_NAMES = {"ms": "milliseconds", "s": "seconds", "us": "microseconds", "ns": "nanoseconds"}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", re.ASCII)
_DURATION_MS = {
    "ns": 1e-6,
    "us": 1e-3,
    "µs": 1e-3,  # U+00B5 MICRO SIGN, what Go prints
    "μs": 1e-3,  # U+03BC GREEK SMALL LETTER MU, also accepted by Go
    "ms": 1.0,
    "s": 1e3,
    "m": 6e4,
    "h": 3.6e6,
}


def status(field: str, value: Any) -> int:
    """The HTTP status sent to the client: required, 100-599."""
    code = value if type(value) is int else _integer(field, value, "a status code")
    if code is None:
        raise _missing(field)
    if not 100 <= code <= 599:
        raise BadValue(f"{field}: {code} not in 100-599")
    return code


def size(field: str, value: Any) -> int | None:
    """A byte count: a non-negative integer; unknown -> `None`."""
    if value is None:
        return None
    count = value if type(value) is int else _integer(field, value, "a byte count")
    if count is not None and not 0 <= count <= _MAX_INT:
        raise BadValue(
            f"{field}: negative ({count})" if count < 0 else f"{field}: {count} too large"
        )
    return count


def _integer(field: str, value: Any, expected: str) -> int | None:
    """An integer from a JSON number or text (not a bool); unknown -> `None`."""
    if type(value) is str:
        if value.isdigit() and value.isascii() and len(value) <= 18:
            return int(value)  # the common case
        if _INTEGER.fullmatch(value.strip()):
            return int(value)
    if unknown(value):
        return None
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is int and abs(value) <= _MAX_INT:
        return value
    raise BadValue(f"{field}: expected {expected}, got {shown(value)}")


def latency_ms(
    field: str, value: Any, unit: str = "ms", is_null: Callable[[Any], bool] = unknown
) -> float | None:
    """A latency (or a list of them, summed) in `unit` -> ms; unknown or negative -> `None`.

    `unit` is a `LATENCY_UNITS` key or `DURATION`; `is_null` says which values (and list
    entries) were not logged."""
    if value is None:
        return None
    kind = type(value)
    if kind is float:  # the common case: JSON numbers of ms
        if unit == "ms" and 0 <= value < _INF:
            return value if value.is_integer() else round(value, 3)
        return _one_latency(field, value, unit)
    if kind is int:
        if unit == "ms" and 0 <= value <= _MAX_INT:
            return float(value)
        return _one_latency(field, value, unit)
    if kind is list:
        return _sum_ms(field, value, unit, is_null)
    if kind is str and ("," in value or ":" in value):
        return _sum_ms(field, [part.strip() for part in _LIST_SEP.split(value)], unit, is_null)
    return None if is_null(value) else _one_latency(field, value, unit)


def remainder_ms(total: float | None, spent: float | None) -> float | None:
    """`total` minus the part `spent` elsewhere (e.g. upstream), never below 0; else unknown."""
    if total is None or spent is None:
        return None
    return max(0.0, round(total - spent, 3))


def _sum_ms(
    field: str, parts: list[Any], unit: str, is_null: Callable[[Any], bool]
) -> float | None:
    known = [_one_latency(field, part, unit) for part in parts if not is_null(part)]
    total = [ms for ms in known if ms is not None]
    return round(sum(total), 3) if total else None


def _one_latency(field: str, value: Any, unit: str) -> float | None:
    if unit == DURATION:
        ms = _duration_ms(field, value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            ms = value * LATENCY_UNITS[unit]
        except OverflowError:  # an int beyond float range
            return None
    elif isinstance(value, str) and (_is_decimal(value) or _is_number(value)):
        ms = float(value) * LATENCY_UNITS[unit]
    else:
        raise BadValue(f"{field}: expected {_UNIT_NAMES[unit]}, got {shown(value)}")
    return round(ms, 3) if 0 <= ms < _INF else None  # also None for NaN


def _is_decimal(text: str) -> bool:
    """Digits with at most one dot, the common case of a number in text (before the regex)."""
    digits = text.replace(".", "", 1)
    return digits.isdigit() and digits.isascii()


def _is_number(text: str) -> bool:
    return _NUMBER.fullmatch(text.strip()) is not None


def _duration_ms(field: str, value: Any) -> float:
    """A Go duration string ("41.2ms", "1m2.5s", "-1s", "0") -> ms."""
    text = value.strip() if isinstance(value, str) else ""
    sign, digits = (-1.0, text[1:]) if text[:1] == "-" else (1.0, text.removeprefix("+"))
    if digits == "0":
        return 0.0
    parts = _DURATION_PART.findall(digits)
    if not parts or "".join(n + u for n, u in parts) != digits:
        raise BadValue(f"{field}: expected a duration like '41.2ms', got {shown(value)}")
    return sign * sum(float(n) * _DURATION_MS[u] for n, u in parts)


# --- times -----------------------------------------------------------------------------

EPOCH_UNITS = {
    "epoch_s": Decimal(1000),
    "epoch_ms": Decimal(1),
    "epoch_us": Decimal("0.001"),
    "epoch_ns": Decimal("0.000001"),
}
"""Epoch time units and their size in milliseconds."""
_EPOCH_NAMES = {
    "epoch_s": "epoch seconds",
    "epoch_ms": "epoch milliseconds",
    "epoch_us": "epoch microseconds",
    "epoch_ns": "epoch nanoseconds",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_MS = 100_000_000_000  # 1973-03-03: anything earlier is most likely a wrong epoch unit
_MAX_MS = 10_000_000_000_000  # 2286-11-20
_EXACT_MS = 2**33 * 1000  # 2242: below, whole ms as float seconds are within 0.5 µs of exact
_MIN_TIME = _EPOCH + timedelta(milliseconds=_MIN_MS)
_MAX_TIME = _EPOCH + timedelta(milliseconds=_MAX_MS)
_CLF_TIME = re.compile(
    r"(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})", re.ASCII
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


class _NotTheFormat(ValueError):
    """A time text that is not in the format at all; the message says what was expected."""


def epoch_time(field: str, value: Any, unit: str = "epoch_ms") -> datetime:
    """Epoch seconds / ms / us / ns (`unit` in `EPOCH_UNITS`), a number or numeric text."""
    kind = type(value)
    if (kind is int or kind is float) and unit == "epoch_ms" and _MIN_MS <= value < _EXACT_MS:
        return datetime.fromtimestamp(int(value) / 1000, UTC)  # the common case, made fast
    name = _EPOCH_NAMES[unit]
    return _from_epoch_ms(field, value, _decimal(field, value, name) * EPOCH_UNITS[unit], name)


def epoch_s_or_ms(field: str, value: Any) -> datetime:
    """Epoch seconds ("1718012745.678") or milliseconds ("1718012745678"), told by magnitude."""
    name = "epoch seconds or milliseconds"
    number = _decimal(field, value, name)
    return _from_epoch_ms(field, value, number if number >= _MIN_MS else number * 1000, name)


def _decimal(field: str, value: Any, name: str) -> Decimal:
    """A number, exactly: a float by its shortest repr (1718012745.678 stays .678)."""
    if unknown(value):
        raise _missing(field)
    if isinstance(value, str) and _is_number(value):
        return Decimal(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, float) and math.isfinite(value):
        return Decimal(repr(value))
    raise BadValue(f"{field}: expected {name}, got {shown(value)}")


def _from_epoch_ms(field: str, value: Any, ms: Decimal, name: str) -> datetime:
    if not _MIN_MS <= ms < _MAX_MS:
        raise BadValue(f"{field}: {shown(value)} is not {name}")
    return _EPOCH + timedelta(0, 0, 0, int(ms))  # milliseconds; int() truncates: ms >= 0


def iso8601(text: str) -> datetime:
    """Parse ISO 8601 (naive or not); the default parser of `text_time`."""
    if text[4:5] == "-" and text[10:11] not in ("T", " ", ""):  # fromisoformat takes any
        raise _NotTheFormat("an ISO 8601 time")
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        if str(exc).startswith("Invalid isoformat string"):
            raise _NotTheFormat("an ISO 8601 time") from None
        raise  # "day is out of range for month", "hour must be in 0..23" ...


def strptime(fmt: str) -> Callable[[str], datetime]:
    """A parser of `text_time` for a `datetime.strptime` format."""

    def parse(text: str) -> datetime:
        try:
            return datetime.strptime(text, fmt)
        except ValueError as exc:
            if str(exc).startswith("time data"):  # "time data '…' does not match format '…'"
                raise ValueError(f"does not match {fmt!r}") from None
            raise  # "day is out of range for month", "unconverted data remains: …"

    return parse


def text_time(
    field: str,
    value: Any,
    parse: Callable[[str], datetime] = iso8601,
    zone: tzinfo | None = None,
) -> datetime:
    """A time in text, read by `parse` (ISO 8601 by default); a naive time is in `zone`."""
    if unknown(value):
        raise _missing(field)
    if not isinstance(value, str):
        raise BadValue(f"{field}: expected a time string, got {json_type(value)}")
    try:
        parsed = parse(value.strip())
    except _NotTheFormat as exc:
        raise BadValue(f"{field}: expected {exc}, got {shown(value)}") from None
    except (ValueError, OverflowError) as exc:
        raise BadValue(f"{field}: {exc}: {shown(value)}") from None
    if parsed.tzinfo is None:
        if zone is None:
            raise BadValue(f"{field}: no UTC offset in {shown(value)}")
        parsed = parsed.replace(tzinfo=zone)
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError:
        utc = _EPOCH  # before year 1 or after 9999 in UTC: out of range below
    if not _MIN_TIME <= utc < _MAX_TIME:
        raise BadValue(f"{field}: {shown(value)} is before 1973 or after 2286")
    return truncate_ms(utc)


def iso_time(field: str, value: Any) -> datetime:
    """An ISO 8601 time with an offset -> UTC."""
    return text_time(field, value)


@lru_cache(maxsize=4096)  # text logs repeat the same second many times
def clf_time(field: str, value: str) -> datetime:
    """A Common Log Format time "10/Jun/2024:11:45:45 +0200" -> UTC."""
    return text_time(field, value, _clf)


def _clf(text: str) -> datetime:
    m = _CLF_TIME.fullmatch(text)
    month = _MONTHS.get(m[2]) if m else None
    if m is None or month is None:
        raise _NotTheFormat("dd/Mon/yyyy:HH:MM:SS +hhmm")
    day, year, hour, minute, second = (int(g) for g in m.group(1, 3, 4, 5, 6))
    offset = timedelta(hours=int(m[8]), minutes=int(m[9]))
    zone = timezone(-offset if m[7] == "-" else offset)  # ValueError from 24:00 on
    return datetime(year, month, day, hour, minute, second, 0, zone)


def truncate_ms(moment: datetime) -> datetime:
    """`moment` without its sub-millisecond part."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
