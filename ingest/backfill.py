"""`apim backfill`: ship archived log files (plain or gzip) once, resumably, with progress.

Lines are shipped as they are, through the same shipper as `apim ingest` and `apim tail`
(disk spool while Kafka is unreachable, too-long lines to the dead-letter topic): the
worker's parsers take each event's time from its line, so old traffic lands in its own
minutes, hours and days. Files are shipped one after the other, in the order given (a
glob's matches sorted by name), each to its end, an unterminated last line included.
Headers: `source` = file name, `line` = line number in the file (decompressed, for gzip).

Resumable: the checkpoint file (`ingest.checkpoint`) records, per file, the offset and
line reached; it is saved every `checkpoint_bytes` read, after `Shipper.flush()` returned
for those lines. Run again with the same checkpoint file, a backfill skips the files it
finished (a plain file up to its size, a gzip file read to its end) and continues a file
it had started after its last checkpointed line. Stopped through `stop` (the CLI sets it
on Ctrl-C), it checkpoints the lines it read before returning, so the rerun ships every
line exactly once. After a crash instead, the lines read since the last checkpoint (at
most `checkpoint_bytes`) that had reached Kafka or the spool are shipped twice.

A file that grew since it was backfilled gets its new lines shipped by the next run.
A file `apim tail` follows with another checkpoint file would be shipped twice. A gzip
file damaged part way is shipped up to the damage, logged, and reported in `failed`;
the other files go on.

The rich progress bar runs over the total bytes on disk of all files (compressed, for
gzip), with the rate in lines/s and the time left.
"""

from __future__ import annotations

import asyncio
import glob
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from apim import logs
from ingest.checkpoint import DEFAULT_RETENTION_S, Checkpoints
from ingest.fileship import FileSender
from ingest.kafka import Shipper
from ingest.logfile import DAMAGED_GZIP, LogFile, is_gzip
from ingest.spool import Spool

log = logs.get(__name__)
CHECKPOINT_BYTES = 8 * 1024 * 1024


@dataclass
class BackfillResult:
    shipped_files: int = 0
    """Files shipped to their end by this run."""
    skipped_files: int = 0
    """Files a previous run had finished."""
    sent: int = 0
    rejected: int = 0
    failed: list[str] = field(default_factory=list)
    """Files that could not be read to their end, with the reason."""
    stopped: bool = False
    """Stopped (`stop` set) before every file was shipped."""


def expand(patterns: list[str]) -> list[Path]:
    """Paths and globs (`**` too) → the files, in the order given, each glob's sorted,
    each file once. Raises `FileNotFoundError` naming the ones that match no file."""
    files: dict[Path, Path] = {}  # resolved → as given
    unmatched: list[str] = []
    for pattern in patterns:
        found = [Path(n) for n in sorted(glob.glob(pattern, recursive=True)) if Path(n).is_file()]
        if not found:
            unmatched.append(pattern)
        for path in found:
            files.setdefault(path.resolve(), path)
    if unmatched:
        raise FileNotFoundError(f"no file matches {', '.join(unmatched)}")
    return list(files.values())


async def backfill(
    files: list[Path],
    fmt: str,
    kafka_url: str,
    raw_topic: str,
    dlq_topic: str,
    checkpoint_path: Path,
    *,
    spool: Spool | None = None,
    stop: asyncio.Event | None = None,
    show_progress: bool = True,
    checkpoint_bytes: int = CHECKPOINT_BYTES,
    retention_s: float = DEFAULT_RETENTION_S,
    hasher: Callable[[str], str] | None = None,
) -> BackfillResult:
    """Ship `files` (see `expand`) as `fmt` lines, resuming from `checkpoint_path`.

    Returns when every file is shipped and delivered, or once `stop` is set (then what is
    in the spool stays there for the next run on the same spool)."""
    stop = stop or asyncio.Event()
    result = BackfillResult()
    shipper = Shipper(kafka_url, spool)
    try:
        with (
            Checkpoints(checkpoint_path, retention_s) as checkpoints,
            _Progress(files, checkpoints, show_progress) as progress,
        ):
            run = _Run(shipper, checkpoints, progress, result, stop, checkpoint_bytes)
            for path in files:
                if stop.is_set():
                    result.stopped = True
                    break
                sender = FileSender(shipper, raw_topic, dlq_topic, fmt, path.name, hasher)
                await run.ship(path, sender)
    except BaseException:
        await shipper.close(deliver=False)
        raise
    await shipper.close(deliver=not result.stopped)
    return result


