"""Caddy access logs, the JSON encoder's `http.log.access` entries -> `AccessEvent`s.

Handles one JSON object a line (or an array of them, framing in `json_framing`), as Caddy's
default `json` encoder writes them to a file, stdout, stderr or `net`; only the keys the
event needs are decoded (typed msgspec Struct). Mapping and units:
- `ts` is epoch SECONDS (float, the default `time_format`) or an RFC 3339 string (the
  `iso8601` / `rfc3339*` time formats) -> UTC, cut to the ms (see `fields`);
- `duration` is SECONDS (float, the default `duration_format`) or a Go duration string
  ("41.234567ms", `duration_format string`) -> `latency_ms`; Caddy logs no upstream time;
- `request.uri` includes the query string: it goes to `query` as logged;
- `bytes_read` (request body) -> `bytes_in`, `size` (response body) -> `bytes_out`;
- `request.headers` values are arrays (Go canonical names): the first `User-Agent` is the
  user agent, the first `X-Request-Id` the request id (Caddy has none of its own: "" without
  it); a `filter` encoder may have turned a value into a string, which is read too;
- `request.client_ip` (which honours `trusted_proxies`), else `remote_ip`, else the IP of
  `remote_addr` (Caddy < 2.5) -> `client_ip`. `api` and `route` are "" (no such notion).

Decisions a caller may need:
- consumer is `user_id` (set by `basic_auth` / authentication handlers), "" -> "anonymous";
- `Authorization` is "REDACTED" by default; with `log_credentials` on it is the clear
  credential, which is hashed into `credential_hash` (and never copied);
- `status` 0 means Caddy wrote no response (e.g. the client went away first): the status
  the client got is unknown, so the record is rejected, as are other values outside 100-599;
- an entry from another logger (`logger` not "http.log.access…", e.g. the error log shipped
  to the same place) is rejected with a reason naming that logger.

Not supported: the `console` encoder (the default on an interactive terminal: not JSON, so
"invalid JSON"), numeric `duration_format`s other than seconds (`ms`, `ns`: they would be
read as seconds), `time_format`s other than epoch seconds and RFC 3339 (rejected), renamed
`time_key`, and fields added with `log_append` (ignored).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers.addresses import ip_of
from processors.parsers.base import ParseContext, Parser
from processors.parsers.fields import (
    DURATION,
    BadValue,
    epoch_time,
    header,
    iso_time,
    latency_ms,
    method,
    size,
    split_target,
    status,
)
from processors.parsers.json_framing import JsonRecords

GATEWAY = "caddy"
_ACCESS_LOGGER = "http.log.access"
_REDACTED = "REDACTED"

_HeaderValue = list[str] | str | None  # a string where a `filter` encoder left one


class _Headers(msgspec.Struct, gc=False):
    user_agent: _HeaderValue = msgspec.field(default=None, name="User-Agent")
    request_id: _HeaderValue = msgspec.field(default=None, name="X-Request-Id")
    authorization: _HeaderValue = msgspec.field(default=None, name="Authorization")


class _Request(msgspec.Struct, gc=False):
    method: str
    uri: str
    client_ip: str | None = None
    remote_ip: str | None = None
    remote_addr: str | None = None  # Caddy < 2.5: "ip:port"
    headers: _Headers | None = None


class _Entry(msgspec.Struct, gc=False):
    ts: int | float | str
    request: _Request
    status: int
    duration: int | float | str | None = None
    size: int | None = None
    bytes_read: int | None = None
    user_id: str | None = None
    logger: str | None = None


def _to_event(entry: _Entry, ctx: ParseContext, source: str) -> AccessEvent:
    reason = _not_access(entry.logger)
    if reason:
        raise BadValue(reason)
    req = entry.request
    headers = req.headers or _Headers()
    credential = header(headers.authorization)
    if credential == _REDACTED:
        credential = ""
    path, query = split_target("request.uri", req.uri)
    return AccessEvent(
        event_time=_time(entry.ts),
        request_id=header(headers.request_id),
        gateway=GATEWAY,
        method=method("request.method", req.method),
        path=path,
        query=query,
        status=_status(entry.status),
        latency_ms=latency_ms("duration", entry.duration, _duration_unit(entry.duration)),
        bytes_in=size("bytes_read", entry.bytes_read),
        bytes_out=size("size", entry.size),
        consumer=entry.user_id or ANONYMOUS,
        credential_hash=ctx.hash_credential(credential) if credential else "",
        client_ip=req.client_ip or req.remote_ip or ip_of(req.remote_addr or ""),
        user_agent=header(headers.user_agent),
        source=source,
    )


def _time(ts: float | str) -> datetime:
    if isinstance(ts, str):
        return iso_time("ts", ts)
    return epoch_time("ts", ts, "epoch_s")


def _duration_unit(duration: float | str | None) -> str:
    """Seconds, or a Go duration string with `duration_format string`."""
    return DURATION if isinstance(duration, str) else "s"


def _status(code: int) -> int:
    if code == 0:
        raise BadValue("status: 0, Caddy wrote no response (the client may have gone away)")
    return status("status", code)


def _not_access(logger: Any) -> str:
    """Why an entry with this `logger` is not an access entry, or "" (also when not logged)."""
    if isinstance(logger, str) and not logger.startswith(_ACCESS_LOGGER):
        return f"logger: {logger[:60]!r} is not an access logger ({_ACCESS_LOGGER}…)"
    return ""


def _other_logger(entry: dict[str, Any]) -> str:
    """For an entry that does not fit `_Entry`: say it is another logger's, if it is."""
    return _not_access(entry.get("logger"))


parse: Parser = JsonRecords(_Entry, _to_event, unsupported=_other_logger).parse
"""Parse one Caddy access-log line (an entry, or an array of entries); one result each."""
