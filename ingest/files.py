"""`apim ingest`: ship a log file (or stdin) to the raw-logs topic, with progress and a count.

Lines are shipped as they are (`ingest.fileship`): parsing is the worker's job, and a
malformed line ends up in the dead-letter topic with its reason. The shipper itself
rejects only what it cannot ship: a line longer than the message limit (sent to the
dead-letter topic instead). For archives, resumable runs and many files use `apim backfill`;
to follow live files, `apim tail`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from ingest.fileship import FileSender
from ingest.kafka import Shipper
from ingest.spool import Spool


@dataclass
class IngestResult:
    sent: int = 0
    rejected: int = 0


async def ingest_file(
    path: str,
    fmt: str,
    kafka_url: str,
    raw_topic: str,
    dlq_topic: str,
    *,
    spool: Spool | None = None,
    show_progress: bool = True,
    hasher: Callable[[str], str] | None = None,
) -> IngestResult:
    """Ship every line of `path` ("-" for stdin); return how many were sent and rejected.

    While Kafka is unreachable lines are buffered in `spool` (a shipper restarted on the
    same spool sends what it had buffered first); when the spool is full, reading pauses.
    `hasher`: clear credentials in the lines become keyed hashes before they are sent."""
    source = "stdin" if path == "-" else Path(path).name
    shipper = Shipper(kafka_url, spool)
    sender = FileSender(shipper, raw_topic, dlq_topic, fmt, source, hasher)
    try:
        with _open(path) as stream, _progress(path, show_progress) as (progress, task):
            for number, raw in enumerate(stream, start=1):
                progress.advance(task, len(raw))
                await sender.add(number, raw.rstrip(b"\r\n"))
            await sender.flush()
    except BaseException:
        await shipper.close(deliver=False)
        raise
    await shipper.close()
    return IngestResult(sent=sender.sent, rejected=sender.rejected)


def _open(path: str) -> BinaryIO:
    if path == "-":
        return open(sys.stdin.fileno(), "rb", closefd=False)
    return open(path, "rb")


class _progress:
    def __init__(self, path: str, show: bool) -> None:
        total = None if path == "-" else Path(path).stat().st_size
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            disable=not show,
            transient=False,
        )
        self._task = self._progress.add_task(f"shipping {path}", total=total)

    def __enter__(self) -> tuple[Progress, int]:
        self._progress.start()
        return self._progress, self._task

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()
