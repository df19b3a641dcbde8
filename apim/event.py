"""The canonical access event: one API call as seen by a gateway, whatever the gateway.

Every parser produces it, the enrichment step completes it, the aggregator reads it, the
warehouse stores it. Units are
fixed here so no later stage has to guess: times are UTC, latencies milliseconds,
sizes bytes. A field the gateway did not log is ``None`` (numbers) or ``""`` (text).

Fields
    event_time           UTC time the request started (ms precision)
    request_id           gateway request id, "" when the gateway logs none
    gateway              gateway kind that wrote the log ("kong", "nginx", …)
    api                  API / service name ("" when the gateway does not know it)
    route                gateway route name ("" when none)
    method, path         HTTP method; path without the query string
    query                the query string as logged, without "?" ("" when none or not logged)
    headers              request headers the gateway logged, names lower-cased (most log none)
    status               HTTP status code sent to the client
    latency_ms           total time, first byte in to last byte out
    upstream_latency_ms  time spent in the upstream service
    gateway_latency_ms   time spent in the gateway itself
    bytes_in, bytes_out  request size and response size as the gateway counts them
    consumer             who called (see `consumer identity` in the README); "anonymous" if nobody
                         is named, `unknown:<hash prefix>` when only a credential is known
    application          the consumer's application, "" when the gateway does not say
    credential_hash      keyed hash (HMAC-SHA256) of the credential; the credential never leaves the parser
    client_ip, user_agent
    source               where the line came from: "<file or topic>:<line or offset>"

Filled by the enrichment step (`processors.enrichment`), "" until then
    endpoint             path template: from the API's OpenAPI document, else ids folded to {id}
    api_version          the API version the request addressed ("v2", "2024-01-01")
    operation_id         the OpenAPI operation id
    spec                 "matched" / "unmatched" (the API has a spec, the path is not in it) / "none"
    organisation, plan   from the consumer registry
    country              ISO 3166-1 alpha-2 of the client IP (registry data, offline)
    client_family, client_os, sdk   from the user agent
"""

from __future__ import annotations

from datetime import datetime

import msgspec

ANONYMOUS = "anonymous"
UNKNOWN_PREFIX = "unknown:"
UNKNOWN_HASH_CHARS = 12


def unknown_consumer(credential_hash: str) -> str:
    """The consumer of an event whose caller is known only by its credential."""
    return (
        f"{UNKNOWN_PREFIX}{credential_hash[:UNKNOWN_HASH_CHARS]}" if credential_hash else ANONYMOUS
    )


class AccessEvent(msgspec.Struct, kw_only=True, frozen=True):
    event_time: datetime
    gateway: str
    method: str
    path: str
    status: int
    query: str = ""
    headers: dict[str, str] = {}
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
    endpoint: str = ""
    api_version: str = ""
    operation_id: str = ""
    spec: str = ""
    organisation: str = ""
    plan: str = ""
    country: str = ""
    client_family: str = ""
    client_os: str = ""
    sdk: str = ""


EVENT_FIELDS: tuple[str, ...] = AccessEvent.__struct_fields__
