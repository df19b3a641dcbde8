"""One log file, plain or gzip, read as numbered lines from where its checkpoint says.

Line numbers count every newline-terminated line of the file from 1, blank ones too; the
offset is the byte just past the last line read. For gzip files (recognised by their
magic bytes, whatever their name) both are over the decompressed content, and resuming
decompresses up to the offset again.

A line without its newline yet is held back (not counted) until the newline arrives:
a writer may be in the middle of it. Only a finished file (`final`, and every gzip
file, which is complete by construction) gives its unterminated last line. Memory stays
bounded: of a line longer than `MAX_MESSAGE_BYTES` only the first `MAX_MESSAGE_BYTES + 1`
bytes are kept, enough for the shipper to see it is too long and dead-letter its start.

Resuming checks the checkpoint is about this content (see `ingest.checkpoint`): when the
file's first bytes changed (inode reused, or rewritten in place) or it is shorter than the
offset (truncated in place, copytruncate), reading restarts at line 1, and says why.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

from apim import logs
from ingest.checkpoint import FINGERPRINT_BYTES, Checkpoints, Entry, fingerprint
from ingest.kafka import MAX_MESSAGE_BYTES

log = logs.get(__name__)
READ_BYTES = 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
DAMAGED_GZIP = (EOFError, gzip.BadGzipFile, zlib.error)
"""What reading a damaged or truncated gzip file raises."""


class LogFile:
    """An open log file; `lines()` reads on from the current position."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._raw = open(path, "rb", buffering=0)  # noqa: SIM115 (closed by close())
        st = os.fstat(self._raw.fileno())
        self.id = (st.st_dev, st.st_ino)
        self.gzipped = _starts_with_gzip_magic(self._raw.fileno())
        self._stream = gzip.GzipFile(fileobj=self._raw, mode="rb") if self.gzipped else self._raw
        # one read (one decompression step) at a time: a damaged gzip file loses no more
        self._read = self._stream.read1 if self.gzipped else self._stream.read
        self.offset = 0
        self.line = 0
        self.done = False
        """A gzip file read to its end."""
        self.at_eof = False
        self._head = bytearray()
        self._pending = bytearray()
        self._pending_size = 0

    @classmethod
    def open(cls, path: Path, checkpoints: Checkpoints) -> LogFile:
        """Open `path` at its checkpoint, or at its start when it has none or another
        content's (then logging why)."""
        file = cls(path)
        entry = checkpoints.get(file.id)
        if entry is not None:
            try:
                file._resume(entry)
            except BaseException:
                file.close()
                raise
        return file

    def __enter__(self) -> LogFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stream.close()
        self._raw.close()

    def stat(self) -> os.stat_result:
        return os.fstat(self._raw.fileno())

    @property
    def size(self) -> int:
        """Bytes on disk (compressed, for gzip)."""
        return self.stat().st_size

    @property
    def raw_position(self) -> int:
        """Bytes of the file on disk read so far (compressed, for gzip)."""
        return self._raw.tell()

    @property
    def read_position(self) -> int:
        """Past the last byte read: `offset` plus the held-back start of a line."""
        return self.offset + self._pending_size

    @property
    def finished(self) -> bool:
        """Nothing left to read: a gzip file read to its end, or a plain file up to its size."""
        return self.done if self.gzipped else self.offset >= self.size

    def checkpoint(self) -> Entry:
        head = bytes(self._head[: min(FINGERPRINT_BYTES, self.offset)])
        return Entry(
            str(self.path), self.offset, self.line, fingerprint(head), len(head), self.done
        )

    def lines(self, budget: int, *, final: bool = False) -> Iterator[tuple[int, bytes]]:
        """The complete lines (number, bytes without the newline or a trailing CR) from the
        read position on, reading about `budget` bytes at most; `offset` and `line` move
        with each line yielded, so consume it to the end.

        At the end of the file `at_eof` is set; then a finished file (`final`, or gzip)
        gives its unterminated last line too, and a gzip file is `done`."""
        self.at_eof = self.done
        read = 0
        while read < budget and not self.done:
            chunk = self._read(min(READ_BYTES, budget - read))
            if not chunk:
                self.at_eof = True
                break
            read += len(chunk)
            self._remember_head(chunk)
            yield from self._split(chunk)
        if self.at_eof and (final or self.gzipped):
            if self._pending_size:
                yield self._take(b"", 0)
            self.done = self.gzipped

    def rewritten(self) -> str | None:
        """Why this open plain file no longer holds what was read from it, or None."""
        if self.gzipped:
            return None
        if self.size < self.read_position:
            return "shrank below the read position: truncated in place (copytruncate)"
        if os.pread(self._raw.fileno(), len(self._head), 0) != self._head:
            return "its first bytes changed: rewritten in place"
        return None

    def restart(self, reason: str) -> None:
        """Read again from line 1 (the content is not what was read before)."""
        log.warning(
            "reading the file again from its start",
            path=str(self.path),
            reason=reason,
            offset=self.offset,
            line=self.line,
        )
        self._stream.seek(0)
        self.offset = self.line = self._pending_size = 0
        self.done = False
        self._head.clear()
        self._pending.clear()

    def _resume(self, entry: Entry) -> None:
        self.offset, self.line = entry.offset, entry.line  # what `restart` reports
        self._stream.seek(0)
        head = self._stream.read(min(FINGERPRINT_BYTES, entry.offset))
        known = head[: entry.fingerprint_bytes]
        if len(known) < entry.fingerprint_bytes or fingerprint(known) != entry.fingerprint:
            self.restart("its first bytes differ from the checkpoint's: a new file or rewritten")
            return
        if entry.done:  # a gzip file read to its end: not read again
            self.done = True
            self._head[:] = head
            return
        if not self.gzipped and self.size < entry.offset:
            self.restart("shorter than its checkpoint: truncated in place (copytruncate)")
            return
        self._stream.seek(entry.offset)
        if self._stream.tell() != entry.offset:
            self.restart("shorter than its checkpoint")
            return
        self._head[:] = head

    def _remember_head(self, chunk: bytes) -> None:
        position = self.read_position
        if position < FINGERPRINT_BYTES:
            self._head += chunk[: FINGERPRINT_BYTES - position]

    def _split(self, chunk: bytes) -> Iterator[tuple[int, bytes]]:
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            yield self._take(chunk[start:end], end - start + 1)
            start = end + 1
        self._hold(chunk[start:])

    def _take(self, piece: bytes, size: int) -> tuple[int, bytes]:
        """The line ending with `piece` (`size` bytes of the file, held-back start and
        newline included)."""
        if self._pending_size:
            self._hold(piece)
            piece, size = bytes(self._pending), self._pending_size + size - len(piece)
            self._pending.clear()
            self._pending_size = 0
        self.offset += size
        self.line += 1
        return self.line, piece.rstrip(b"\r")

    def _hold(self, piece: bytes) -> None:
        room = MAX_MESSAGE_BYTES + 1 - len(self._pending)
        if room > 0:
            self._pending += piece[:room]
        self._pending_size += len(piece)


def is_gzip(path: Path) -> bool:
    """Whether `path` holds gzip data (by its magic bytes, whatever its name)."""
    with open(path, "rb", buffering=0) as raw:
        return _starts_with_gzip_magic(raw.fileno())


def _starts_with_gzip_magic(fd: int) -> bool:
    return os.pread(fd, 2, 0) == GZIP_MAGIC
