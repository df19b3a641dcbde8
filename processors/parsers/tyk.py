"""Tyk analytics records and gateway access logs -> `AccessEvent`s.

One parser for the three ways a Tyk request record reaches us, told apart per line:
- the tyk-pump **Kafka** message: a JSON subset of the `AnalyticsRecord` (`timestamp`,
  `response_code`, `request_time_ms`, `api_key`, `alias` …, plus any `meta_data` keys), one
  record per message; the full `AnalyticsRecord` JSON (`request_time`, `latency{total,
  upstream, gateway}`, `track_path` …) is read the same way;
- the tyk-pump **stdout** pump with `format: json`: a logrus entry whose
  `tyk-analytics-record` key holds the full record;
- the gateway's own **access log** (`access_logs.enabled`, Tyk >= 5.8) through logrus, as
  JSON (`log_format: json`: `{"level":"info","prefix":"access-log","status":200,…}`) or
  text (`time="…" level=info api_id=… latency_total=62 … prefix=access-log status=200`).
  Other gateway log entries (`prefix=main` …) in the same stream are rejected as such.

Units and mapping: latencies are integer milliseconds (`request_time_ms` / `request_time` /
`latency.total` / `latency_total` total, `latency.upstream` / `upstream_latency` upstream,
`latency.gateway` / `latency_gateway` gateway; when the gateway part is not logged it is
total - upstream, floored at 0). `timestamp` is Go RFC 3339 with nanoseconds and the
gateway's zone offset; it is converted to UTC and cut to milliseconds. `content_length` is
the *request* body size (Tyk's -1: unknown, other negative sizes are rejected); Tyk logs no
response size (`bytes_out` None) and no
request id (""). `path` is `original_path` (before listen-path stripping), else `raw_path`,
else `path`; `route` is `path` when `track_path` says it is a tracked endpoint template;
`api` is `api_name`, else `api_id`; `application` is `oauth_id` (the OAuth client); the
client IP is `ip_address` / `client_ip`. `org_id` (the tenant) has no event field.

Consumer and credential: `api_key` is the session token as Tyk logs it, hashed (`hash_keys`
on), obfuscated ("****" + last 4 characters) or in clear (both off); whatever it is, it is
hashed again with `ctx.hash_credential` into `credential_hash` and never copied (nor are
the `key-…` tags). Tyk's markers for "no key" ("", "00000000" (keyless API) and "--" (an
obfuscated short key)) give no credential. The consumer is `alias` (the key's alias,
usually the developer or app); without one it is `unknown:<hash prefix>`
(`apim.event.unknown_consumer`), and "anonymous" without a key. An obfuscated key only
identifies its last 4 characters, so keys sharing them share a consumer. Tyk logs paths
without their query string, so `query` is always "".

Decisions a caller may need:
- the access log's `time` is when the entry was written (the end of the request) and has
  second precision; it is used as is. Its text form by default has no year and no zone
  ("Jan 02 15:04:05", older releases): it is taken as UTC, in the latest year that does not
  put it more than a day after the current UTC time. Newer text logs and the JSON form
  carry RFC 3339 times with a zone;
- a `latency.upstream` of 0 is kept as 0 although Tyk also writes 0 when the gateway
  answered by itself (error, mock response): the two cannot be told apart.

Not supported (rejected, saying so where it can be recognised): the syslog pump (Go
`map[…]` text, not JSON), the stdout pump's `text` format, a stdout `log_field_name` other
than `tyk-analytics-record`, and JSON arrays (no Tyk pump batches records in a message).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from apim.event import AccessEvent, unknown_consumer
from processors.parsers import logrus_text
from processors.parsers.base import ParseContext, ParseResult, Rejected
from processors.parsers.fields import (
    BadValue,
    iso_time,
    json_type,
    latency_ms,
    method,
    path,
    remainder_ms,
    size,
    status,
)
from processors.parsers.json_framing import convert

GATEWAY = "tyk"
STDOUT_RECORD_FIELD = "tyk-analytics-record"
ACCESS_LOG_PREFIX = "access-log"
NO_KEY = frozenset({"", "00000000", "--"})
"""`api_key` values that mean "no key": none, keyless API, obfuscated short key."""
UNKNOWN_LENGTH = -1
"""The `content_length` Tyk logs when it does not know it."""
_FUTURE_SLACK = timedelta(days=1)
_YEARLESS = re.compile(r"([A-Z][a-z]{2}) (\d{2}) (\d{2}):(\d{2}):(\d{2})", re.ASCII)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


class _Latency(msgspec.Struct, gc=False):
    total: float | None = None
    upstream: float | None = None
    gateway: float | None = None


class _AnalyticsRecord(msgspec.Struct, gc=False):
    timestamp: str
    method: str
    response_code: int
    path: str = ""
    raw_path: str = ""
    original_path: str = ""
    track_path: bool = False
    api_name: str = ""
    api_id: str = ""
    api_key: str = ""
    alias: str = ""
    oauth_id: str = ""
    ip_address: str = ""
    user_agent: str = ""
    content_length: int | None = None
    request_time_ms: float | None = None  # Kafka pump
    request_time: float | None = None  # full record
    latency: _Latency | None = None


class _AccessLog(msgspec.Struct, gc=False):
    time: str
    method: str
    status: int
    path: str = ""
    original_path: str = ""
    api_name: str = ""
    api_id: str = ""
    api_key: str = ""
    client_ip: str = ""
    user_agent: str = ""
    latency_total: float | None = None
    upstream_latency: float | None = None
    latency_gateway: float | None = None


_PUMP_DECODER = msgspec.json.Decoder(_AnalyticsRecord)


def parse(line: bytes, ctx: ParseContext) -> list[ParseResult]:
    """Parse one Tyk line (pump record, stdout entry or access log) into one result."""
    if not line.strip():
        return [Rejected("empty line", line)]
    try:
        return [_parse_record(line, ctx)]
    except BadValue as exc:
        return [Rejected(str(exc), line)]
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return [Rejected(f"invalid JSON: {exc}", line)]


def _parse_record(line: bytes, ctx: ParseContext) -> AccessEvent:
    start = line.lstrip()[:5]
    if start == b"time=":
        return _from_text(line, ctx)
    if start.startswith(b"map["):
        raise BadValue("syslog pump output (Go map text) is not supported")
    try:
        return _record_event(_PUMP_DECODER.decode(line), ctx)  # fast path: the Kafka message
    except msgspec.ValidationError:
        return _from_json(msgspec.json.decode(line), ctx)


def _from_json(raw: Any, ctx: ParseContext) -> AccessEvent:
    """Tell the JSON shapes apart; the one that matches must fit its type."""
    if not isinstance(raw, dict):
        raise BadValue(f"expected a JSON object, got {json_type(raw)}")
    if STDOUT_RECORD_FIELD in raw:
        record = convert(raw[STDOUT_RECORD_FIELD], _AnalyticsRecord, where=STDOUT_RECORD_FIELD)
        return _record_event(record, ctx)
    if "level" in raw:  # a logrus entry of the gateway, not an analytics record
        return _access_event(convert(_access_entry(raw), _AccessLog), ctx)
    return _record_event(convert(raw, _AnalyticsRecord), ctx)


def _from_text(line: bytes, ctx: ParseContext) -> AccessEvent:
    try:
        found = logrus_text.fields(line)
    except logrus_text.NotLogrusText as exc:
        raise BadValue(f"text log line: {exc}") from None
    return _access_event(convert(_access_entry(found), _AccessLog, strict=False), ctx)


def _access_entry(entry: dict[str, Any]) -> dict[str, Any]:
    prefix = entry.get("prefix")
    if prefix != ACCESS_LOG_PREFIX:
        raise BadValue(f"not an access-log entry nor a {STDOUT_RECORD_FIELD} (prefix {prefix!r})")
    return entry


def _record_event(rec: _AnalyticsRecord, ctx: ParseContext) -> AccessEvent:
    lat = rec.latency or _Latency()
    total = _known(lat.total, rec.request_time_ms, rec.request_time)
    length = rec.content_length
    consumer, credential_hash = _identity(rec.api_key, rec.alias, ctx)
    return AccessEvent(
        event_time=iso_time("timestamp", rec.timestamp),
        gateway=GATEWAY,
        api=rec.api_name or rec.api_id,
        route=rec.path if rec.track_path else "",
        method=method("method", rec.method),
        path=path("path", rec.original_path or rec.raw_path or rec.path),
        status=status("response_code", rec.response_code),
        latency_ms=latency_ms("latency.total", total),
        upstream_latency_ms=latency_ms("latency.upstream", lat.upstream),
        gateway_latency_ms=_gateway_ms(total, lat.upstream, lat.gateway),
        bytes_in=size("content_length", None if length == UNKNOWN_LENGTH else length),
        consumer=consumer,
        application=rec.oauth_id,
        credential_hash=credential_hash,
        client_ip=rec.ip_address,
        user_agent=rec.user_agent,
        source=ctx.source,
    )


def _access_event(entry: _AccessLog, ctx: ParseContext) -> AccessEvent:
    consumer, credential_hash = _identity(entry.api_key, "", ctx)
    return AccessEvent(
        event_time=_log_time(entry.time),
        gateway=GATEWAY,
        api=entry.api_name or entry.api_id,
        method=method("method", entry.method),
        path=path("path", entry.original_path or entry.path),
        status=status("status", entry.status),
        latency_ms=latency_ms("latency_total", entry.latency_total),
        upstream_latency_ms=latency_ms("upstream_latency", entry.upstream_latency),
        gateway_latency_ms=_gateway_ms(
            entry.latency_total, entry.upstream_latency, entry.latency_gateway
        ),
        consumer=consumer,
        credential_hash=credential_hash,
        client_ip=entry.client_ip,
        user_agent=entry.user_agent,
        source=ctx.source,
    )


def _identity(api_key: str, alias: str, ctx: ParseContext) -> tuple[str, str]:
    """(consumer, credential_hash): the alias, else the unknown consumer of the key's hash."""
    credential_hash = "" if api_key in NO_KEY else ctx.hash_credential(api_key)
    return alias or unknown_consumer(credential_hash), credential_hash


