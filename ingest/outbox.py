"""What the network receivers (HTTP, syslog) accept, shipped in groups by one task.

Receivers `post` a `Batch` (lines of one format and source, plus dead letters) and get a
future that resolves once the batch is durable: acknowledged by Kafka or written to the disk
spool (`Shipper.flush`). One task owns the `Shipper` (it is not safe for concurrent use: a
second `flush` could return before the first one's messages are acknowledged); it takes
every batch posted meanwhile, packs lines of the same format and source into messages
(`LineSender`) and flushes once for the whole group, so many small requests cost one round
trip.

Back-pressure: `trouble()` says why new input should be refused for now, namely the spool
is full, or the current group has waited for Kafka longer than `stall_s` (Kafka unreachable
and no spool, or sends not acknowledged). Receivers bound the bytes they hold with a
`ByteBudget`.

Lines of one source must carry increasing numbers; a gap (a line sent to the dead-letter
topic in between) starts a new message, so the `line` header stays right.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from apim import logs, metrics
from ingest.kafka import LineSender, Shipper
from ingest.spool import Spool

log = logs.get(__name__)


@dataclass
class Batch:
    fmt: str
    source: str
    lines: list[tuple[int, bytes]] = field(default_factory=list)
    """(line number, line without newline), numbers increasing."""
    dead_letters: list[bytes] = field(default_factory=list)
    """`rejected_message` values for the dead-letter topic."""


class Outbox:
    def __init__(
        self,
        kafka_url: str,
        raw_topic: str,
        dlq_topic: str,
        spool: Spool | None = None,
        *,
        stall_s: float = 5.0,
    ) -> None:
        self._shipper = Shipper(kafka_url, spool)
        self._spool = spool
        self._raw_topic = raw_topic
        self._dlq_topic = dlq_topic
        self._stall_s = stall_s
        self._queue: list[tuple[Batch, asyncio.Future[None]]] = []
        self._posted = asyncio.Event()
        self._busy_since: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._sent = metrics.EVENTS_SENT.labels(stage=metrics.INGEST)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox")

    def post(self, batch: Batch) -> asyncio.Future[None]:
        """Queue a batch; the future resolves once it is durable (Kafka or the spool)."""
        if self._task is None or self._task.done():
            raise RuntimeError("the outbox is not running")
        future = asyncio.get_running_loop().create_future()
        self._queue.append((batch, future))
        self._posted.set()
        return future

    def trouble(self) -> str | None:
        """Why new input should be refused for now, or None when all is well."""
        if self._spool is not None and self._spool.full:
            return f"Kafka unreachable and the disk spool is full ({self._spool.size} bytes)"
        if self._busy_since is not None:
            waited = time.monotonic() - self._busy_since
            if waited > self._stall_s:
                return f"Kafka has not taken the last messages for {waited:.0f} s"
        return None

    async def close(self, *, deliver: bool = True) -> None:
        """Ship what was posted and stop (waiting for Kafka or spool room as long as it
        takes). With `deliver=False`, pending batches are abandoned: their futures are
        cancelled, and what is spooled stays for the next run."""
        if self._task is None:
            return
        if deliver:
            while self._queue or self._busy_since is not None:
                await asyncio.sleep(0.01)
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        for _, future in self._queue:
            future.cancel()
        self._queue = []
        await self._shipper.close(deliver=deliver)

    async def _run(self) -> None:
        while True:
            await self._posted.wait()
            self._posted.clear()
            group, self._queue = self._queue, []
            self._busy_since = time.monotonic()
            try:
                await self._ship([batch for batch, _ in group])
            except asyncio.CancelledError:
                for _, future in group:
                    future.cancel()
                raise
            except Exception as exc:  # a shipper bug must fail these requests, not the loop
                log.exception("shipping a group of batches failed", batches=len(group))
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, future in group:
                    if not future.done():  # a waiter may have given up (cancelled)
                        future.set_result(None)
            finally:
                self._busy_since = None

    async def _ship(self, group: list[Batch]) -> None:
        senders: dict[tuple[str, str], tuple[LineSender, int]] = {}
        for batch in group:
            for value in batch.dead_letters:
                await self._shipper.send(self._dlq_topic, value, [])
            key = (batch.fmt, batch.source)
            for number, line in batch.lines:
                sender, expected = senders.get(key) or (self._sender(batch), number)
                if number != expected:
                    await sender.flush()  # a gap: the next message starts at `number`
                await sender.add(number, line)
                senders[key] = (sender, number + 1)
        for sender, _ in senders.values():
            await sender.flush()
        await self._shipper.flush()
        self._sent.inc(sum(sender.sent_lines for sender, _ in senders.values()))

    def _sender(self, batch: Batch) -> LineSender:
        return LineSender(self._shipper, self._raw_topic, batch.fmt, batch.source)


class ByteBudget:
    """A bound on the bytes the receivers hold (read, or posted but not durable yet)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._freed = asyncio.Event()

    def take(self, n: int) -> bool:
        """Take `n` bytes if they fit; False (nothing taken) when they do not."""
        if self.used + n > self.limit:
            return False
        self.used += n
        return True

    async def take_when_free(self, n: int) -> None:
        """Take `n` bytes, waiting until enough are given back; `n` must be <= `limit`."""
        if n > self.limit:
            raise ValueError(f"{n} bytes can never fit a budget of {self.limit}")
        while not self.take(n):
            self._freed.clear()
            await self._freed.wait()

    def give(self, n: int) -> None:
        self.used -= n
        self._freed.set()
