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
    query        the query string of url, as logged
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
  `Ocp-Apim-Subscription-Key` header: neither is hashed, the header is never copied, and
  `query` keeps the url's query as logged (the privacy step drops credentials from it
  before storing);
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
from processors.parsers.base import ParseContext, Parser
from processors.parsers.fields import (
    BadValue,
    Loose,
    iso_time,
    latency_ms,
    method,
    remainder_ms,
    required_text,
    size,
    status,
    text,
)
from processors.parsers.json_framing import JsonRecords, convert

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


def _from_object(item: dict[str, Any], ctx: ParseContext, source: str) -> AccessEvent:
    """The event of an untyped record: a resource log, or a Log Analytics row."""
    resource_log = "properties" in item or "time" in item
    return _to_event(convert(item, _ResourceLog if resource_log else _Row), ctx, source)


def _to_event(rec: Any, ctx: ParseContext, source: str) -> AccessEvent:
    """The event of a resource log or a row (same attribute names, different keys)."""
    is_row = isinstance(rec, _Row)
    req = rec if is_row else rec.properties
    key = _column if is_row else _key
    category = text(rec.category)
    if category and category != _CATEGORY:
        raise BadValue(f"{key('category')}: {category[:40]!r} is not {_CATEGORY}")
    latency = latency_ms(key("durationMs"), rec.durationMs)
    backend = latency_ms(key("backendTime"), req.backendTime)
    client = latency_ms(key("clientTime"), req.clientTime)
    not_gateway = None if backend is None else backend + (client or 0.0)
    event_time = iso_time(key("time"), rec.time)
    request_method = method(key("method"), required_text(key("method"), req.method))
    path, query = _target(key("url"), req.url)
    subscription = text(req.apimSubscriptionId)
    credential_hash = ctx.hash_credential(subscription) if subscription else ""
    return AccessEvent(
        event_time=event_time,
        request_id=text(rec.correlationId),
        gateway=GATEWAY,
        api=text(req.apiId),
        route=text(req.operationId),
        method=request_method,
        path=path,
        query=query,
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


def _target(name: str, url: Loose) -> tuple[str, str]:
    """(path, query) of the request URL; the fragment is dropped."""
    logged = required_text(name, url)
    try:
        parts = urlsplit(logged)
    except ValueError as exc:  # a bad IPv6 host
        raise BadValue(f"{name}: {exc}") from None
    return parts.path or "/", parts.query


def _user_agent(headers: dict[str, Any] | None) -> str:
    """The User-Agent request header (names are case-insensitive; a repeated one is a list)."""
    for name, value in (headers or {}).items():
        if name.lower() == "user-agent":
            agent = value[0] if isinstance(value, list) and value else value
            return agent if isinstance(agent, str) else ""
    return ""


parse: Parser = JsonRecords(
    _ResourceLog, _to_event, records="records", records_optional=True, from_object=_from_object
).parse
"""Parse one line (envelope, record, row or array of rows); one result per record."""
