"""Azure API Management gateway logs (category GatewayLogs) -> `AccessEvent`s.

Handles the shapes a diagnostic setting or Log Analytics delivers them in:
- an Event Hub message, `{"records": [<resource log>, …]}`: a batch, each record giving its
  own result with a "#<index>" `source` suffix (a bad record is rejected alone, re-encoded
  as JSON, and the others still become events);
- one resource log per line (a Storage account's PT1H.json blobs): `time`, `category`,
  `durationMs`, `callerIpAddress`, `correlationId` and `properties{method, url,
  responseCode, responseSize, requestSize, backendTime, clientTime, apiId, operationId,
  apimSubscriptionId, userId, requestHeaders}`;
- rows of the Log Analytics table `ApiManagementGatewayLogs` (the same fields as PascalCase
  columns, with `TimeGenerated` for `time` and `TotalTime` for `durationMs`), one object per
  line, a JSON array of them (a query exported as JSON), or `{"records": […]}` (a
  workspace data export to Event Hub).

Mapping:
    event_time   time / TimeGenerated: when the gateway started processing the request
    request_id   correlationId
    api, route   apiId, operationId
    method, path method, and the path of url (host, query string and fragment dropped)
    status       responseCode
    latency      durationMs / TotalTime; upstream: backendTime (all milliseconds)
    gateway      total - backendTime - clientTime, since client I/O is the client's time
    bytes        requestSize -> bytes_in, responseSize -> bytes_out
    consumer     apimSubscriptionId, else userId, else "anonymous"
    client_ip    callerIpAddress
    user_agent   the User-Agent request header, when the diagnostic logs headers

Decisions a caller may need:
- the subscription id ("mobile-app-sub", "master") names a subscription, it is not its key,
  so it is the consumer in clear and `credential_hash` is its keyed hash. The subscription
  *key* can be in the url's query (`subscription-key=`) or in a logged
  `Ocp-Apim-Subscription-Key` header; neither is read, so it is never copied;
- one diagnostic setting may send other categories (WebSocketConnectionLogs,
  GatewayLlmLogs) to the same Event Hub: such records are rejected as not GatewayLogs;
- numbers may be JSON numbers or numeric strings (the schema's template shows `cacheTime`
  as a string); times must carry their "Z" or offset;
- `callerIpAddress` is the immediate caller, possibly an Application Gateway or Front
  Door; X-Forwarded-For is not read.

Not supported (rejected): the legacy AzureDiagnostics table (properties flattened into
columns such as `apiId_s`), the Log Analytics query API's `{"tables": […]}` response, and
`log-to-eventhub` policy payloads, whose shape is the policy author's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import msgspec

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers.base import ParseContext, ParseResult, Rejected
from processors.parsers.jsonlog import convert, encode, json_type
from processors.parsers.values import (
    FieldError,
    Loose,
    iso_time,
    milliseconds,
    remainder_ms,
    required_text,
    size,
    status,
    text,
)

GATEWAY = "azure-apim"
_CATEGORY = "GatewayLogs"

# One list of fields, spelled two ways: camelCase in resource logs, PascalCase in Log Analytics.
_TOP_FIELDS: list[tuple[str, Any] | tuple[str, Any, Any]] = [
    ("time", str),  # required, so that a row (no "time") never passes for a resource log
    ("category", str | None, None),
    ("durationMs", Loose, None),
    ("callerIpAddress", str | None, None),
    ("correlationId", str | None, None),
]
_REQUEST_FIELDS: list[tuple[str, Any] | tuple[str, Any, Any]] = [
    ("method", str | None, None),
    ("url", str | None, None),
    ("responseCode", Loose, None),
    ("responseSize", Loose, None),
    ("requestSize", Loose, None),
    ("backendTime", Loose, None),
    ("clientTime", Loose, None),
    ("apiId", str | None, None),
    ("operationId", str | None, None),
    ("apimSubscriptionId", str | None, None),
    ("userId", str | None, None),
    ("requestHeaders", dict[str, Any] | None, None),
]
_TOP_NAMES = frozenset(field[0] for field in _TOP_FIELDS)
_COLUMNS = {"time": "TimeGenerated", "durationMs": "TotalTime"}


def _column(field: str) -> str:
    """The Log Analytics column of a resource-log field."""
    return _COLUMNS.get(field, field[:1].upper() + field[1:])


def _key(field: str) -> str:
    """Where a field sits in a resource log."""
    return field if field in _TOP_NAMES else f"properties.{field}"


_Properties = msgspec.defstruct("_Properties", _REQUEST_FIELDS, kw_only=True, gc=False)
_ResourceLog = msgspec.defstruct(
    "_ResourceLog", [*_TOP_FIELDS, ("properties", _Properties)], kw_only=True, gc=False
)
_Row = msgspec.defstruct(
    "_Row", [*_TOP_FIELDS, *_REQUEST_FIELDS], kw_only=True, gc=False, rename=_column
)


class _Envelope(msgspec.Struct, gc=False):
    records: list[_ResourceLog]  # type: ignore[valid-type]


_ENVELOPE = msgspec.json.Decoder(_Envelope)


def parse(line: bytes, ctx: ParseContext) -> list[ParseResult]:
    """Parse one line (envelope, record, row or array of rows); one result per record."""
    if not line.strip():
        return [Rejected("empty line", line)]
    if b'"records"' in line:  # the Event Hub envelope of resource logs: typed fast path
        try:
            envelope = _ENVELOPE.decode(line)
        except msgspec.ValidationError:
            pass  # rows, or a record that does not fit: judged one by one below
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            return [Rejected(f"invalid JSON: {exc}", line)]
        else:
            events = _events(envelope.records, ctx)
            if events:
                return events  # type: ignore[return-value]
    return _parse_untyped(line, ctx)


def _events(records: list[Any], ctx: ParseContext) -> list[AccessEvent]:
    """Every record's event, or [] if one of them cannot be one."""
    try:
        return [_to_event(rec, ctx, f"{ctx.source}#{i}") for i, rec in enumerate(records)]
    except FieldError:
        return []


