"""Traefik access logs, JSON (v1, v2, v3) and the default CLF text -> `AccessEvent`s.

The first non-blank byte picks the format: "{" or "[" is JSON, anything else is CLF.

JSON (`accessLog.format: json`): one object a line (or an array of them, framing in
`json_framing`); only the keys the event needs are decoded (typed msgspec Struct), so
`ServiceURL`, a string in v3 but a URL object in v2, is never read. Mapping and units:
- `StartUTC` (RFC 3339 with nanoseconds), else `StartLocal` (same instant with the local
  offset), else the logger's `time` (seconds precision) -> UTC, ms precision;
- `Duration`, `OriginDuration` and `Overhead` are NANOSECONDS -> `latency_ms`,
  `upstream_latency_ms`, `gateway_latency_ms` (without `Overhead`: Duration - OriginDuration);
- status is `DownstreamStatus`, what the client got; `OriginStatus` is not used;
- `RequestContentSize` -> `bytes_in`, `DownstreamContentSize` -> `bytes_out`;
- `RequestPath` includes the query string (unless `queryParameters` drops it): it goes to
  `query` as logged, as in CLF;
- `api` is `ServiceName` and `route` is `RouterName` ("name@provider", nested routers
  joined with " -> ", kept as logged); v1's `BackendName` / `FrontendName` stand in for them;
- header fields are dropped unless configured (`request_User-Agent`, Go canonical casing):
  `request_User-Agent` is the user agent, `request_X-Request-Id` the request id (Traefik
  has none of its own, so usually ""), and a kept `request_Authorization` (not "REDACTED")
  is hashed into `credential_hash`.

CLF (`accessLog.format: common`, the default):
    <ClientHost> - <ClientUsername> [<StartUTC>] "<method> <path> <protocol>" <OriginStatus>
    <OriginContentSize> "<Referer>" "<User-Agent>" <RequestCount> "<RouterName>"
    "<ServiceURL>" <Duration>ms
Traefik quotes but does not escape values, so a quote inside the user agent is kept (the
fields after it are found from the end of the line); bytes that are not UTF-8 become U+FFFD.
The duration is whole milliseconds (truncated by Traefik); upstream and gateway latency,
`bytes_in`, `api` and `request_id` are not in this format.

Decisions a caller may need:
- consumer is `ClientUsername` (basicAuth, digestAuth or forwardAuth); "-" -> "anonymous".
  An Authorization header without a user name is hashed but does not name a consumer;
  credentials in the query string (`?oauth_token=`) are not hashed: `query` keeps them as
  logged and the privacy step drops them before storing;
- `client_ip` is the first address of `ClientHost`, which is the raw X-Forwarded-For list
  when the request had one (client-claimed), else the IP of `ClientAddr`;
- CLF logs only the ORIGIN status and size: a request Traefik answered itself (no router
  matched, a middleware such as basicAuth or rateLimit refused it) has status "-" or 0 and
  is rejected, since the status the client got is unknown. Use JSON to keep them.

Not supported: `genericCLF` (no Traefik fields after the user agent: rejected as
"RequestCount: missing or malformed"), OTLP logs, and JSON with renamed or dropped
required fields (`RequestMethod`, `RequestPath`, `DownstreamStatus`).
"""

from __future__ import annotations

import re
from datetime import datetime

import msgspec

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers.addresses import first_forwarded, ip_of
from processors.parsers.base import ParseContext, ParseResult, Rejected
from processors.parsers.fields import (
    BadValue,
    clf_time,
    iso_time,
    latency_ms,
    method,
    remainder_ms,
    size,
    split_target,
    status,
)
from processors.parsers.json_framing import JsonRecords
from processors.parsers.line_format import LineFormat

GATEWAY = "traefik"
_REDACTED = "REDACTED"  # Traefik's `redact` header mode
_JSON_START = (ord("{"), ord("["))


class _Record(msgspec.Struct, gc=False):
    request_method: str = msgspec.field(name="RequestMethod")
    request_path: str = msgspec.field(name="RequestPath")
    downstream_status: int = msgspec.field(name="DownstreamStatus")
    start_utc: str | None = msgspec.field(default=None, name="StartUTC")
    start_local: str | None = msgspec.field(default=None, name="StartLocal")
    time: str | None = None
    duration: int | None = msgspec.field(default=None, name="Duration")
    origin_duration: int | None = msgspec.field(default=None, name="OriginDuration")
    overhead: int | None = msgspec.field(default=None, name="Overhead")
    request_content_size: int | None = msgspec.field(default=None, name="RequestContentSize")
    downstream_content_size: int | None = msgspec.field(default=None, name="DownstreamContentSize")
    router_name: str | None = msgspec.field(default=None, name="RouterName")
    service_name: str | None = msgspec.field(default=None, name="ServiceName")
    frontend_name: str | None = msgspec.field(default=None, name="FrontendName")  # v1
    backend_name: str | None = msgspec.field(default=None, name="BackendName")  # v1
    client_username: str | None = msgspec.field(default=None, name="ClientUsername")
    client_host: str | None = msgspec.field(default=None, name="ClientHost")
    client_addr: str | None = msgspec.field(default=None, name="ClientAddr")
    user_agent: str | None = msgspec.field(default=None, name="request_User-Agent")
    request_id: str | None = msgspec.field(default=None, name="request_X-Request-Id")
    authorization: str | None = msgspec.field(default=None, name="request_Authorization")


