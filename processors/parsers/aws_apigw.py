"""AWS API Gateway access logs (REST v1 and HTTP API v2, JSON templates) -> `AccessEvent`s.

Handles two framings:
- one access-log record (the stage's JSON `accessLogSettings.format`) per line, as Firehose
  delivers it or a CloudWatch Logs export writes it;
- the CloudWatch Logs subscription envelope `{"messageType": "DATA_MESSAGE", "logGroup": …,
  "logEvents": [{"id", "timestamp", "message": "<the access-log JSON as a string>"}]}`,
  plain, gzip-compressed (what a subscription filter puts on Kinesis / Firehose) or
  base64 of the gzip (a Lambda subscription's `awslogs.data`). Each log event gives its
  own result, with a "#<index>" `source` suffix; a bad event is rejected with its
  `message` as the record, and the other events still become events.

Key names are the template author's choice. These are read, the first known one winning;
`identity.*` keys may be flat ("apiKeyId"), dotted ("identity.apiKeyId") or nested
({"identity": {"apiKeyId": …}}), and so may `integration.latency` and
`authorizer.principalId`:

    request_id   requestId, else extendedRequestId
    event time   requestTimeEpoch, else requestTime (CLF), else the log event's timestamp
    method       httpMethod
    path         path without its "/<stage>" prefix, else resourcePath, else routeKey's path
    route        routeKey (HTTP API: "GET /pets/{id}"), else resourcePath (REST)
    api          "<apiId>/<stage>"; "<apiId>" without a stage, "" without an apiId
    status       status
    latency      responseLatency (ms); upstream: integrationLatency or integration.latency
    bytes_out    responseLength (bytes_in is not a $context variable: always None)
    client_ip    identity.sourceIp, else ip
    user_agent   identity.userAgent
    consumer     identity.apiKeyId, else identity.caller, else identity.user, else
                 authorizer.principalId, else "unknown:<hash prefix>" if only
                 identity.apiKey is logged (`apim.event.unknown_consumer`), else "anonymous"
    query        always "": no $context variable holds the query string

Templates interpolate into strings, so numbers arrive as strings ("status": "200") and a
value API Gateway does not have is "-": both are handled, "-" meaning unknown.

Decisions a caller may need:
- the API key *id* is an identifier, not the secret (the key itself is `identity.apiKey`),
  so it is the consumer in clear; `credential_hash` is its keyed hash. A logged raw key is
  only ever hashed (when no key id is logged), never copied;
- `requestTimeEpoch` is milliseconds for REST APIs and seconds for HTTP APIs: the unit is
  told by magnitude (see `fields.epoch_s_or_ms`);
- `requestId` can be client supplied (`x-amzn-RequestId`) and an invalid one is logged as
  "…REPLACED_INVALID_REQUEST_ID"; then `extendedRequestId` (always gateway-made) is used;
- `$context.path` includes "/<stage>" on the default endpoint; it is removed so that the
  same endpoint has one path in every stage (the stage is in `api`);
- a CONTROL_MESSAGE envelope (CloudWatch checking that the destination is reachable) holds
  no access record; it is rejected with a reason that says so, rather than dropped unseen;
- `protocol` is ignored: API Gateway logs HTTP/1.1 even for HTTP/2 clients.

Not supported (rejected): CLF, XML and CSV templates; templates with unquoted variables
(a "-" makes them invalid JSON); WebSocket API records (no httpMethod); gzip payloads that
inflate to more than 64 MiB.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from datetime import datetime
from typing import Any

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
    latency_ms,
    method,
    remainder_ms,
    required_text,
    size,
    status,
    text,
    unknown,
)
from processors.parsers.json_framing import convert, decode_record, encode

GATEWAY = "aws-apigw"
_GZIP_MAGIC = b"\x1f\x8b"
_BASE64_GZIP_MAGIC = b"H4sI"  # base64 of the gzip magic and the deflate method byte
_MAX_PAYLOAD = 64 << 20
_REPLACED_REQUEST_ID = "REPLACED_INVALID_REQUEST_ID"


class _Identity(msgspec.Struct, gc=False):
    sourceIp: str | None = None
    userAgent: str | None = None
    apiKeyId: str | None = None
    apiKey: str | None = None
    caller: str | None = None
    user: str | None = None


class _Authorizer(msgspec.Struct, gc=False):
    principalId: str | None = None


class _Integration(msgspec.Struct, gc=False):
    latency: Loose = None


def _dotted(name: str) -> Any:
    return msgspec.field(default=None, name=name)


class _Record(msgspec.Struct, gc=False):
    requestId: str | None = None
    extendedRequestId: str | None = None
    requestTimeEpoch: Loose = None
    requestTime: str | None = None
    httpMethod: str | None = None
    path: str | None = None
    resourcePath: str | None = None
    routeKey: str | None = None
    apiId: str | None = None
    stage: str | None = None
    status: Loose = None
    responseLength: Loose = None
    responseLatency: Loose = None
    integrationLatency: Loose = None
    integration_latency: Loose = _dotted("integration.latency")
    integration: _Integration | None = None
    ip: str | None = None
    sourceIp: str | None = None
    identity_sourceIp: str | None = _dotted("identity.sourceIp")
    userAgent: str | None = None
    identity_userAgent: str | None = _dotted("identity.userAgent")
    apiKeyId: str | None = None
    identity_apiKeyId: str | None = _dotted("identity.apiKeyId")
    apiKey: str | None = None
    identity_apiKey: str | None = _dotted("identity.apiKey")
    caller: str | None = None
    identity_caller: str | None = _dotted("identity.caller")
    user: str | None = None
    identity_user: str | None = _dotted("identity.user")
    identity: _Identity | None = None
    principalId: str | None = None
    authorizer_principalId: str | None = _dotted("authorizer.principalId")
    authorizer: _Authorizer | None = None


class _Line(_Record):
    """A line: one access-log record, or a CloudWatch Logs envelope of them."""

    messageType: str | None = None
    logEvents: list[Any] | None = None


class _LogEvent(msgspec.Struct, gc=False):
    message: str
    timestamp: int | float | None = None


_LINE = msgspec.json.Decoder(_Line)
_RECORD = msgspec.json.Decoder(_Record)


def parse(line: bytes, ctx: ParseContext) -> list[ParseResult]:
    """Parse one record or one CloudWatch Logs envelope; one result per access record."""
    if not line.strip():
        return [Rejected("empty line", line)]
    try:
        decoded = decode_record(_LINE.decode, _unwrap(line))
    except BadValue as exc:
        return [Rejected(str(exc), line)]
    if decoded.messageType is None and decoded.logEvents is None:
        return [_result(decoded, ctx, ctx.source, None, line)]
    return _envelope(decoded, ctx, line)


def _unwrap(line: bytes) -> bytes:
    """The JSON in a line: as is, or inflated from gzip (optionally base64-encoded)."""
    if line.startswith(_BASE64_GZIP_MAGIC):
        try:
            line = base64.b64decode(line.strip(), validate=True)
        except binascii.Error as exc:
            raise BadValue(f"base64: {exc}") from None
    if not line.startswith(_GZIP_MAGIC):
        return line
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip header and trailer
    try:
        payload = inflater.decompress(line, _MAX_PAYLOAD)
    except zlib.error as exc:
        raise BadValue(f"gzip: {exc}") from None
    if inflater.unconsumed_tail:
        raise BadValue(f"gzip: inflates to more than {_MAX_PAYLOAD} bytes")
    if not inflater.eof:
        raise BadValue("gzip: truncated data")
    return payload


def _envelope(envelope: _Line, ctx: ParseContext, line: bytes) -> list[ParseResult]:
    if envelope.messageType == "CONTROL_MESSAGE":
        return [Rejected("CloudWatch Logs CONTROL_MESSAGE: a health check, no access record", line)]
    if envelope.messageType not in (None, "DATA_MESSAGE"):
        return [Rejected(f"messageType: unknown {envelope.messageType[:40]!r}", line)]
    if not envelope.logEvents:
        return [Rejected("logEvents: no log event", line)]
    return [_log_event(item, ctx, f"{ctx.source}#{i}") for i, item in enumerate(envelope.logEvents)]


def _log_event(item: Any, ctx: ParseContext, source: str) -> ParseResult:
    """One envelope log event; a bad one is rejected with its message as the record."""
    message = item.get("message") if isinstance(item, dict) else None
    record = message.encode() if isinstance(message, str) else encode(item)
    try:
        event = convert(item, _LogEvent)
        access = decode_record(_RECORD.decode, event.message)
    except BadValue as exc:
        return Rejected(str(exc), record)
    return _result(access, ctx, source, event.timestamp, record)


def _result(
    rec: _Record, ctx: ParseContext, source: str, logged_at: Loose, record: bytes
) -> ParseResult:
    try:
        return _to_event(rec, ctx, source, logged_at)
    except BadValue as exc:
        return Rejected(str(exc), record)


def _to_event(rec: _Record, ctx: ParseContext, source: str, logged_at: Loose) -> AccessEvent:
    """The event of one access record; `logged_at` is the log event's epoch-ms timestamp."""
    latency = latency_ms("responseLatency", rec.responseLatency)
    nested_latency = rec.integration.latency if rec.integration else None
    upstream = latency_ms(
        *first_named(
            ("integrationLatency", rec.integrationLatency),
            ("integration.latency", rec.integration_latency),
            ("integration.latency", nested_latency),
        )
    )
    key_id = text(_identity(rec, "apiKeyId"))
    credential = key_id or text(_identity(rec, "apiKey"))
    credential_hash = ctx.hash_credential(credential) if credential else ""
    return AccessEvent(
        event_time=_event_time(rec, logged_at),
        request_id=_request_id(rec),
        gateway=GATEWAY,
        api=_api(rec),
        route=text(first(rec.routeKey, rec.resourcePath)),
        method=method("httpMethod", required_text("httpMethod", rec.httpMethod)),
        path=_path(rec),
        status=status("status", rec.status),
        latency_ms=latency,
        upstream_latency_ms=upstream,
        gateway_latency_ms=remainder_ms(latency, upstream),
        bytes_out=size("responseLength", rec.responseLength),
        consumer=_consumer(rec, key_id, credential_hash),
        credential_hash=credential_hash,
        client_ip=text(first(_identity(rec, "sourceIp"), rec.ip)),
        user_agent=text(_identity(rec, "userAgent")),
        source=source,
    )


