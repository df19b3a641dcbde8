"""Envoy access logs in JSON: Istio's default and Envoy Gateway's default -> `AccessEvent`s.

Handles one JSON object a line (or a JSON array of them, framing in `json_framing`) with
the keys of either default `json_format`:
- Istio: `start_time, method, path, response_code, bytes_received, bytes_sent, duration,
  upstream_service_time, x_forwarded_for, user_agent, request_id, route_name,
  upstream_cluster, downstream_remote_address` (others ignored);
- Envoy Gateway, which names header values after the header: `x-envoy-origin-path`,
  `x-envoy-upstream-service-time`, `x-forwarded-for`, `user-agent`, `x-request-id`.
Only those keys are decoded (typed msgspec Struct).

Values follow the Envoy rules in `envoy` (units, "-", `%START_TIME%` forms, client IP,
api = `upstream_cluster`, route = `route_name`, consumer always "anonymous"). Specific to JSON:
- an unset value is `null` in typed JSON and "-" in older or untyped output, and one record
  can mix both: either one means "not logged";
- numbers may be strings: `response_code`, `duration` and the byte counts are numbers in
  typed JSON but strings ("200") where the format was not typed; both are read, other
  strings are rejected naming the key. `upstream_service_time` is always a string (it
  comes from a header) and is unknown when it is not a whole number of ms;
- `path` includes the query string; it goes to `query` as logged.

Not supported: custom `json_format`s without `start_time`, `method` or `response_code`
(rejected as "...: missing required field"), TCP records (no method or path: rejected), and
identity keys added to the format (ignored: consumer stays "anonymous").
"""

from __future__ import annotations

from typing import TypeVar

import msgspec

from apim.event import AccessEvent
from processors.parsers.base import ParseContext, Parser
from processors.parsers.envoy import (
    GATEWAY,
    client_ip,
    request_target,
    response_code,
    start_time,
    unset,
    upstream_ms,
)
from processors.parsers.fields import latency_ms, remainder_ms, size
from processors.parsers.json_framing import JsonRecords

_Int = int | str | None  # typed JSON: a number; untyped: a string; unset: null or "-"
_Ms = int | float | str | None
_T = TypeVar("_T")


class _Record(msgspec.Struct, gc=False):
    start_time: str
    method: str | None
    response_code: _Int
    path: str | None = None
    x_envoy_origin_path: str | None = msgspec.field(default=None, name="x-envoy-origin-path")
    bytes_received: _Int = None
    bytes_sent: _Int = None
    duration: _Ms = None
    upstream_service_time: _Int = None
    x_envoy_upstream_service_time: _Int = msgspec.field(
        default=None, name="x-envoy-upstream-service-time"
    )
    x_forwarded_for: str | None = None
    x_forwarded_for_header: str | None = msgspec.field(default=None, name="x-forwarded-for")
    user_agent: str | None = None
    user_agent_header: str | None = msgspec.field(default=None, name="user-agent")
    request_id: str | None = None
    x_request_id: str | None = msgspec.field(default=None, name="x-request-id")
    route_name: str | None = None
    upstream_cluster: str | None = None
    downstream_remote_address: str | None = None


def _to_event(rec: _Record, ctx: ParseContext, source: str) -> AccessEvent:
    target = unset(rec.path) or unset(rec.x_envoy_origin_path)
    method, path, query = request_target(unset(rec.method), target, "method", "path")
    latency = latency_ms("duration", rec.duration)
    upstream = upstream_ms(_either(rec.upstream_service_time, rec.x_envoy_upstream_service_time))
    forwarded_for = _either(rec.x_forwarded_for, rec.x_forwarded_for_header)
    return AccessEvent(
        event_time=start_time("start_time", rec.start_time),
        request_id=unset(_either(rec.request_id, rec.x_request_id)),
        gateway=GATEWAY,
        api=unset(rec.upstream_cluster),
        route=unset(rec.route_name),
        method=method,
        path=path,
        query=query,
        status=response_code("response_code", rec.response_code),
        latency_ms=latency,
        upstream_latency_ms=upstream,
        gateway_latency_ms=remainder_ms(latency, upstream),
        bytes_in=size("bytes_received", rec.bytes_received),
        bytes_out=size("bytes_sent", rec.bytes_sent),
        client_ip=client_ip(unset(rec.downstream_remote_address), unset(forwarded_for)),
        user_agent=unset(_either(rec.user_agent, rec.user_agent_header)),
        source=source,
    )


def _either(istio: _T | None, envoy_gateway: _T | None) -> _T | None:
    """The value under Istio's key, else under Envoy Gateway's."""
    return envoy_gateway if istio is None else istio


parse: Parser = JsonRecords(_Record, _to_event).parse
"""Parse one Istio / Envoy Gateway JSON access-log line (object or array); one result each."""