_CLF = LineFormat(
    "Traefik's CLF",
    (
        ("ClientHost", rb"(?P<client>\S.*?)"),  # an X-Forwarded-For list may hold spaces
        ("ident '-'", rb" -"),
        ("ClientUsername", rb" (?P<user>.*?)"),
        ("StartUTC", rb" \[(?P<time>[^\]]*)\]"),
        ("request", rb' "(?P<method>\S+) (?P<path>\S+) (?P<protocol>\S+)"'),
        ("OriginStatus", rb" (?P<status>\S+)"),
        ("OriginContentSize", rb" (?P<size>\S+)"),
        ("Referer", rb' (?:"[^"]*"|-)'),
        ("User-Agent", rb' "(?P<ua>.*)"'),
        ("RequestCount", rb" (?:\d+|-)"),
        ("RouterName", rb' (?:"(?P<router>[^"]*)"|-)'),
        ("ServiceURL", rb' (?:"[^"]*"|-)'),
        ("Duration", rb" (?P<duration>\S+)"),
    ),
)
_CLF_DURATION = re.compile(r"(\d{1,15})ms", re.ASCII)


def parse(line: bytes, ctx: ParseContext) -> list[ParseResult]:
    """Parse one Traefik access-log line, JSON or CLF; one result per record."""
    text = line.lstrip()
    if not text.strip():
        return [Rejected("empty line", line)]
    if text[0] in _JSON_START:
        return _JSON.parse(line, ctx)
    m = _CLF.match(text)
    if m is None:
        return [Rejected(_CLF.diagnose(text), line)]
    try:
        return [_clf_event(m, ctx)]
    except BadValue as exc:
        return [Rejected(str(exc), line)]


# --- JSON ------------------------------------------------------------------------------


def _json_event(rec: _Record, ctx: ParseContext, source: str) -> AccessEvent:
    latency = latency_ms("Duration", rec.duration, "ns")
    upstream = latency_ms("OriginDuration", rec.origin_duration, "ns")
    overhead = latency_ms("Overhead", rec.overhead, "ns")
    authorization = rec.authorization if rec.authorization != _REDACTED else None
    path, query = split_target("RequestPath", rec.request_path)
    return AccessEvent(
        event_time=_start(rec),
        request_id=rec.request_id or "",
        gateway=GATEWAY,
        api=rec.service_name or rec.backend_name or "",
        route=rec.router_name or rec.frontend_name or "",
        method=method("RequestMethod", rec.request_method),
        path=path,
        query=query,
        status=status("DownstreamStatus", rec.downstream_status),
        latency_ms=latency,
        upstream_latency_ms=upstream,
        gateway_latency_ms=overhead if overhead is not None else remainder_ms(latency, upstream),
        bytes_in=size("RequestContentSize", rec.request_content_size),
        bytes_out=size("DownstreamContentSize", rec.downstream_content_size),
        consumer=_consumer(rec.client_username),
        credential_hash=ctx.hash_credential(authorization) if authorization else "",
        client_ip=first_forwarded(rec.client_host or "") or ip_of(rec.client_addr or ""),
        user_agent=rec.user_agent or "",
        source=source,
    )


def _start(rec: _Record) -> datetime:
    """`StartUTC`, else `StartLocal`, else the logger's `time` (whole seconds)."""
    starts = (("StartUTC", rec.start_utc), ("StartLocal", rec.start_local), ("time", rec.time))
    for field, value in starts:
        if value:
            return iso_time(field, value)
    raise BadValue("StartUTC: missing required field (and no StartLocal or time)")


_JSON = JsonRecords(_Record, _json_event)


# --- CLF -------------------------------------------------------------------------------


def _clf_event(m: re.Match[bytes], ctx: ParseContext) -> AccessEvent:
    f = {name: (raw or b"").decode("utf-8", "replace") for name, raw in m.groupdict().items()}
    path, query = split_target("request", f["path"])
    return AccessEvent(
        event_time=_clf_start(f["time"]),
        gateway=GATEWAY,
        route=_logged(f["router"]),
        method=method("request", f["method"]),
        path=path,
        query=query,
        status=_clf_status(f["status"]),
        latency_ms=_clf_duration(f["duration"]),
        bytes_out=size("OriginContentSize", f["size"]),
        consumer=_consumer(f["user"]),
        client_ip=first_forwarded(f["client"]),
        user_agent=_logged(f["ua"]),
        source=ctx.source,
    )


def _clf_start(text: str) -> datetime:
    if text == "-":
        raise BadValue("StartUTC: not logged ('-')")
    return clf_time("StartUTC", text)


def _clf_status(text: str) -> int:
    if text in ("-", "0"):
        raise BadValue(f"OriginStatus: {text!r}, Traefik answered without an upstream")
    return status("OriginStatus", text)


def _clf_duration(text: str) -> float | None:
    m = _CLF_DURATION.fullmatch(text)
    if m is None:
        raise BadValue(f"Duration: expected '<n>ms', got {text[:20]!r}")
    return latency_ms("Duration", int(m[1]))


# --- both ------------------------------------------------------------------------------


def _consumer(username: str | None) -> str:
    return _logged(username or "") or ANONYMOUS


def _logged(value: str) -> str:
    """Traefik writes "-" for a value it does not have."""
    return "" if value == "-" else value
