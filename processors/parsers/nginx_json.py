r"""NGINX access logs written by a JSON `log_format` (`escape=json`) -> `AccessEvent`s.

One JSON object per line, as nginx writes it with a template such as

    log_format api_json escape=json '{"ts":"$time_iso8601","msec":"$msec","status":"$status",'
        '"method":"$request_method","uri":"$request_uri","request_time":"$request_time",...}';

Key names are the template author's choice; these are read (the first known one wins) and
any other key is ignored:

    event time   msec, time_iso8601, time_local, timestamp, time, ts, @timestamp; each is
                 read by its shape: epoch seconds, ISO 8601 with offset, or CLF
    method, path request_method or method, with request_uri or uri; else request
                 ("GET /x?y HTTP/1.1")
    status       status
    bytes_out    bytes_sent (headers + body), else body_bytes_sent
    bytes_in     request_length
    latency      request_time (seconds)
    upstream     upstream_response_time (seconds)
    client_ip    remote_addr
    consumer     remote_user
    credential   http_x_api_key (hashed with `ctx.hash_credential`, never copied)
    user_agent   http_user_agent, else user_agent
    request_id   request_id

nginx interpolates variables into the template, so numbers usually arrive as strings; JSON
numbers (unquoted variables) are read too. A variable without a value is "" under
`escape=json`, and some are "-" (`$upstream_response_time` when no upstream was tried):
both mean unknown. `$upstream_response_time` has one time per upstream tried, separated by
commas after retries and by colons across internal redirects ("0.010, 0.020 : 0.005"):
the times are summed, "-" entries skipped.

Decisions a caller may need:
- nginx logs the time at which the request *ended*; the event time is that time minus
  `$request_time` when it is known, so that it is the request start as for other gateways;
- path is `$request_uri` without the query string, which goes to `query` as logged; `$uri`
  is used only when `$request_uri` is not logged (nginx has already decoded and normalised
  it, and it has no query string: `query` is then "");
- `escape=json` copies bytes >= 0x80 as they are, so a non-UTF-8 URI or user agent makes
  the line invalid UTF-8: such bytes become U+FFFD instead of losing the line;
- the consumer is `$remote_user`; when it is unknown but an API key was logged, it is
  `unknown:<hash prefix>` (`apim.event.unknown_consumer`); otherwise "anonymous". `api` and
  `route` are always "".

Not supported (rejected): templates without `escape=json` (nginx's `\xHH` escapes are not
JSON and `escape=none` breaks on quotes), unquoted variables that log "-" or a list
(invalid JSON), syslog-prefixed lines and JSON arrays.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from apim.event import AccessEvent, unknown_consumer
from processors.parsers.base import ParseContext, ParseResult, Rejected
from processors.parsers.fields import (
    BadValue,
    Loose,
    clf_time,
    epoch_s_or_ms,
    first,
    first_named,
    iso_time,
    latency_ms,
    method,
    remainder_ms,
    size,
    split_request_line,
    split_target,
    status,
    text,
    truncate_ms,
    unknown,
)
from processors.parsers.json_framing import decode_record

GATEWAY = "nginx"
_TIME_KEYS = ("msec", "time_iso8601", "time_local", "timestamp", "time", "ts", "@timestamp")


class _Record(msgspec.Struct, gc=False):
    msec: Loose = None
    time_iso8601: str | None = None
    time_local: str | None = None
    timestamp: Loose = None
    time: Loose = None
    ts: Loose = None
    at_timestamp: Loose = msgspec.field(default=None, name="@timestamp")
    request: str | None = None
    request_method: str | None = None
    method: str | None = None
    request_uri: str | None = None
    uri: str | None = None
    status: Loose = None
    bytes_sent: Loose = None
    body_bytes_sent: Loose = None
    request_length: Loose = None
    request_time: Loose = None
    upstream_response_time: Loose = None
    remote_addr: str | None = None
    remote_user: str | None = None
    http_x_api_key: str | None = None
    http_user_agent: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


_DECODER = msgspec.json.Decoder(_Record)


def parse(line: bytes, ctx: ParseContext) -> list[ParseResult]:
    """Parse one JSON access-log line into one event, or one `Rejected` saying why not."""
    if not line.strip():
        return [Rejected("empty line", line)]
    try:
        return [_to_event(decode_record(_decode, line), ctx)]
    except BadValue as exc:
        return [Rejected(str(exc), line)]


def _decode(line: bytes | str) -> _Record:
    try:
        return _DECODER.decode(line)
    except UnicodeDecodeError:  # escape=json copies bytes >= 0x80 unescaped
        return _DECODER.decode(line.decode("utf-8", "replace"))  # type: ignore[union-attr]


def _to_event(rec: _Record, ctx: ParseContext) -> AccessEvent:
    method, path, query = _request(rec)
    latency = latency_ms("request_time", rec.request_time, "s")
    upstream = latency_ms("upstream_response_time", rec.upstream_response_time, "s")
    api_key = text(rec.http_x_api_key)
    credential_hash = ctx.hash_credential(api_key) if api_key else ""
    bytes_out = first_named(
        ("bytes_sent", rec.bytes_sent), ("body_bytes_sent", rec.body_bytes_sent)
    )
    return AccessEvent(
        event_time=_start_time(rec, latency),
        request_id=text(rec.request_id),
        gateway=GATEWAY,
        method=method,
        path=path,
        query=query,
        status=status("status", rec.status),
        latency_ms=latency,
        upstream_latency_ms=upstream,
        gateway_latency_ms=remainder_ms(latency, upstream),
        bytes_in=size("request_length", rec.request_length),
        bytes_out=size(*bytes_out),
        consumer=text(rec.remote_user) or unknown_consumer(credential_hash),
        credential_hash=credential_hash,
        client_ip=text(rec.remote_addr),
        user_agent=text(first(rec.http_user_agent, rec.user_agent)),
        source=ctx.source,
    )


def _request(rec: _Record) -> tuple[str, str, str]:
    """(method, path, query): from $request_method + $request_uri, else from the $request line."""
    logged_method = text(first(rec.request_method, rec.method))
    uri = text(first(rec.request_uri, rec.uri))
    if logged_method and uri:
        return method("request_method", logged_method), *split_target("request_uri", uri)
    if unknown(rec.request):
        raise BadValue("request: missing required field (and no request_method + request_uri)")
    return split_request_line("request", text(rec.request))


def _start_time(rec: _Record, latency_ms: float | None) -> datetime:
    """The logged time (when the request ended) minus $request_time."""
    logged = (rec.msec, rec.time_iso8601, rec.time_local, rec.timestamp, rec.time, rec.ts)
    name, value = first_named(*zip(_TIME_KEYS, (*logged, rec.at_timestamp), strict=True))
    if unknown(value):
        raise BadValue(f"time: missing required field (none of {', '.join(_TIME_KEYS)})")
    end = _time(name, value)
    if latency_ms is None:
        return end
    try:
        return truncate_ms(end - timedelta(milliseconds=latency_ms))
    except OverflowError:
        raise BadValue(f"{name}: {value!r} minus request_time is out of range") from None


def _time(name: str, value: Loose) -> datetime:
    """A time read by its shape: CLF has a '/', ISO 8601 a '-' or ':', epoch seconds neither."""
    if isinstance(value, str) and "/" in value:
        return clf_time(name, value)
    if isinstance(value, str) and ("-" in value or ":" in value):
        return iso_time(name, value)
    return epoch_s_or_ms(name, value)
