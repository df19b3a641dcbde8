"""Gravitee APIM request metrics, reporter `json` output (file / TCP reporter) -> `AccessEvent`s.

Handles the v4 `Metrics` record (reactive engine, `metrics.json`): one JSON object per line;
a JSON array of records (a shipper that batches) is accepted too, each element judged alone
(framing in `json_framing`). Records of the legacy v2 engine are accepted as well: their
field names (`api`, `application`, `proxyResponseTimeMs`, `proxyLatencyMs`,
`apiResponseTimeMs`) are read where the v4 names are absent.

Mapping and units: `timestamp` is epoch milliseconds; `gatewayResponseTimeMs` (total),
`endpointResponseTimeMs` (upstream) and `gatewayLatencyMs` (gateway) are milliseconds;
`requestContentLength` / `responseContentLength` are bytes, -1 meaning unknown (`None`:
Gravitee's marker; other negative sizes are rejected);
`uri` is the request URI (its query string goes to `query` as logged); `remoteAddress` is the
client IP; `api` is `apiName`, else `apiId`; `route` is `mappedPath` (the analytics path
mapping, e.g. "/orders/:id"), else "".

Decisions a caller may need:
- consumer and application are both `applicationId` (in Gravitee the consumer *is* an
  application); keyless plans report the application "1", which becomes "anonymous" / "";
- `securityToken` is the clear API key for API_KEY plans (the token id for OAuth2/JWT): it
  is hashed into `credential_hash` and never copied. `subscriptionId` is not used as a
  credential: for keyless plans Gravitee fills it with the client address;
- a record without `endpoint` never reached the backend, so its upstream latency is unknown
  (`None`) even if `endpointResponseTimeMs` says 0;
- `requestId` is the request id; `transactionId` (shared across a call chain) is not used.

Not supported: the `elasticsearch` output (`@timestamp`, kebab-case keys, integer
`http-method`) is rejected with a reason saying so; the `csv` and `message_pack` outputs
are not JSON ("invalid JSON"); message-level metrics (`message-metrics.json`) and `log`
records lack the request fields and are rejected as "…: missing required field".
"""

from __future__ import annotations

from typing import Any

import msgspec

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers.base import ParseContext, Parser
from processors.parsers.fields import epoch_time, latency_ms, method, size, split_target, status
from processors.parsers.json_framing import JsonRecords

GATEWAY = "gravitee"
KEYLESS_APPLICATION = "1"
"""The application id Gravitee reports for calls through a keyless plan."""
UNKNOWN_LENGTH = -1
"""The content length Gravitee reports when it does not know it."""


class _Metrics(msgspec.Struct, rename="camel", gc=False):
    timestamp: int | float
    http_method: str
    uri: str
    status: int
    request_id: str | None = None
    api_id: str | None = None
    api: str | None = None  # v2
    api_name: str | None = None
    mapped_path: str | None = None
    application_id: str | None = None
    application: str | None = None  # v2
    security_token: str | None = None
    remote_address: str | None = None
    user_agent: str | None = None
    request_content_length: int | None = None
    response_content_length: int | None = None
    endpoint: str | None = None
    gateway_response_time_ms: float | None = None
    proxy_response_time_ms: float | None = None  # v2
    endpoint_response_time_ms: float | None = None
    api_response_time_ms: float | None = None  # v2
    gateway_latency_ms: float | None = None
    proxy_latency_ms: float | None = None  # v2


def _to_event(rec: _Metrics, ctx: ParseContext, source: str) -> AccessEvent:
    application = rec.application_id or rec.application or ""
    if application == KEYLESS_APPLICATION:
        application = ""
    upstream = _v4_or_v2(rec.endpoint_response_time_ms, rec.api_response_time_ms)
    token = rec.security_token
    path, query = split_target("uri", rec.uri)
    return AccessEvent(
        event_time=epoch_time("timestamp", rec.timestamp),
        request_id=rec.request_id or "",
        gateway=GATEWAY,
        api=rec.api_name or rec.api_id or rec.api or "",
        route=rec.mapped_path or "",
        method=method("httpMethod", rec.http_method),
        path=path,
        query=query,
        status=status("status", rec.status),
        latency_ms=latency_ms(
            "gatewayResponseTimeMs",
            _v4_or_v2(rec.gateway_response_time_ms, rec.proxy_response_time_ms),
        ),
        upstream_latency_ms=latency_ms("endpointResponseTimeMs", upstream)
        if rec.endpoint
        else None,
        gateway_latency_ms=latency_ms(
            "gatewayLatencyMs", _v4_or_v2(rec.gateway_latency_ms, rec.proxy_latency_ms)
        ),
        bytes_in=size("requestContentLength", _length(rec.request_content_length)),
        bytes_out=size("responseContentLength", _length(rec.response_content_length)),
        consumer=application or ANONYMOUS,
        application=application,
        credential_hash=ctx.hash_credential(token) if token else "",
        client_ip=rec.remote_address or "",
        user_agent=rec.user_agent or "",
        source=source,
    )


def _v4_or_v2(v4: float | None, v2: float | None) -> float | None:
    return v4 if v4 is not None else v2


def _length(length: int | None) -> int | None:
    return None if length == UNKNOWN_LENGTH else length


def _unsupported(record: dict[str, Any]) -> str:
    if "@timestamp" in record:
        return "elasticsearch output format is not supported: set the reporter output to json"
    return ""


parse: Parser = JsonRecords(_Metrics, _to_event, unsupported=_unsupported).parse
"""Parse one Gravitee metrics line (a record or an array of records); one result each."""
