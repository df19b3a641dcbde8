"""Where the file shippers (`apim tail`, `apim backfill`) got to in each file, kept on disk.

One JSON file maps each log file's identity, `<device>:<inode>`, to an `Entry`: the byte
offset just past the last line shipped, that line's number, the file's last known path,
and a fingerprint of its first bytes (SHA-256 of the first `fingerprint_bytes` bytes, up
to `FINGERPRINT_BYTES`, never past the offset). Device and inode follow a file through a
rename; the fingerprint tells a reused inode, or a file emptied and rewritten in place
(copytruncate), from the file the entry was written for. For gzip files offsets, line
numbers and fingerprints are over the decompressed content.

Writes are atomic: a temporary file is written, fsynced, renamed over the old one, and
the directory fsynced, so a crash leaves the previous checkpoint or the new one, whole.
The shippers `save()` only after `Shipper.flush()` returned for every line up to the
offsets they record, so a restart never skips a line. What a crash can duplicate is said
by the shippers (`ingest.tail`, `ingest.backfill`): at most the lines read after the last
checkpoint written.

Bounded: on every save, an entry whose path no longer holds its file is dropped once it
has been gone for longer than `retention_s` (the time since its file was last seen).
One process at a time: the file is locked (`flock` on `<file>.lock`) while open.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from apim import logs

log = logs.get(__name__)
FINGERPRINT_BYTES = 1024
DEFAULT_RETENTION_S = 7 * 24 * 3600.0
VERSION = 1

FileId = tuple[int, int]
"""(device, inode)"""


class CheckpointError(Exception):
    """The checkpoint file cannot be used (unreadable, or in use by another process)."""


def fingerprint(head: bytes) -> str:
    return hashlib.sha256(head).hexdigest()


@dataclass
class Entry:
    path: str
    offset: int
    line: int
    fingerprint: str
    fingerprint_bytes: int
    done: bool = False
    """A gzip file read to its end (plain files are never done: they may grow)."""
    seen: float = 0.0
    """When the file was last seen at `path` (epoch s)."""


class Checkpoints:
    """The checkpoint file, loaded on open; `put` changes memory, `save` persists."""

    def __init__(self, path: Path, retention_s: float = DEFAULT_RETENTION_S) -> None:
        self.path = path
        self.retention_s = retention_s
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(path.with_name(path.name + ".lock"), "a+b")  # noqa: SIM115 (closed by close())
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise CheckpointError(
                f"{path} is in use by another shipper: give each one its own checkpoint file"
            ) from None
        self._entries = self._load()
        self.unsaved = False
        """Changed in memory since the last `save()`."""

    def __enter__(self) -> Checkpoints:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._lock.close()  # releases the lock

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, file_id: FileId) -> Entry | None:
        return self._entries.get(_key(file_id))

    def put(self, file_id: FileId, entry: Entry) -> None:
        entry.seen = time.time()
        self._entries[_key(file_id)] = entry
        self.unsaved = True

    def moved(self, file_id: FileId, path: str) -> None:
        """The file is at `path` now (renamed): where pruning looks for it."""
        entry = self._entries.get(_key(file_id))
        if entry is not None and entry.path != path:
            entry.path = path
            self.unsaved = True

    def save(self) -> None:
        """Forget files gone for longer than the retention, then write atomically."""
        self._prune(time.time())
        document = {"version": VERSION, "files": {k: asdict(e) for k, e in self._entries.items()}}
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        with open(temporary, "wb") as out:
            out.write(json.dumps(document, indent=1).encode())
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(self.path)
        self.unsaved = False
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def _load(self) -> dict[str, Entry]:
        if not self.path.exists():
            return {}
        try:
            document = json.loads(self.path.read_bytes())
            return {key: Entry(**value) for key, value in document["files"].items()}
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(
                f"{self.path} is not a checkpoint file ({exc}): move it away to start over "
                "(every file would be shipped again from its start)"
            ) from None

    def _prune(self, now: float) -> None:
        for key, entry in list(self._entries.items()):
            if _holds(entry.path, key):
                entry.seen = now
            elif now - entry.seen > self.retention_s:
                del self._entries[key]
                log.info("checkpoint forgotten: file gone", path=entry.path, file_id=key)


def _key(file_id: FileId) -> str:
    return f"{file_id[0]}:{file_id[1]}"


def _holds(path: str, key: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return _key((st.st_dev, st.st_ino)) == key
