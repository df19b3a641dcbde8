"""Syslog message headers (RFC 5424 and RFC 3164): who sent the message, and its content.

What the gateways send (checked against their sources):
- NGINX `access_log syslog:server=...`: `<190>Nov  4 10:00:00 web-1 nginx: <line>` (the day
  padded with a space; no hostname with `nohostname`; `tag=` sets the tag). UDP only.
- HAProxy 2.3+ (`log <addr> local0`, default `format rfc3164`): `<134>Nov 24 10:00:00
  localhost haproxy[123]: <line>` + LF: the hostname is `log-send-hostname`, else the literal
  `localhost`; before 2.3, and with `format local`, there is no hostname at all.
  `format rfc5424`: `<134>1 2026-11-24T10:00:00.123456+00:00 lb-1 haproxy 123 - - <line>`,
  hostname `-` without `log-send-hostname`.

RFC 5424 (`<PRI>1 ...`): TIMESTAMP (RFC 3339 or `-`), HOSTNAME, APP-NAME, PROCID and
MSGID, then STRUCTURED-DATA (`-` or `[...]` elements, escapes honoured) and the MSG, whose
UTF-8 BOM is dropped. RFC 3164: TIMESTAMP (`Mmm dd hh:mm:ss`, or RFC 3339 as rsyslog
forwards), then an optional HOSTNAME, then the TAG `app:` or `app[pid]:`; the content is
what follows the colon (one space dropped). A first word ending with `:` is the tag, so a
message without hostname is told apart from one with it.

The content keeps its bytes, except trailing LF, CR and NUL (HAProxy ends messages with LF).
A header that does not fit raises `MalformedMessage` with the reason. Not supported:
messages without a timestamp (HAProxy `format priority/short/raw`), and RFC 3164 messages
without a `TAG:`; `-` (nil) hostname or app name become None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PRI = re.compile(rb"<(\d{1,3})>")
_RFC3339 = rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)"
_RFC5424 = re.compile(
    rb"1 (?P<time>-|" + _RFC3339 + rb") (?P<host>[!-~]{1,255}) (?P<app>[!-~]{1,48}) "
    rb"(?P<procid>[!-~]{1,128}) (?P<msgid>[!-~]{1,32}) "
)
_BSD_TIME = re.compile(
    rb"(?:(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 0-3]\d \d\d:\d\d:\d\d"
    rb"|" + _RFC3339 + rb") "
)
_TAG = re.compile(rb"(?P<app>[^\s:\[\]]{1,48})(?:\[[^\s\]]{0,128}\])?: ?")
_HOST = re.compile(rb"(?P<host>[!-~]{1,255}) ")
_BOM = b"\xef\xbb\xbf"
NIL = b"-"


class MalformedMessage(ValueError):
    """Not a syslog message we can read; the message says why."""


@dataclass(frozen=True)
class SyslogMessage:
    hostname: str | None
    app_name: str | None
    content: bytes


def parse_message(frame: bytes) -> SyslogMessage:
    pri = _PRI.match(frame)
    if pri is None or int(pri.group(1)) > 191:
        raise MalformedMessage("no <PRI> (0-191) at the start")
    rest = frame[pri.end() :]
    if rest.startswith(b"1 "):
        return _rfc5424(rest)
    return _rfc3164(rest)


def _rfc5424(rest: bytes) -> SyslogMessage:
    header = _RFC5424.match(rest)
    if header is None:
        raise MalformedMessage(
            "RFC 5424: expected VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID after <PRI>"
        )
    after = rest[_structured_data_end(rest, header.end()) :]
    if after and not after.startswith(b" "):
        raise MalformedMessage("RFC 5424: expected a space after STRUCTURED-DATA")
    content = _content(after[1:].removeprefix(_BOM))
    return SyslogMessage(_nil(header.group("host")), _nil(header.group("app")), content)


def _structured_data_end(rest: bytes, start: int) -> int:
    """The index just after STRUCTURED-DATA (`-`, or `[...]` elements) starting at `start`."""
    if rest[start : start + 1] == NIL:
        return start + 1
    position = start
    while rest[position : position + 1] == b"[":
        position = _element_end(rest, position)
    if position == start:
        raise MalformedMessage("RFC 5424: STRUCTURED-DATA must be '-' or start with '['")
    return position


def _element_end(rest: bytes, position: int) -> int:
    quoted = False
    position += 1
    while position < len(rest):
        byte = rest[position : position + 1]
        if quoted and byte == b"\\":
            position += 2
            continue
        if byte == b'"':
            quoted = not quoted
        elif byte == b"]" and not quoted:
            return position + 1
        position += 1
    raise MalformedMessage("RFC 5424: STRUCTURED-DATA element not closed by ']'")


def _rfc3164(rest: bytes) -> SyslogMessage:
    time = _BSD_TIME.match(rest)
    if time is None:
        raise MalformedMessage(
            "RFC 3164: expected a timestamp (Mmm dd hh:mm:ss) after <PRI>, or '1 ' for RFC 5424"
        )
    position, hostname = time.end(), None
    tag = _TAG.match(rest, position)
    if tag is None:
        host = _HOST.match(rest, position)
        tag = _TAG.match(rest, host.end()) if host else None
        if host is None or tag is None:
            raise MalformedMessage("RFC 3164: expected [HOSTNAME] TAG: after the timestamp")
        hostname = host.group("host").decode("ascii")
    app = tag.group("app").decode(errors="replace")
    return SyslogMessage(hostname, app, _content(rest[tag.end() :]))


def _nil(field: bytes) -> str | None:
    return None if field == NIL else field.decode("ascii")


def _content(content: bytes) -> bytes:
    return content.rstrip(b"\r\n\x00")