def _parse_untyped(line: bytes, ctx: ParseContext) -> list[ParseResult]:
    """Decode without a schema, then judge each record alone so a bad one costs only itself."""
    try:
        raw = msgspec.json.decode(line)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return [Rejected(f"invalid JSON: {exc}", line)]
    if isinstance(raw, dict) and "records" in raw:
        raw = raw["records"]
        if not isinstance(raw, list):
            return [Rejected(f"records: expected array, got {json_type(raw)}", line)]
    elif isinstance(raw, dict):
        return [_result(raw, ctx, ctx.source, line)]
    if not isinstance(raw, list):
        return [Rejected(f"expected a JSON object or array, got {json_type(raw)}", line)]
    if not raw:
        return [Rejected("no record: empty array", line)]
    return [_result(item, ctx, f"{ctx.source}#{i}", encode(item)) for i, item in enumerate(raw)]


def _result(item: Any, ctx: ParseContext, source: str, record: bytes) -> ParseResult:
    resource_log = isinstance(item, dict) and ("properties" in item or "time" in item)
    try:
        return _to_event(convert(item, _ResourceLog if resource_log else _Row), ctx, source)
    except FieldError as exc:
        return Rejected(str(exc), record)


def _to_event(rec: Any, ctx: ParseContext, source: str) -> AccessEvent:
    """The event of a resource log or a row (same attribute names, different keys)."""
    is_row = isinstance(rec, _Row)
    req = rec if is_row else rec.properties
    key = _column if is_row else _key
    category = text(rec.category)
    if category and category != _CATEGORY:
        raise FieldError(f"{key('category')}: {category[:40]!r} is not {_CATEGORY}")
    latency = milliseconds(key("durationMs"), rec.durationMs)
    backend = milliseconds(key("backendTime"), req.backendTime)
    client = milliseconds(key("clientTime"), req.clientTime)
    not_gateway = None if backend is None else backend + (client or 0.0)
    subscription = text(req.apimSubscriptionId)
    credential_hash = ctx.hash_credential(subscription) if subscription else ""
    return AccessEvent(
        event_time=iso_time(key("time"), rec.time),
        request_id=text(rec.correlationId),
        gateway=GATEWAY,
        api=text(req.apiId),
        route=text(req.operationId),
        method=required_text(key("method"), req.method),
        path=_path(key("url"), req.url),
        status=status(key("responseCode"), req.responseCode),
        latency_ms=latency,
        upstream_latency_ms=backend,
        gateway_latency_ms=remainder_ms(latency, not_gateway),
        bytes_in=size(key("requestSize"), req.requestSize),
        bytes_out=size(key("responseSize"), req.responseSize),
        consumer=subscription or text(req.userId) or ANONYMOUS,
        credential_hash=credential_hash,
        client_ip=text(rec.callerIpAddress),
        user_agent=_user_agent(req.requestHeaders),
        source=source,
    )


def _path(name: str, url: Loose) -> str:
    """The path of the request URL; the query string (maybe a subscription key) is dropped."""
    try:
        return urlsplit(required_text(name, url)).path or "/"
    except ValueError as exc:
        raise FieldError(f"{name}: {exc}") from None


def _user_agent(headers: dict[str, Any] | None) -> str:
    """The User-Agent request header (names are case-insensitive; a repeated one is a list)."""
    for name, value in (headers or {}).items():
        if name.lower() == "user-agent":
            agent = value[0] if isinstance(value, list) and value else value
            return agent if isinstance(agent, str) else ""
    return ""
