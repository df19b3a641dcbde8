"""The canonical access event: one API call as seen by a gateway, whatever the gateway.

Every parser produces it, the aggregator reads it, the warehouse stores it. Units are
fixed here so no later stage has to guess: times are UTC, latencies milliseconds,
sizes bytes. A field the gateway did not log is ``None`` (numbers) or ``""`` (text).

Fields
    event_time           UTC time the request started (ms precision)
    request_id           gateway request id, "" when the gateway logs none
    gateway              gateway kind that wrote the log ("kong", "nginx", …)
    api                  API / service name ("" when the gateway does not know it)
    route                gateway route name ("" when none)
    method, path         HTTP method; path without the query string
    status               HTTP status code sent to the client
    latency_ms           total time, first byte in to last byte out
    upstream_latency_ms  time spent in the upstream service
    gateway_latency_ms   time spent in the gateway itself
    bytes_in, bytes_out  request size and response size as the gateway counts them
    consumer             who called (see `consumer identity` in the README); "anonymous" if unknown
    application          the consumer's application, "" when the gateway does not say
    credential_hash      keyed hash (HMAC-SHA256) of the credential; the credential never leaves the parser
    client_ip, user_agent
    source               where the line came from: "<file or topic>:<line or offset>"
"""

from __future__ import annotations

from datetime import datetime

import msgspec

ANONYMOUS = "anonymous"


class AccessEvent(msgspec.Struct, kw_only=True, frozen=True):
    event_time: datetime
    gateway: str
    method: str
    path: str
    status: int
    request_id: str = ""
    api: str = ""
    route: str = ""
    latency_ms: float | None = None
    upstream_latency_ms: float | None = None
    gateway_latency_ms: float | None = None
    bytes_in: int | None = None
    bytes_out: int | None = None
    consumer: str = ANONYMOUS
    application: str = ""
    credential_hash: str = ""
    client_ip: str = ""
    user_agent: str = ""
    source: str = ""


EVENT_FIELDS: tuple[str, ...] = AccessEvent.__struct_fields__
