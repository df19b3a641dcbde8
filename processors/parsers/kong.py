"""Kong Gateway access logs: the JSON of `kong.log.serialize()` -> `AccessEvent`s.

Handles what file-log, tcp-log, udp-log, syslog (message body), http-log and kafka-log
send: one JSON object per line, or a JSON array of such objects when http-log / kafka-log
batch (`queue.max_batch_size` > 1). Each array element becomes its own result; a bad
element gives a `Rejected` whose `record` is that element re-encoded as JSON, and the
other elements still become events (their `source` gets a "#<index>" suffix).

Only the keys the event needs are decoded (typed msgspec Structs); `*_ns` fields,
`tries`, `querystring`, full route/service entities etc. are skipped. The clear
credential (`authenticated_entity.id`) is hashed with `ctx.hash_credential` and never
copied into the event.

Decisions a caller may need:
- a latency that is negative (other than `latencies.proxy` = -1, "not proxied") or not
  finite is logged as unknown (`None`) rather than rejecting the whole record;
- `started_at` must be epoch milliseconds (1e11 .. 1e13); values in seconds are rejected;
- `response.status` outside 100-599 and negative sizes are rejected.

Not supported: the stream (TCP/UDP proxy) subsystem shape (`session{...}`, no `request`),
which is rejected as "request: missing required field"; payloads whose JSON itself is
invalid (truncated, not UTF-8, lone surrogates) are rejected as a whole line, since the
elements cannot be told apart.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers.base import ParseContext, ParseResult, Rejected

GATEWAY = "kong"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_STARTED_AT_MS = 1e11  # 1973-03-03: anything smaller is most likely seconds
_MAX_STARTED_AT_MS = 1e13  # 2286-11-20
_APP_TAG_PREFIX = "app:"


class _Headers(msgspec.Struct, gc=False):
    user_agent: str | list[str] | None = msgspec.field(default=None, name="user-agent")


class _Request(msgspec.Struct, gc=False):
    uri: str
    method: str
    id: str | None = None
    size: int | None = None
    headers: _Headers | None = None


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


_DECODER = msgspec.json.Decoder(_Record | list[_Record])


def parse(line: bytes, ctx: ParseContext) -> list[ParseResult]:
    """Parse one Kong log line (an object or an array of objects); one result per record."""
    if not line.strip():
        return [Rejected("empty line", line)]
    try:
        decoded = _DECODER.decode(line)
    except msgspec.ValidationError:
        return _parse_untyped(line, ctx)  # slower path that can say which record is bad
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return [Rejected(f"invalid JSON: {exc}", line)]
    if isinstance(decoded, _Record):
        result = _to_event(decoded, ctx, ctx.source)
        return [result if isinstance(result, AccessEvent) else Rejected(result, line)]
    if not decoded:
        return [Rejected("empty JSON array", line)]
    events = [_to_event(rec, ctx, f"{ctx.source}#{i}") for i, rec in enumerate(decoded)]
    if all(isinstance(e, AccessEvent) for e in events):
        return events  # type: ignore[return-value]
    return _parse_untyped(line, ctx)


def _parse_untyped(line: bytes, ctx: ParseContext) -> list[ParseResult]:
    """Decode without a schema, then check each record alone so one bad one costs only itself."""
    try:
        raw = msgspec.json.decode(line)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return [Rejected(f"invalid JSON: {exc}", line)]
    if isinstance(raw, dict):
        return [_from_raw(raw, ctx, ctx.source, line)]
    if not isinstance(raw, list):
        return [Rejected(f"expected a JSON object or array, got {_json_type(raw)}", line)]
    if not raw:
        return [Rejected("empty JSON array", line)]
    return [
        _from_raw(item, ctx, f"{ctx.source}#{i}", _encode_element(item))
        for i, item in enumerate(raw)
    ]


def _from_raw(item: Any, ctx: ParseContext, source: str, record: bytes) -> ParseResult:
    if not isinstance(item, dict):
        return Rejected(f"record: expected object, got {_json_type(item)}", record)
    try:
        rec = msgspec.convert(item, _Record)
    except msgspec.ValidationError as exc:
        return Rejected(_validation_reason(exc), record)
    result = _to_event(rec, ctx, source)
    return result if isinstance(result, AccessEvent) else Rejected(result, record)


def _to_event(rec: _Record, ctx: ParseContext, source: str) -> AccessEvent | str:
    """The event for one typed record, or the reason it cannot be one."""
    req, resp = rec.request, rec.response
    reason = _check(rec)
    if reason:
        return reason
    lat = rec.latencies or _Latencies()
    cred_id = rec.authenticated_entity.id if rec.authenticated_entity else None
    credential_hash = ctx.hash_credential(cred_id) if cred_id else ""
    return AccessEvent(
        event_time=_EPOCH + timedelta(milliseconds=rec.started_at),
        request_id=req.id or "",
        gateway=GATEWAY,
        api=(rec.service.name if rec.service else None) or "",
        route=(rec.route.name if rec.route else None) or "",
        method=req.method,
        path=req.uri.partition("?")[0],
        status=resp.status,
        latency_ms=_latency(lat.request),
        upstream_latency_ms=None if lat.proxy == -1 else _latency(lat.proxy),
        gateway_latency_ms=_latency(lat.kong),
        bytes_in=req.size,
        bytes_out=resp.size,
        consumer=_consumer(rec.consumer, credential_hash),
        application=_application(rec.consumer),
        credential_hash=credential_hash,
        client_ip=rec.client_ip or "",
        user_agent=_user_agent(req.headers),
        source=source,
    )


def _check(rec: _Record) -> str:
    """What the types cannot say: ranges and required non-empty values ("" when fine)."""
    started = rec.started_at
    if not (_MIN_STARTED_AT_MS <= started < _MAX_STARTED_AT_MS):  # also false for NaN
        return f"started_at: {started!r} is not epoch milliseconds"
    if not rec.request.uri:
        return "request.uri: empty"
    if not rec.request.method:
        return "request.method: empty"
    if not 100 <= rec.response.status <= 599:
        return f"response.status: {rec.response.status} not in 100-599"
    if rec.request.size is not None and rec.request.size < 0:
        return f"request.size: negative ({rec.request.size})"
    if rec.response.size is not None and rec.response.size < 0:
        return f"response.size: negative ({rec.response.size})"
    return ""


def _latency(value: float | None) -> float | None:
    if value is None or value < 0 or not math.isfinite(value):
        return None
    return float(value)


def _consumer(consumer: _Consumer | None, credential_hash: str) -> str:
    if consumer:
        for name in (consumer.username, consumer.custom_id, consumer.id):
            if name:
                return name
    return f"cred:{credential_hash}" if credential_hash else ANONYMOUS


def _application(consumer: _Consumer | None) -> str:
    for tag in (consumer.tags if consumer else None) or ():
        if isinstance(tag, str) and tag.startswith(_APP_TAG_PREFIX):
            name = tag[len(_APP_TAG_PREFIX) :]
            if name:
                return name
    return ""


def _user_agent(headers: _Headers | None) -> str:
    ua = headers.user_agent if headers else None
    if isinstance(ua, list):
        ua = ua[0] if ua else None
    return ua or ""


def _encode_element(item: Any) -> bytes:
    try:
        return msgspec.json.encode(item)
    except (TypeError, ValueError):  # cannot happen for decoded JSON; never lose the reject
        return repr(item).encode("utf-8", "backslashreplace")


def _validation_reason(exc: msgspec.ValidationError) -> str:
    """msgspec's message, field first.

    'Expected `int`, got `str` - at `$.response.status`'
    -> 'response.status: expected int, got str'
    """
    message, _, where = str(exc).partition(" - at ")
    path = where.strip("`").removeprefix("$").removeprefix(".")
    message = message.replace("`", "")
    if message.startswith("Object missing required field "):
        field = message.removeprefix("Object missing required field ")
        path = f"{path}.{field}" if path else field
        message = "missing required field"
    message = message[:1].lower() + message[1:]
    return f"{path}: {message}" if path else message


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array"}.get(type(value), type(value).__name__)