def _identity(rec: _Record, field: str) -> Loose:
    """identity.<field>: nested, dotted or flat."""
    nested = getattr(rec.identity, field) if rec.identity else None
    return first(nested, getattr(rec, f"identity_{field}"), getattr(rec, field))


def _event_time(rec: _Record, logged_at: Loose) -> datetime:
    """requestTimeEpoch (ms precision on REST), else requestTime, else the log event's time."""
    if not unknown(rec.requestTimeEpoch):
        return epoch_s_or_ms("requestTimeEpoch", rec.requestTimeEpoch)
    if not unknown(rec.requestTime) or unknown(logged_at):
        return clf_time("requestTime", text(rec.requestTime))
    return epoch_s_or_ms("logEvents.timestamp", logged_at)


def _request_id(rec: _Record) -> str:
    request_id = text(rec.requestId)
    if request_id and _REPLACED_REQUEST_ID not in request_id:
        return request_id
    return text(rec.extendedRequestId) or request_id


def _api(rec: _Record) -> str:
    api_id, stage = text(rec.apiId), text(rec.stage)
    return f"{api_id}/{stage}" if api_id and stage else api_id


def _path(rec: _Record) -> str:
    """$context.path without "/<stage>", else the resource path or the route key's path."""
    path = text(rec.path).partition("?")[0]
    if path:
        stage_prefix = f"/{text(rec.stage)}"
        if stage_prefix != "/" and (path + "/").startswith(stage_prefix + "/"):
            return path[len(stage_prefix) :] or "/"
        return path
    path = text(rec.resourcePath) or text(rec.routeKey).partition(" ")[2]
    if not path:
        raise BadValue("path: missing required field (nor resourcePath, nor routeKey path)")
    return path


def _consumer(rec: _Record, key_id: str, credential_hash: str) -> str:
    authorizer = rec.authorizer.principalId if rec.authorizer else None
    principal = first(authorizer, rec.authorizer_principalId, rec.principalId)
    name = key_id or text(first(_identity(rec, "caller"), _identity(rec, "user"), principal))
    return name or unknown_consumer(credential_hash)
