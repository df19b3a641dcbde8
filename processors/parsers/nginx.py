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
the user name and the user agent. `$time_local` is converted to UTC.

Not supported: `escape=json` / `escape=none` variants, JSON `log_format`s, and any other
trailing fields (a line with unknown extra fields is rejected, so a changed log_format is
noticed rather than misread). `bytes_in` is never known in this format (`None`).
Absolute-form request targets ("GET http://host/x HTTP/1.1") keep the full URI as path.
"""

from __future__ import annotations

import re

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers.base import ParseContext, ParseResult, Rejected
from processors.parsers.values import (
    FieldError,
    clf_time,
    remainder_ms,
    request_line,
    seconds_list_to_ms,
    seconds_to_ms,
)

GATEWAY = "nginx"

_PARTS: tuple[tuple[str, bytes], ...] = (  # each part starts with its leading separator
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
)
_LINE = re.compile(b"".join(p for _, p in _PARTS), re.DOTALL)
_PREFIXES = tuple(
    (name, re.compile(b"".join(p for _, p in _PARTS[: i + 1]), re.DOTALL))
    for i, (name, _) in enumerate(_PARTS)
)
_STATUS = re.compile(rb"\d{3}")
_DIGITS = re.compile(rb"\d+")
_KV = re.compile(r'(\w+)=("[^"]*"|\S*)')
_ESCAPE = re.compile(rb"\\x([0-9A-Fa-f]{2})")


def parse(line: bytes, ctx: ParseContext) -> list[ParseResult]:
    """Parse one `combined` access-log line into one event, or one `Rejected` saying why not."""
    text = line.rstrip(b"\r\n")
    if not text.strip():
        return [Rejected("empty line", line)]
    m = _LINE.match(text)
    if m is None:
        return [Rejected(_diagnose(text), line)]
    try:
        return [_to_event(m, ctx)]
    except FieldError as exc:
        return [Rejected(str(exc), line)]


def _to_event(m: re.Match[bytes], ctx: ParseContext) -> AccessEvent:
    method, path = request_line("request", _unescape(m["request"]))
    latency, upstream = _extensions(m["ext"])
    user = _unescape(m["user"])
    ua = _unescape(m["ua"])
    return AccessEvent(
        event_time=clf_time("time_local", _unescape(m["time"])),
        gateway=GATEWAY,
        method=method,
        path=path,
        status=_status(m["status"]),
        latency_ms=latency,
        upstream_latency_ms=upstream,
        gateway_latency_ms=remainder_ms(latency, upstream),
        bytes_out=_body_bytes(m["bytes"]),
        consumer=ANONYMOUS if user in ("", "-") else user,
        client_ip=m["addr"].decode("utf-8", "replace"),
        user_agent="" if ua == "-" else ua,
        source=ctx.source,
    )


def _diagnose(text: bytes) -> str:
    """Name the first part of the format that the line does not match."""
    for name, prefix in _PREFIXES:
        if prefix.match(text) is None:
            return f"{name}: missing or malformed (line does not match the combined format)"
    return "line does not match the combined log format"  # unreachable in practice


def _status(raw: bytes) -> int:
    if not _STATUS.fullmatch(raw):
        raise FieldError(f"status: expected a 3-digit code, got {_unescape(raw)[:20]!r}")
    status = int(raw)
    if not 100 <= status <= 599:
        raise FieldError(f"status: {status} not in 100-599")
    return status


def _body_bytes(raw: bytes) -> int | None:
    if raw == b"-":
        return None
    if not _DIGITS.fullmatch(raw):
        raise FieldError(f"body_bytes_sent: expected a byte count, got {_unescape(raw)[:20]!r}")
    return int(raw)


def _extensions(raw: bytes) -> tuple[float | None, float | None]:
    """(latency_ms, upstream_latency_ms) from the fields after the user agent."""
    ext = raw.decode("utf-8", "replace").strip()
    if not ext:
        return None, None
    if "=" in ext.split(None, 1)[0]:
        return _key_values(ext)
    request_time, _, upstream = ext.partition(" ")
    latency = seconds_to_ms("request_time", request_time)
    return latency, seconds_list_to_ms("upstream_response_time", upstream)


def _key_values(ext: str) -> tuple[float | None, float | None]:
    if _KV.sub("", ext).strip():
        raise FieldError(f"extensions: expected key=value pairs, got {ext[:80]!r}")
    values = {k: v.strip('"') for k, v in _KV.findall(ext)}
    latency = seconds_to_ms("rt", values.get("rt", ""))
    return latency, seconds_list_to_ms("upstream_response_time", values.get("urt", ""))


def _unescape(raw: bytes) -> str:
    r"""nginx's `\xHH` escapes back to bytes, then UTF-8 (invalid sequences -> U+FFFD)."""
    if b"\\x" in raw:
        raw = _ESCAPE.sub(lambda m: bytes((int(m[1], 16),)), raw)
    return raw.decode("utf-8", "replace")
