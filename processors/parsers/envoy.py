"""Envoy access logs in text: Envoy's default format and Istio's default -> `AccessEvent`s.

Handles the two default `text_format`s, one request a line:
- Envoy's default:
      [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
      %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
      %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
      "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"
- Istio's (1.9 onwards), which adds `%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
  "%UPSTREAM_TRANSPORT_FAILURE_REASON%"` after the flags and `%UPSTREAM_CLUSTER_RAW%
  %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS%
  %REQUESTED_SERVER_NAME% %ROUTE_NAME%` at the end. A line ending in a quote is taken
  for Envoy's, any other for Istio's; a rejection names the first field that breaks.
A leading "ACCESS " (Ambassador / Emissary) is skipped. Envoy escapes nothing: a quote inside
the user agent is kept (the fields around it are found from the end of the line), and bytes
that are not UTF-8 become U+FFFD.

Mapping and units, shared with `envoy_json` through the public helpers below (value rules in
`fields`): "-" (and, in JSON, null or "") is a value Envoy did not have -> "" or `None`.
`%START_TIME%` is ISO 8601 with "Z" or an offset ("+02:00" or "+0200", up to 9 fraction
digits), or epoch seconds (`%START_TIME(%s.%3f)%`). `%DURATION%` and the upstream service
time are milliseconds;
`gateway_latency_ms` is their difference. Bytes are body bytes. The path is
`X-ENVOY-ORIGINAL-PATH` when a route rewrote it (what the client called), without the
query string, which goes to `query` as logged. `api` is the upstream cluster and `route`
the route name (Istio only).

Decisions a caller may need:
- consumer is always "anonymous" and `credential_hash` "": Envoy has no notion of a
  consumer and the default formats log no identity or credential;
- `client_ip` is the IP of `%DOWNSTREAM_REMOTE_ADDRESS%` (Envoy's own view, which applies
  its trusted X-Forwarded-For hops) when logged (Istio), else the first X-Forwarded-For entry;
- the upstream service time is a response header: a value that is not a whole number of ms
  is unknown (`None`), not a rejection, since an upstream can send its own;
- `%RESPONSE_CODE%` 0 (the downstream went away before a response) is rejected, and so are
  records without a method or path: TCP-proxy records ("- - -") and requests Envoy could not
  decode (400 with flag DPE); none of them is an HTTP API call with a known status and path.

Not supported: other `text_format`s, including Istio before 1.9 (with
`%DYNAMIC_METADATA(istio.mixer:status)%`): they are rejected, naming the first field that
does not fit; JSON logs (see `envoy_json`); container-runtime wrappers such as
`{"log": "..."}` or `{"message": "ACCESS ..."}`, which must be unwrapped before parsing.
"""

from __future__ import annotations

import re
from datetime import datetime

from apim.event import AccessEvent
from processors.parsers import fields
from processors.parsers.addresses import first_forwarded, ip_of
from processors.parsers.base import ParseContext, ParseResult, Rejected
from processors.parsers.fields import BadValue
from processors.parsers.line_format import LineFormat

GATEWAY = "envoy"

_HEAD = (
    ("START_TIME", rb"\[(?P<time>[^\]]*)\]"),
    ("request", rb' "(?P<method>\S+) (?P<path>\S+) (?P<protocol>\S+)"'),
    ("RESPONSE_CODE", rb" (?P<status>\S+)"),
    ("RESPONSE_FLAGS", rb" \S+"),
)
_ISTIO_DETAILS = (
    ("RESPONSE_CODE_DETAILS", rb" \S+"),
    ("CONNECTION_TERMINATION_DETAILS", rb" \S+"),
    ("UPSTREAM_TRANSPORT_FAILURE_REASON", rb' "[^"]*"'),
)
_BODY = (
    ("BYTES_RECEIVED", rb" (?P<bytes_in>\S+)"),
    ("BYTES_SENT", rb" (?P<bytes_out>\S+)"),
    ("DURATION", rb" (?P<duration>\S+)"),
    ("X-ENVOY-UPSTREAM-SERVICE-TIME", rb" (?P<upstream>\S+)"),
    ("X-FORWARDED-FOR", rb' "(?P<xff>[^"]*)"'),
    ("USER-AGENT", rb' "(?P<ua>.*)"'),
    ("X-REQUEST-ID", rb' "(?P<request_id>[^"]*)"'),
    (":AUTHORITY", rb' "[^"]*"'),
    ("UPSTREAM_HOST", rb' "[^"]*"'),
)
_ISTIO_TAIL = (
    ("UPSTREAM_CLUSTER", rb" (?P<cluster>\S+)"),
    ("UPSTREAM_LOCAL_ADDRESS", rb" \S+"),
    ("DOWNSTREAM_LOCAL_ADDRESS", rb" \S+"),
    ("DOWNSTREAM_REMOTE_ADDRESS", rb" (?P<remote>\S+)"),
    ("REQUESTED_SERVER_NAME", rb" \S+"),
    ("ROUTE_NAME", rb" (?P<route>\S+)"),
)
_ENVOY = LineFormat("Envoy's default format", _HEAD + _BODY)
_ISTIO = LineFormat("Istio's default format", _HEAD + _ISTIO_DETAILS + _BODY + _ISTIO_TAIL)
_AMBASSADOR_PREFIX = b"ACCESS "
_PATH_OPERATOR = "REQ(X-ENVOY-ORIGINAL-PATH?:PATH)"
_EPOCH_SECONDS = re.compile(r"\d+(?:\.\d+)?", re.ASCII)
_WHOLE_MS = re.compile(r"\d{1,18}", re.ASCII)


