"""`apim tail`: follow the log files matching globs and ship their lines as they are written.

Handled:
- Files: every regular file matching a `Watch` glob (`**` too), each watch with its log
  format; a file matched by several watches takes the first one's. The globs are matched
  again every round (at least every `poll_s`), so new files are picked up while running.
  All followed files are read in turn, at most `ROUND_BYTES` each per round, so a backlog
  in one does not hold up the others. A file without a checkpoint is read from its start
  (on the first run too).
- Headers: `source` = the file's name when the tailer opened it, `line` = line number in
  the file, carried across restarts by the checkpoint (`ingest.logfile` for the rules).
- Rotation by rename: files are followed by device and inode, not by name. A followed
  file no glob matches any more (renamed away, or deleted) is read to its end first in
  every round, before the file now at its path, and stays open until it has not grown
  for `rotate_wait_s` (its writer may append until it reopens its log); then its
  unterminated last line, if any, is shipped and it is closed.
- Copytruncate: a file that shrank below the read position, or whose first bytes changed,
  is read again from line 1 (a warning says so). Lines written between the last round and
  the truncation exist only in the copy: they are not shipped (inherent to copytruncate;
  poll often). The copy is a new file: a glob that matches it ships it whole, again.
- gzip files matching a glob (by magic bytes) are read once, whole, when they have not
  changed for `rotate_wait_s` (a compressor may still be writing them), then marked done.
  A glob must not match compressed copies of files it follows (logrotate `compress`): a
  copy is another file, its lines would be shipped twice. A gzip file that cannot be
  decompressed to its end is logged as an error, shipped up to the damage, and skipped
  until it changes (or the tailer restarts).
- Partial last lines wait for their newline; lines longer than `MAX_MESSAGE_BYTES` go to
  the dead-letter topic (`ingest.fileship`).

Checkpoints: after every round that read something, the round's messages are flushed,
`Shipper.flush()` returns (all acknowledged by Kafka or in the disk spool), and only then
the checkpoint is saved. `run()` ends with such a round when `stop` is set: a restart after
that resumes with no line lost or repeated. After a crash (kill -9, power loss, a
cancelled task) between a flush and the checkpoint write, the lines read in the last
round (at most `ROUND_BYTES` per file) are read again, and those that had reached Kafka
or the spool are shipped twice.

Limits: polling, not inotify (new lines are seen within `poll_s`); one open descriptor
per followed file; a file rewritten in place that keeps its first 1 KiB and is not
shorter than the read position is not noticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from apim import logs
from ingest.checkpoint import DEFAULT_RETENTION_S, Checkpoints, FileId
from ingest.fileship import FileSender
from ingest.kafka import Shipper
from ingest.logfile import DAMAGED_GZIP, LogFile
from ingest.spool import Spool

log = logs.get(__name__)
ROUND_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Watch:
    pattern: str
    fmt: str


def parse_watch(spec: str) -> Watch:
    """`FORMAT:GLOB`, e.g. `nginx:/var/log/nginx/access.log*`; a mapping format holds a
    colon itself: `mapping:/etc/apim/haproxy.yaml:/var/log/haproxy.log` (a mapping path
    with a colon in it cannot be given this way)."""
    fmt, colon, pattern = spec.partition(":")
    if fmt == "mapping":
        mapping_path, colon, pattern = pattern.partition(":")
        fmt = f"mapping:{mapping_path}" if mapping_path else ""
    if not (colon and fmt and pattern):
        raise ValueError(f"{spec!r}: give FORMAT:GLOB, e.g. nginx:/var/log/nginx/access.log*")
    return Watch(pattern, fmt)


async def tail(
    watches: list[Watch],
    kafka_url: str,
    raw_topic: str,
    dlq_topic: str,
    checkpoint_path: Path,
    stop: asyncio.Event,
    *,
    spool: Spool | None = None,
    poll_s: float = 0.25,
    rotate_wait_s: float = 5.0,
    retention_s: float = DEFAULT_RETENTION_S,
    hasher: Callable[[str], str] | None = None,
) -> None:
    """Follow the files until `stop` is set. Messages still in `spool` then stay there,
    for the next run on the same spool to deliver first. `hasher`: clear credentials in the
    lines become keyed hashes before they are sent."""
    shipper = Shipper(kafka_url, spool)
    try:
        with Checkpoints(checkpoint_path, retention_s) as checkpoints:
            tailer = Tailer(
                watches,
                shipper,
                checkpoints,
                raw_topic,
                dlq_topic,
                poll_s=poll_s,
                rotate_wait_s=rotate_wait_s,
                hasher=hasher,
            )
            await tailer.run(stop)
    finally:
        await shipper.close(deliver=False)


@dataclass
class _Followed:
    file: LogFile
    sender: FileSender
    saved: tuple[int, int]
    """(offset, line) in the checkpoint."""
    last_growth: float
    gone_since: float | None = None
    """When no glob matched it any more (monotonic s)."""
    finishing: bool = False
    """Read to its end for good: closed after the next checkpoint."""


class Tailer:
    def __init__(
        self,
        watches: list[Watch],
        shipper: Shipper,
        checkpoints: Checkpoints,
        raw_topic: str,
        dlq_topic: str,
        *,
        poll_s: float = 0.25,
        rotate_wait_s: float = 5.0,
        hasher: Callable[[str], str] | None = None,
    ) -> None:
        self._watches = watches
        self._hasher = hasher
        self._shipper = shipper
        self._checkpoints = checkpoints
        self._raw_topic = raw_topic
        self._dlq_topic = dlq_topic
        self._poll_s = poll_s
        self._rotate_wait_s = rotate_wait_s
        self._files: dict[FileId, _Followed] = {}
        self._skipped: dict[FileId, tuple[int, int]] = {}
        """gzip files done or damaged, with their (size, mtime) then: skipped until changed."""

    async def run(self, stop: asyncio.Event) -> None:
        """Follow until `stop` is set, then checkpoint what was read and return."""
        try:
            while True:
                self._scan()
                await self._read_round()
                await self._commit()
                if stop.is_set():
                    return
                if all(f.file.at_eof for f in self._files.values()):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self._poll_s)
        finally:
            for followed in self._files.values():
                followed.file.close()
            self._files.clear()

    def _scan(self) -> None:
        matched = self._match()
        now = time.monotonic()
        for file_id, (path, _, _) in matched.items():
            self._checkpoints.moved(file_id, str(path))
        for file_id, followed in self._files.items():
            if file_id in matched:
                followed.file.path = matched[file_id][0]
                followed.gone_since = None
            elif followed.gone_since is None:
                followed.gone_since = now
                log.info("file renamed away or removed: finishing it", path=str(followed.file.path))
        for file_id, (path, watch, st) in matched.items():
            if file_id not in self._files and self._skipped.get(file_id) != _signature(st):
                self._follow(file_id, path, watch, st, now)
        self._skipped = {k: v for k, v in self._skipped.items() if k in matched}

    def _match(self) -> dict[FileId, tuple[Path, Watch, os.stat_result]]:
        matched: dict[FileId, tuple[Path, Watch, os.stat_result]] = {}
        for watch in self._watches:
            for name in sorted(glob.glob(watch.pattern, recursive=True)):
                try:
                    st = os.stat(name)
                except OSError:  # gone since the glob saw it
                    continue
                if stat.S_ISREG(st.st_mode):
                    matched.setdefault((st.st_dev, st.st_ino), (Path(name), watch, st))
        return matched

    def _follow(
        self, file_id: FileId, path: Path, watch: Watch, st: os.stat_result, now: float
    ) -> None:
        try:
            file = LogFile.open(path, self._checkpoints)
        except FileNotFoundError:
            return
        except DAMAGED_GZIP as exc:
            log.error("cannot decompress up to its checkpoint: skipped", path=str(path), error=exc)
            self._skipped[file_id] = _signature(st)
            return
        if file.id != file_id:  # replaced since the glob: the next scan sees the new one
            file.close()
            return
        if file.gzipped and (
            file.finished or time.time() - file.stat().st_mtime < self._rotate_wait_s
        ):
            if file.finished:
                self._skipped[file_id] = _signature(file.stat())
            file.close()
            return
        sender = FileSender(
            self._shipper, self._raw_topic, self._dlq_topic, watch.fmt, path.name, self._hasher
        )
        self._files[file_id] = _Followed(file, sender, (file.offset, file.line), now)
        log.info("following", path=str(path), format=watch.fmt, offset=file.offset, line=file.line)

    async def _read_round(self) -> None:
        now = time.monotonic()
        renamed_away_first = sorted(self._files.values(), key=lambda f: f.gone_since is None)
        for followed in renamed_away_first:
            await self._read(followed, now)

    async def _read(self, followed: _Followed, now: float) -> None:
        file = followed.file
        if (reason := file.rewritten()) is not None:
            file.restart(reason)
        before = file.read_position
        final = (
            followed.gone_since is not None
            and now - max(followed.gone_since, followed.last_growth) >= self._rotate_wait_s
        )
        try:
            for number, line in file.lines(ROUND_BYTES, final=final):
                await followed.sender.add(number, line)
        except DAMAGED_GZIP as exc:
            log.error(
                "cannot decompress the rest: shipped up to here, skipped until it changes",
                path=str(file.path),
                line=file.line,
                error=str(exc),
            )
            followed.finishing = True
            return
        if file.read_position != before:
            followed.last_growth = now
        followed.finishing = file.done or (final and file.at_eof)

    async def _commit(self) -> None:
        """Flush what the round read, wait until it is safe, then save the checkpoint."""
        changed = [
            f
            for f in self._files.values()
            if f.finishing or (f.file.offset, f.file.line) != f.saved
        ]
        if not changed:
            if self._checkpoints.unsaved:  # a file was renamed
                self._checkpoints.save()
            return
        for followed in changed:
            await followed.sender.flush()
        await self._shipper.flush()
        for followed in changed:
            self._checkpoints.put(followed.file.id, followed.file.checkpoint())
            followed.saved = (followed.file.offset, followed.file.line)
        self._checkpoints.save()
        for followed in changed:
            if followed.finishing:
                self._finish(followed)

    def _finish(self, followed: _Followed) -> None:
        file = followed.file
        if file.gzipped:
            self._skipped[file.id] = _signature(file.stat())
        file.close()
        del self._files[file.id]
        log.info(
            "file finished",
            path=str(file.path),
            lines=file.line,
            shipped=followed.sender.sent,
            rejected=followed.sender.rejected,
        )


def _signature(st: os.stat_result) -> tuple[int, int]:
    return st.st_size, st.st_mtime_ns
