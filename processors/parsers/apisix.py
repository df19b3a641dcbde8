"""Apache APISIX logger entries, the default ("full") log format -> `AccessEvent`s.

Handles what http-logger, kafka-logger, tcp/udp-logger and file-logger send with the default
entry (`log-util.get_full_log`): a JSON array of entries (the default: http-logger with
`concat_method: "json"` and kafka-logger send an array whenever `batch_max_size` is not 1,
even for a batch of one), or a single object (`batch_max_size: 1`, file-logger, and the
`concat_method: "new_line"` body once split into lines). Each array element becomes its own
result; a bad element costs only itself (framing in `json_framing`).

Mapping and units: `start_time` is epoch milliseconds; `latency`, `upstream_latency` and
`apisix_latency` are milliseconds (floats with noise such as 41.000127792358, rounded to
3 decimals); `upstream_latency` is absent when no upstream was called (-> `None`).
`request.uri` is `$request_uri`, split into `path` and `query` (as logged); when it has no
query string, `query` is `request.querystring` form-encoded again (`fields.query_string`).
`headers` are `request.headers` (`fields.header_map`). `request.size` is `$request_length`,
`response.size` is `$bytes_sent`.

Decisions a caller may need:
- `route` is `route_id` and `api` is `service_id`; when no route matched, APISIX leaves
  `route_id` out and puts the request host in `service_id`, so `api` is then "" rather than
  a host name; a route without a service has `service_id` "" too;
- consumer is `consumer.username` (present only when a consumer authenticated), else
  "anonymous"; APISIX logs no credential id, and does not redact headers, so the clear
  credential is taken from the request and hashed into `credential_hash`: the key-auth
  `apikey` header, else the `apikey` query argument, else the `Authorization` header
  (whole value; a JWT therefore hashes per token). This also identifies failed attempts.
  `headers` and `query` keep them as logged: the privacy step drops them before storing;
- `request_id` is the `x-request-id` header (set by the request-id plugin or the client),
  else "": APISIX has no request id of its own;
- header and query values may be repeated (a JSON array: the credential, user agent and
  request id take the first, `headers` joins them with ", ") or `true` (a query flag without
  value: not a credential);
- `upstream` ("ip:port, ip:port" after retries) is not used, so retries need no handling.

Not supported: custom `log_format` entries (they lack the default keys and are rejected as
"…: missing required field"), `meta_format: "origin"` (raw HTTP text: "invalid JSON"), and
the `llm_*` keys, which are ignored.
"""

from __future__ import annotations

from typing import Any

import msgspec

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers.base import ParseContext, Parser
from processors.parsers.fields import (
    epoch_time,
    first_value,
    header_map,
    latency_ms,
    method,
    query_string,
    size,
    split_target,
    status,
)
from processors.parsers.json_framing import JsonRecords

GATEWAY = "apisix"


class _Request(msgspec.Struct, gc=False):
    uri: str
    method: str
    size: int | None = None
    headers: dict[str, Any] | None = None
    querystring: dict[str, Any] | None = None


class _Response(msgspec.Struct, gc=False):
    status: int
    size: int | None = None


class _Consumer(msgspec.Struct, gc=False):
    username: str | None = None


class _Entry(msgspec.Struct, gc=False):
    start_time: int | float
    request: _Request
    response: _Response
    latency: float | None = None
    upstream_latency: float | None = None
    apisix_latency: float | None = None
    route_id: str | None = None
    service_id: str | None = None
    consumer: _Consumer | None = None
    client_ip: str | None = None


def _to_event(entry: _Entry, ctx: ParseContext, source: str) -> AccessEvent:
    req, resp = entry.request, entry.response
    headers = req.headers or {}
    arguments = req.querystring or {}
    credential = _credential(headers, arguments)
    username = entry.consumer.username if entry.consumer else None
    path, query = split_target("request.uri", req.uri)
    return AccessEvent(
        event_time=epoch_time("start_time", entry.start_time),
        request_id=first_value("request.headers.x-request-id", headers.get("x-request-id")),
        gateway=GATEWAY,
        api=(entry.service_id or "") if entry.route_id is not None else "",
        route=entry.route_id or "",
        method=method("request.method", req.method),
        path=path,
        query=query or query_string(arguments),
        headers=header_map(headers),
        status=status("response.status", resp.status),
        latency_ms=latency_ms("latency", entry.latency),
        upstream_latency_ms=latency_ms("upstream_latency", entry.upstream_latency),
        gateway_latency_ms=latency_ms("apisix_latency", entry.apisix_latency),
        bytes_in=size("request.size", req.size),
        bytes_out=size("response.size", resp.size),
        consumer=username or ANONYMOUS,
        credential_hash=ctx.hash_credential(credential) if credential else "",
        client_ip=entry.client_ip or "",
        user_agent=first_value("request.headers.user-agent", headers.get("user-agent")),
        source=source,
    )


def _credential(headers: dict[str, Any], arguments: dict[str, Any]) -> str:
    """The clear credential the client sent (key-auth key, else Authorization), or ""."""
    return (
        first_value("request.headers.apikey", headers.get("apikey"))
        or first_value("request.querystring.apikey", arguments.get("apikey"), flags=True)
        or first_value("request.headers.authorization", headers.get("authorization"))
    )


parse: Parser = JsonRecords(_Entry, _to_event).parse
"""Parse one APISIX logger payload (an entry or an array of entries); one result each."""
