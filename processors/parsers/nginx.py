"""NGINX access logs in the `combined` format -> `AccessEvent`s.

Handles exactly what nginx writes with `log_format combined` and the default escaping:

    $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
    "$http_referer" "$http_user_agent"

optionally followed by one of two common extensions (seconds, ms resolution):
- bare `$request_time` [`$upstream_response_time`], e.g. `0.041 0.038` or `0.041 0.010, 0.020`;
- key=value pairs `rt=$request_time urt=$upstream_response_time uct=... uht=...`, values
  optionally double-quoted (only `rt` and `urt` are used; other keys are ignored).
An upstream time list (commas between retries, colons across internal redirects) is
summed; "-" entries are skipped, and an all-"-" value is unknown (`None`).

nginx writes `"`, `\\`, control characters and bytes >= 0x7F as `\\xHH`; those are turned
back into bytes and decoded as UTF-8 (invalid sequences become U+FFFD) in the request,
the user name and the user agent. The request target's query string goes to `query`.
`$time_local` is converted to UTC. Values follow the rules of `fields`; a rejection names
the first part of the format a line breaks at.

Not supported: `escape=json` / `escape=none` variants, JSON `log_format`s, and any other
trailing fields (a line with unknown extra fields is rejected, so a changed log_format is
noticed rather than misread). `bytes_in` is never known in this format (`None`).
"""

from __future__ import annotations

import re

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers.base import ParseContext, ParseResult, Rejected
from processors.parsers.fields import (
    BadValue,
    clf_time,
    latency_ms,
    remainder_ms,
    size,
    split_request_line,
    status,
    unescape,
)
from processors.parsers.line_format import LineFormat

GATEWAY = "nginx"

_COMBINED = LineFormat(
    "the combined format",
    (
        ("remote_addr", rb"(?P<addr>\S+)"),
        ("ident '-'", rb" -"),
        ("remote_user", rb" (?P<user>.*?)"),
        ("time_local", rb" \[(?P<time>[^\]]*)\]"),
        ("request", rb' "(?P<request>[^"]*)"'),
        ("status", rb' (?P<status>[^\s"]+)'),
        ("body_bytes_sent", rb' (?P<bytes>[^\s"]+)'),
        ("http_referer", rb' "[^"]*"'),
        ("http_user_agent", rb' "(?P<ua>[^"]*)"'),
        ("extensions", rb"(?P<ext>(?: .*)?)\Z"),
    ),
)
_KV = re.compile(r'(\w+)=("[^"]*"|\S*)')


def parse(line: bytes, ctx: ParseContext) -> list[ParseResult]:
    """Parse one `combined` access-log line into one event, or one `Rejected` saying why not."""
    text = line.rstrip(b"\r\n")
    if not text or text.isspace():
        return [Rejected("empty line", line)]
    m = _COMBINED.match(text)
    if m is None:
        return [Rejected(_COMBINED.diagnose(text), line)]
    try:
        return [_to_event(m, ctx)]
    except BadValue as exc:
        return [Rejected(str(exc), line)]


def _to_event(m: re.Match[bytes], ctx: ParseContext) -> AccessEvent:
    method, path, query = split_request_line("request", unescape(m["request"], "nginx"))
    latency, upstream = _extensions(m["ext"])
    user = unescape(m["user"], "nginx")
    ua = unescape(m["ua"], "nginx")
    return AccessEvent(
        event_time=clf_time("time_local", unescape(m["time"], "nginx")),
        gateway=GATEWAY,
        method=method,
        path=path,
        query=query,
        status=status("status", m["status"].decode("utf-8", "replace")),
        latency_ms=latency,
        upstream_latency_ms=upstream,
        gateway_latency_ms=remainder_ms(latency, upstream),
        bytes_out=size("body_bytes_sent", m["bytes"].decode("utf-8", "replace")),
        consumer=ANONYMOUS if user in ("", "-") else user,
        client_ip=m["addr"].decode("utf-8", "replace"),
        user_agent="" if ua == "-" else ua,
        source=ctx.source,
    )


def _extensions(raw: bytes) -> tuple[float | None, float | None]:
    """(latency_ms, upstream_latency_ms) from the fields after the user agent."""
    ext = raw.decode("utf-8", "replace").strip()
    if not ext:
        return None, None
    if "=" in ext.split(None, 1)[0]:
        return _key_values(ext)
    request_time, _, upstream = ext.partition(" ")
    latency = latency_ms("request_time", request_time, "s")
    return latency, latency_ms("upstream_response_time", upstream, "s")


def _key_values(ext: str) -> tuple[float | None, float | None]:
    if _KV.sub("", ext).strip():
        raise BadValue(f"extensions: expected key=value pairs, got {ext[:80]!r}")
    values = {k: v.strip('"') for k, v in _KV.findall(ext)}
    latency = latency_ms("rt", values.get("rt", ""), "s")
    return latency, latency_ms("upstream_response_time", values.get("urt", ""), "s")
