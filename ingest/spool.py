"""A bounded disk buffer for raw-logs messages the broker cannot take right now.

When Kafka is unreachable a shipper keeps reading into the spool instead of dropping lines;
when the spool reaches its bound the shipper stops reading (and says so loudly) until the
broker is back. One file per message, named by a sequence number so order is kept and a
shipper restarted on the same spool directory resumes with what it had buffered.

File layout: `<seq>.msg` = one JSON line (topic and headers), then the message value. Written to a
temporary name and renamed, so a crash never leaves a half-written message.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

Headers = list[tuple[str, bytes]]


class SpoolFullError(Exception):
    """The spool holds its maximum number of bytes; stop reading until it drains."""


@dataclass(frozen=True)
class Spooled:
    path: Path
    topic: str
    value: bytes
    headers: Headers


class Spool:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        for leftover in directory.glob("*.tmp"):
            leftover.unlink()
        files = sorted(directory.glob("*.msg"))
        self._next = int(files[-1].stem) + 1 if files else 0
        self.size = sum(f.stat().st_size for f in files)

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*.msg"))

    @property
    def full(self) -> bool:
        return self.size >= self.max_bytes

    def append(self, topic: str, value: bytes, headers: Headers) -> None:
        if self.full:
            raise SpoolFullError(
                f"spool {self.directory} holds {self.size} bytes (bound {self.max_bytes})"
            )
        meta = {"topic": topic, "headers": [[k, v.decode("latin-1")] for k, v in headers]}
        head = json.dumps(meta).encode() + b"\n"
        final = self.directory / f"{self._next:016d}.msg"
        temporary = final.with_suffix(".tmp")
        with open(temporary, "wb") as out:
            out.write(head + value)
            out.flush()
            os.fsync(out.fileno())
        temporary.rename(final)
        self._next += 1
        self.size += len(head) + len(value)

    def oldest(self) -> Spooled | None:
        files = sorted(self.directory.glob("*.msg"))
        if not files:
            return None
        head, _, value = files[0].read_bytes().partition(b"\n")
        meta = json.loads(head)
        headers = [(k, v.encode("latin-1")) for k, v in meta["headers"]]
        return Spooled(files[0], meta["topic"], value, headers)

    def remove(self, item: Spooled) -> None:
        self.size -= item.path.stat().st_size
        item.path.unlink()
