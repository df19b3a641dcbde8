r"""Lines of Go's logrus `TextFormatter` (`time="…" level=info key=value …`) -> a dict.

Used by the Tyk parser for the gateway's text access log. logrus writes `key=value` pairs
separated by one space; a value is written bare when it only holds `[A-Za-z0-9-._/@^+]`
and Go-quoted (`strconv.Quote`: `\"`, `\\`, `\n`, `\t`, `\xHH` for invalid bytes,
`\uHHHH` …) otherwise. An empty value is written bare (`msg=`). All values come back as
text (UTF-8, invalid sequences -> U+FFFD); typing them is the caller's job.

Not supported: colored output (`ForceColors`), custom `FieldMap`s, and keys holding
spaces, `=` or quotes (logrus does not escape keys); such lines are rejected with the
byte offset where the pairs stop.
"""

from __future__ import annotations

import re

_PAIR = re.compile(rb'([^\s="]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)(?: +|\Z)', re.DOTALL)
_ESCAPE = re.compile(rb"\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|(.))", re.DOTALL)
_SIMPLE = {
    b"a": b"\a",
    b"b": b"\b",
    b"f": b"\f",
    b"n": b"\n",
    b"r": b"\r",
    b"t": b"\t",
    b"v": b"\v",
}


class NotLogrusText(ValueError):
    """The line is not a sequence of logrus `key=value` pairs; the message says where."""


def fields(line: bytes) -> dict[str, str]:
    """The `key=value` pairs of one logrus text line (a later duplicate key wins)."""
    text = line.rstrip(b"\r\n")
    found: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        m = _PAIR.match(text, pos)
        if m is None:
            raise NotLogrusText(f"expected key=value at byte {pos}: {_shown(text[pos:])!r}")
        found[m[1].decode("utf-8", "replace")] = _value(m[2])
        pos = m.end()
    return found


def _value(raw: bytes) -> str:
    if raw.startswith(b'"'):
        raw = _ESCAPE.sub(_unescape, raw[1:-1])
    return raw.decode("utf-8", "replace")


def _unescape(m: re.Match[bytes]) -> bytes:
    """One Go escape as the bytes it stands for (a `\\u` rune as UTF-8)."""
    if m[1]:
        return bytes((int(m[1], 16),))
    code = m[2] or m[3]
    if code:
        value = int(code, 16)
        return chr(value).encode("utf-8", "surrogatepass") if value <= 0x10FFFF else b"\xff"
    return _SIMPLE.get(m[4], m[4])  # \\ and \" stand for themselves


def _shown(rest: bytes) -> str:
    return rest[:40].decode("utf-8", "replace")
