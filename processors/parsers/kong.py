"""Kong Gateway access logs: the JSON of `kong.log.serialize()` -> `AccessEvent`s.

Handles what file-log, tcp-log, udp-log, syslog (message body), http-log and kafka-log
send: one JSON object per line, or a JSON array of such objects when http-log / kafka-log
batch (`queue.max_batch_size` > 1). Each array element becomes its own result; a bad
element costs only itself (framing in `json_framing`).

Only the keys the event needs are decoded (typed msgspec Structs); `*_ns` fields,
`tries`, response headers, full route/service entities etc. are skipped. The clear
credential (`authenticated_entity.id`) is hashed with `ctx.hash_credential` and never
copied into the event.

Values follow the rules of `fields`. Decisions a caller may need:
- a negative latency (`latencies.proxy` = -1: "not proxied", Kong answered itself) is
  unknown (`None`) rather than rejecting the whole record;
- `started_at` must be epoch milliseconds; values in seconds are rejected;
- `query` is the query string of `request.uri` as logged; when the uri has none it is
  `request.querystring` form-encoded again (`fields.query_string`), e.g. after a plugin
  rewrote the arguments;
- `headers` are `request.headers` as Kong logs them (`fields.header_map`), including any
  credential header Kong does not redact (`apikey`): the privacy step drops those before
  anything is stored. `authorization` is "REDACTED" in Kong's own logs;
- the consumer is `consumer.username`, else `custom_id`, else `id`; a request known only by
  its credential (`authenticated_entity` without `consumer`) has the consumer
  `unknown:<hash prefix>` (`apim.event.unknown_consumer`), and "anonymous" without one;
- `response.status` outside 100-599 and negative sizes are rejected.

Not supported: the stream (TCP/UDP proxy) subsystem shape (`session{...}`, no `request`),
which is rejected as "request: missing required field"; payloads whose JSON itself is
invalid (truncated, not UTF-8, lone surrogates) are rejected as a whole line, since the
elements cannot be told apart.
"""

from __future__ import annotations

from typing import Any

import msgspec

from apim.event import AccessEvent, unknown_consumer
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

GATEWAY = "kong"
_APP_TAG_PREFIX = "app:"


class _Request(msgspec.Struct, gc=False):
    uri: str
    method: str
    id: str | None = None
    size: int | None = None
    headers: dict[str, Any] | None = None
    querystring: Any = None  # only read when `uri` has no query string


class _Response(msgspec.Struct, gc=False):
    status: int
    size: int | None = None


class _Latencies(msgspec.Struct, gc=False):
    request: float | None = None
    proxy: float | None = None
    kong: float | None = None


class _Consumer(msgspec.Struct, gc=False):
    id: str | None = None
    username: str | None = None
    custom_id: str | None = None
    tags: list[Any] | None = None


class _Credential(msgspec.Struct, gc=False):
    id: str | None = None


class _Named(msgspec.Struct, gc=False):
    name: str | None = None


class _Record(msgspec.Struct, gc=False):
    started_at: int | float
    request: _Request
    response: _Response
    latencies: _Latencies | None = None
    consumer: _Consumer | None = None
    authenticated_entity: _Credential | None = None
    route: _Named | None = None
    service: _Named | None = None
    client_ip: str | None = None


_NO_LATENCIES = _Latencies()


def _to_event(rec: _Record, ctx: ParseContext, source: str) -> AccessEvent:
    req, resp = rec.request, rec.response
    lat = rec.latencies or _NO_LATENCIES
    cred_id = rec.authenticated_entity.id if rec.authenticated_entity else None
    credential_hash = ctx.hash_credential(cred_id) if cred_id else ""
    path, query = split_target("request.uri", req.uri)
    headers = req.headers or {}
    return AccessEvent(
        event_time=epoch_time("started_at", rec.started_at),
        request_id=req.id or "",
        gateway=GATEWAY,
        api=(rec.service.name if rec.service else None) or "",
        route=(rec.route.name if rec.route else None) or "",
        method=method("request.method", req.method),
        path=path,
        query=query or query_string(req.querystring),
        headers=header_map(headers),
        status=status("response.status", resp.status),
        latency_ms=latency_ms("latencies.request", lat.request),
        upstream_latency_ms=latency_ms("latencies.proxy", lat.proxy),
        gateway_latency_ms=latency_ms("latencies.kong", lat.kong),
        bytes_in=size("request.size", req.size),
        bytes_out=size("response.size", resp.size),
        consumer=_consumer(rec.consumer, credential_hash),
        application=_application(rec.consumer),
        credential_hash=credential_hash,
        client_ip=rec.client_ip or "",
        user_agent=first_value("request.headers.user-agent", headers.get("user-agent")),
        source=source,
    )


def _consumer(consumer: _Consumer | None, credential_hash: str) -> str:
    if consumer:
        for name in (consumer.username, consumer.custom_id, consumer.id):
            if name:
                return name
    return unknown_consumer(credential_hash)


def _application(consumer: _Consumer | None) -> str:
    for tag in (consumer.tags if consumer else None) or ():
        if isinstance(tag, str) and tag.startswith(_APP_TAG_PREFIX):
            name = tag[len(_APP_TAG_PREFIX) :]
            if name:
                return name
    return ""


parse: Parser = JsonRecords(_Record, _to_event).parse
"""Parse one Kong log line (an object or an array of objects); one result per record."""
