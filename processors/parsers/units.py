"""Gateway units that `convert` does not cover, turned into the event's: ms and UTC times.

Durations: seconds (Caddy `duration`), nanoseconds (Traefik `Duration`) and Go duration
strings ("41.2ms", "1m3.5s": Caddy `duration_format string`, KrakenD) become milliseconds
through `convert.latency_ms`, so the same rules hold: a missing, negative or not finite
latency is unknown (`None`), known ones are rounded to µs.

Times: epoch seconds (Caddy `ts`, Envoy `%START_TIME(%s.%3f)%`) and the Common Log Format
time ("10/Jun/2024:11:45:45 +0200", Traefik CLF) become UTC datetimes with millisecond
precision (epoch seconds are rounded to the ms, as `convert` does), in the range `convert`
accepts (1973 .. 2286), so a time in milliseconds given where seconds are expected is
rejected rather than misread.

`gateway_ms` is the gateway's own share of a request when it logs only the total and the
upstream time (Envoy, Traefik without `Overhead`).

The functions that take a `field` name raise `convert.BadValue` (its message a ready
`Rejected` reason naming that field) for a value they cannot read.

Not supported: negative Go durations (rejected), CLF month names other than English.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from processors.parsers.convert import BadValue, latency_ms, utc_from_epoch_ms, utc_in_range

_MIN_EPOCH_S = 1e8  # 1973-03-03, as convert's epoch-ms range
_MAX_EPOCH_S = 1e10  # 2286-11-20
_GO_UNIT_MS = {
    "ns": 1e-6,
    "us": 1e-3,
    "µs": 1e-3,  # U+00B5 MICRO SIGN, what Go prints
    "μs": 1e-3,  # U+03BC GREEK SMALL LETTER MU, also accepted by Go
    "ms": 1.0,
    "s": 1e3,
    "m": 6e4,
    "h": 3.6e6,
}
_GO_TERM = r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)"
_GO_DURATION = re.compile(f"(?:{_GO_TERM})+", re.ASCII)
_GO_TERMS = re.compile(_GO_TERM, re.ASCII)
_CLF_TIME = re.compile(
    r"(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})", re.ASCII
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def ms_from_seconds(value: float | None) -> float | None:
    """Seconds (int or float) -> milliseconds; missing, negative or not finite -> `None`."""
    return None if value is None else latency_ms(value * 1e3)


def ms_from_ns(value: int | None) -> float | None:
    """Nanoseconds -> milliseconds; missing or negative -> `None`."""
    return None if value is None else latency_ms(value / 1e6)


def ms_from_go_duration(field: str, text: str) -> float | None:
    """A Go `time.Duration` string ("41.234567ms", "1m3.5s", "850µs", "0") -> milliseconds."""
    if text == "0":
        return 0.0
    if not _GO_DURATION.fullmatch(text):
        raise BadValue(f"{field}: expected a Go duration such as '41.2ms', got {text[:40]!r}")
    return latency_ms(sum(float(n) * _GO_UNIT_MS[unit] for n, unit in _GO_TERMS.findall(text)))


def utc_from_epoch_seconds(field: str, value: float) -> datetime:
    """Epoch seconds (int or float) -> UTC datetime, rounded to the millisecond."""
    if not _MIN_EPOCH_S <= value < _MAX_EPOCH_S:  # also false for NaN
        raise BadValue(f"{field}: {value!r} is not epoch seconds")
    return utc_from_epoch_ms(field, value * 1e3)


def utc_from_clf(field: str, text: str) -> datetime:
    """A Common Log Format time "10/Jun/2024:11:45:45 +0200" -> UTC datetime."""
    m = _CLF_TIME.fullmatch(text)
    month = _MONTHS.get(m[2]) if m else None
    if m is None or month is None:
        raise BadValue(f"{field}: expected dd/Mon/yyyy:HH:MM:SS +hhmm, got {text[:40]!r}")
    day, year, hour, minute, second = (int(g) for g in m.group(1, 3, 4, 5, 6))
    offset = timedelta(hours=int(m[8]), minutes=int(m[9]))
    try:
        zone = timezone(-offset if m[7] == "-" else offset)
        local = datetime(year, month, day, hour, minute, second, 0, zone)
    except ValueError as exc:
        raise BadValue(f"{field}: {exc}: {text!r}") from None
    return utc_in_range(field, local, text)


def gateway_ms(total: float | None, upstream: float | None) -> float | None:
    """The gateway's own share of a request, total - upstream (at least 0); unknown if either is."""
    if total is None or upstream is None:
        return None
    return max(0.0, round(total - upstream, 3))