def parse(line: bytes, ctx: ParseContext) -> list[ParseResult]:
    """Parse one Envoy or Istio default text access-log line into one event, or a `Rejected`."""
    text = line.removeprefix(_AMBASSADOR_PREFIX)
    if not text.strip():
        return [Rejected("empty line", line)]
    log_format = _ENVOY if text.rstrip().endswith(b'"') else _ISTIO
    m = log_format.match(text)
    if m is None:
        return [Rejected(log_format.diagnose(text), line)]
    try:
        return [_to_event(m, ctx)]
    except BadValue as exc:
        return [Rejected(str(exc), line)]


def _to_event(m: re.Match[bytes], ctx: ParseContext) -> AccessEvent:
    f = {name: unset(raw.decode("utf-8", "replace")) for name, raw in m.groupdict().items()}
    method, path, query = request_target(f["method"], f["path"], "REQ(:METHOD)", _PATH_OPERATOR)
    latency = fields.latency_ms("DURATION", f["duration"])
    upstream = upstream_ms(f["upstream"])
    return AccessEvent(
        event_time=start_time("START_TIME", f["time"]),
        request_id=f["request_id"],
        gateway=GATEWAY,
        api=f.get("cluster", ""),
        route=f.get("route", ""),
        method=method,
        path=path,
        query=query,
        status=response_code("RESPONSE_CODE", f["status"]),
        latency_ms=latency,
        upstream_latency_ms=upstream,
        gateway_latency_ms=fields.remainder_ms(latency, upstream),
        bytes_in=fields.size("BYTES_RECEIVED", f["bytes_in"]),
        bytes_out=fields.size("BYTES_SENT", f["bytes_out"]),
        client_ip=client_ip(f.get("remote", ""), f["xff"]),
        user_agent=f["ua"],
        source=ctx.source,
    )


# --- Envoy value rules, shared with envoy_json ----------------------------------------


def unset(value: str | None) -> str:
    """A text value; "-" (text and JSON) and null (JSON), Envoy's "not set", give ""."""
    return "" if value is None or value == "-" else value


def start_time(field: str, text: str) -> datetime:
    """`%START_TIME%`: ISO 8601 ("...45.678Z", "...45+0200") or epoch seconds -> UTC."""
    if _EPOCH_SECONDS.fullmatch(text):
        return fields.epoch_time(field, text, "epoch_s")
    return fields.iso_time(field, text)


def request_target(
    method: str, target: str, method_field: str, path_field: str
) -> tuple[str, str, str]:
    """(method, path, query) of an HTTP record; TCP and undecodable ones are rejected."""
    if not method and not target:
        raise BadValue("request: no HTTP method or path (a TCP record, or an undecodable request)")
    if not method:
        raise BadValue(f"{method_field}: not logged")
    if not target:
        raise BadValue(f"{path_field}: not logged")
    return fields.method(method_field, method), *fields.split_target(path_field, target)


def response_code(field: str, value: int | str | None) -> int:
    """`%RESPONSE_CODE%`, a number, or a string in text and untyped JSON; 0 is rejected."""
    if fields.unknown(value):
        raise BadValue(f"{field}: not logged")
    if not str(value).lstrip("0"):  # 0, "0", "00"
        raise BadValue(f"{field}: 0, no response was sent (the downstream disconnected)")
    return fields.status(field, value)


def upstream_ms(value: int | str | None) -> float | None:
    """`%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%` (ms): a header, so anything not a number is unknown."""
    if isinstance(value, str):
        value = int(value) if _WHOLE_MS.fullmatch(value) else None
    return fields.latency_ms("X-ENVOY-UPSTREAM-SERVICE-TIME", value)


def client_ip(remote_address: str, forwarded_for: str) -> str:
    """The IP of `%DOWNSTREAM_REMOTE_ADDRESS%`, else the first X-Forwarded-For entry, else ""."""
    return ip_of(remote_address) or first_forwarded(forwarded_for)