def _known(*values: float | None) -> float | None:
    """The first value that was logged."""
    return next((v for v in values if v is not None), None)


def _gateway_ms(total: float | None, upstream: float | None, gateway: float | None) -> float | None:
    """The gateway's own time as logged, else total - upstream (floored at 0)."""
    if gateway is not None:
        return latency_ms("latency.gateway", gateway)
    return remainder_ms(
        latency_ms("latency.total", total), latency_ms("latency.upstream", upstream)
    )


def _log_time(text: str) -> datetime:
    """A logrus time: RFC 3339, or Tyk's default text stamp "Jan 02 15:04:05" (no year, UTC)."""
    m = _YEARLESS.fullmatch(text)
    if m is None:
        return iso_time("time", text)
    month = _MONTHS.get(m[1])
    day, hour, minute, second = (int(g) for g in m.group(2, 3, 4, 5))
    latest = _utc_now() + _FUTURE_SLACK
    for year in (latest.year, latest.year - 1):
        try:
            candidate = datetime(year, month or 0, day, hour, minute, second, tzinfo=UTC)
        except ValueError:  # no such month, 29 Feb of a common year, hour 24 …
            continue
        if candidate <= latest:
            return candidate
    raise BadValue(f"time: {text!r} is not a date of the past year")


def _utc_now() -> datetime:
    """The current UTC time (the reference for times logged without a year)."""
    return datetime.now(UTC)