@dataclass
class _Run:
    shipper: Shipper
    checkpoints: Checkpoints
    progress: _Progress
    result: BackfillResult
    stop: asyncio.Event
    checkpoint_bytes: int

    async def ship(self, path: Path, sender: FileSender) -> None:
        try:
            file = LogFile.open(path, self.checkpoints)
        except (OSError, *DAMAGED_GZIP) as exc:
            self._failed(path, f"cannot open it at its checkpoint: {exc}")
            self.progress.finished(path)
            return
        with file:
            if file.finished:
                self.result.skipped_files += 1
                log.info("already shipped: skipped", path=str(path))
            else:
                await self._ship_lines(file, sender)
        self.progress.finished(path)

    async def _ship_lines(self, file: LogFile, sender: FileSender) -> None:
        self.progress.reading(file, 0)
        try:
            while not file.at_eof and not self.stop.is_set():
                first = file.line
                for number, line in file.lines(self.checkpoint_bytes, final=True):
                    await sender.add(number, line)
                await self._commit(file, sender)
                self.progress.reading(file, file.line - first)
        except DAMAGED_GZIP as exc:
            await self._commit(file, sender)
            self._failed(file.path, f"cannot decompress past line {file.line}: {exc}")
            return
        finally:
            self.result.sent += sender.sent
            self.result.rejected += sender.rejected
        if file.at_eof:
            self.result.shipped_files += 1
            log.info("shipped", path=str(file.path), sent=sender.sent, rejected=sender.rejected)
        else:
            self.result.stopped = True

    async def _commit(self, file: LogFile, sender: FileSender) -> None:
        """Checkpoint what was read, once it is acknowledged by Kafka or in the spool."""
        await sender.flush()
        await self.shipper.flush()
        self.checkpoints.put(file.id, file.checkpoint())
        self.checkpoints.save()

    def _failed(self, path: Path, reason: str) -> None:
        log.error("file not shipped to its end", path=str(path), reason=reason)
        self.result.failed.append(f"{path}: {reason}")


class _LineRate(ProgressColumn):
    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        rate = task.fields["lines"] / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:,.0f} lines/s")


class _Progress:
    """One bar over the bytes of all files; what a previous run shipped counts as done."""

    def __init__(self, files: list[Path], checkpoints: Checkpoints, show: bool) -> None:
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            _LineRate(),
            TimeRemainingColumn(),
            disable=not show,
        )
        self._sizes = {path: path.stat().st_size for path in files}
        self._done = {path: _shipped_before(path, checkpoints) for path in files}
        self._lines = 0
        self._task = self._bar.add_task(
            "backfill", total=sum(self._sizes.values()), completed=self._completed, lines=0
        )

    def __enter__(self) -> _Progress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    @property
    def _completed(self) -> int:
        return sum(self._done.values())

    def reading(self, file: LogFile, new_lines: int) -> None:
        self._done[file.path] = file.raw_position
        self._lines += new_lines
        self._bar.update(
            self._task,
            description=f"backfill {file.path.name}",
            completed=self._completed,
            lines=self._lines,
        )

    def finished(self, path: Path) -> None:
        self._done[path] = self._sizes[path]
        self._bar.update(self._task, completed=self._completed)


def _shipped_before(path: Path, checkpoints: Checkpoints) -> int:
    """Bytes of `path` a previous run shipped, as far as its checkpoint tells without
    reading the file (a partly shipped gzip file counts as 0)."""
    st = path.stat()
    entry = checkpoints.get((st.st_dev, st.st_ino))
    if entry is None:
        return 0
    if entry.done:
        return st.st_size
    return 0 if is_gzip(path) else min(entry.offset, st.st_size)
