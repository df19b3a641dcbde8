"""Cutting a syslog TCP stream into messages (RFC 6587), both framings, decided per frame.

- Octet counting: `<length> SP <message>`, the length in ASCII digits (HAProxy's `tcp@`
  targets, rsyslog with `TCP_Framing="octet-counted"`, RFC 5425 senders).
- Non-transparent framing: messages ended by LF (CRLF tolerated), e.g. rsyslog and
  syslog-ng defaults. A frame that starts with a digit is taken as octet counting, any
  other frame as LF-ended (syslog messages start with `<`).

Limits: a frame longer than `max_bytes` is not kept: it becomes a `BadFrame` holding its
first `max_bytes` bytes, and the rest of it is skipped, so the stream stays in step. A
length that is not followed by a space (or has more than 9 digits) makes a `BadFrame` of
what comes up to the next LF, and reading goes on after it. At the end of the stream an
unterminated LF frame is a message; an incomplete octet-counted one is a `BadFrame`.
Empty frames (blank lines) are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LENGTH = re.compile(rb"(\d{1,9}) ")
_MAX_LENGTH_PREFIX = 10  # 9 digits and the space


@dataclass(frozen=True)
class BadFrame:
    reason: str
    data: bytes


class FrameSplitter:
    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._buffer = bytearray()
        self._skip_bytes = 0
        self._skip_line = False

    def feed(self, data: bytes) -> list[bytes | BadFrame]:
        """The frames completed by `data` (messages, or `BadFrame`s), in stream order."""
        self._buffer += data
        frames: list[bytes | BadFrame] = []
        while self._buffer and (frame := self._next()) is not None:
            if frame:
                frames.append(frame)
        return frames

    def end(self) -> list[bytes | BadFrame]:
        """What is left when the stream ends."""
        left, self._buffer = bytes(self._buffer), bytearray()
        if not left or self._skip_bytes or self._skip_line:
            return []
        counted = _LENGTH.match(left)
        if counted:
            length, have = int(counted.group(1)), len(left) - counted.end()
            return [BadFrame(f"stream ended inside a frame ({have} of {length} bytes)", left)]
        message = left.rstrip(b"\r")
        return [message] if message else []

    def _next(self) -> bytes | BadFrame | None:
        """One frame taken from the buffer (b"" for nothing to keep), or None: more data."""
        if self._skip_bytes:
            skipped = min(self._skip_bytes, len(self._buffer))
            del self._buffer[:skipped]
            self._skip_bytes -= skipped
            return b""
        if self._skip_line:
            end = self._buffer.find(b"\n")
            del self._buffer[: len(self._buffer) if end < 0 else end + 1]
            self._skip_line = end < 0
            return b""
        if self._buffer[:1].isdigit():
            return self._counted()
        return self._line()

    def _counted(self) -> bytes | BadFrame | None:
        counted = _LENGTH.match(self._buffer)
        if counted is None:
            prefix = self._buffer[:_MAX_LENGTH_PREFIX]
            if prefix.isdigit() and len(prefix) < _MAX_LENGTH_PREFIX:
                return None  # the length is still arriving
            bad = self._line()
            if bad is None:  # no LF yet: wait for the end of this garbage
                return None
            data = bad.data if isinstance(bad, BadFrame) else bad
            return BadFrame("octet count not followed by a space", data)
        start, length = counted.end(), int(counted.group(1))
        if length > self._max:
            if len(self._buffer) - start < self._max:
                return None
            data = bytes(self._buffer[start : start + self._max])
            del self._buffer[: start + self._max]
            self._skip_bytes = length - self._max
            return BadFrame(f"frame of {length} bytes, over the limit of {self._max}", data)
        if len(self._buffer) - start < length:
            return None
        frame = bytes(self._buffer[start : start + length])
        del self._buffer[: start + length]
        return frame

    def _line(self) -> bytes | BadFrame | None:
        end = self._buffer.find(b"\n")
        if end < 0 and len(self._buffer) <= self._max:
            return None
        if end < 0 or end > self._max:
            data = bytes(self._buffer[: self._max])
            del self._buffer[: len(self._buffer) if end < 0 else end + 1]
            self._skip_line = end < 0
            return BadFrame(f"frame longer than {self._max} bytes", data)
        frame = bytes(self._buffer[:end]).rstrip(b"\r")
        del self._buffer[: end + 1]
        return frame
