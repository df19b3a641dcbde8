"""Kafka plumbing of the shippers: the line sender, the shipper, rejected lines.

`LineSender` packs log lines into raw-logs messages (newline-separated, at most
`max_lines` lines and `max_bytes` bytes each) with the headers the worker reads:
`format`, `source` and `line` (number of the message's first line), and hands them to a
`Shipper`, which sends them, or buffers them in a disk `Spool` while Kafka is unreachable.
"""

from __future__ import annotations

import asyncio
import json
import time

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from apim import logs
from apim.kafka import bootstrap_servers
from ingest.spool import Headers, Spool

log = logs.get(__name__)
SEND_TIMEOUT_S = 10.0
RETRY_EVERY_S = 1.0
LOUD_EVERY_S = 10.0

MAX_MESSAGE_BYTES = 900 * 1024
"""Under Kafka's 1 MiB default message limit, with room for headers."""


class Shipper:
    """Sends raw-logs messages. While Kafka is unreachable it buffers them in `spool`
    (without one it waits and retries); when the spool is full, `send` blocks, so the
    caller stops reading input rather than dropping any. Nothing is ever dropped."""

    def __init__(self, url: str, spool: Spool | None = None) -> None:
        self._url = url
        self._producer: AIOKafkaProducer | None = None
        self._spool = spool
        self._in_flight: list[tuple[asyncio.Future, str, bytes, Headers]] = []
        self._last_try = 0.0
        self._last_shout: dict[str, float] = {}

    @property
    def buffered(self) -> int:
        """Messages waiting in the spool."""
        return len(self._spool) if self._spool is not None else 0

    async def send(self, topic: str, value: bytes, headers: Headers) -> None:
        if not self.buffered and await self._try_send(topic, value, headers):
            return
        await self._buffer(topic, value, headers)

    async def flush(self) -> None:
        """Wait until every message sent so far is acknowledged by Kafka or in the spool:
        after this, they survive a crash of this process."""
        await self._settle()

    async def close(self, *, deliver: bool = True) -> None:
        """Deliver everything (waiting for Kafka as long as it takes), then stop. With
        `deliver=False` (interrupted), whatever is spooled stays for the next run."""
        if not deliver:
            await self._stop()
            return
        await self._settle()
        while self.buffered:
            if not await self._drain():
                self._shout("waiting", "Kafka unreachable: waiting to deliver the spooled messages")
                await asyncio.sleep(RETRY_EVERY_S)
        await self._stop()

    async def _stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def _try_send(self, topic: str, value: bytes, headers: Headers) -> bool:
        try:
            producer = self._producer or await self._start()
            future = await asyncio.wait_for(
                producer.send(topic, value, headers=headers), SEND_TIMEOUT_S
            )
        except (KafkaError, TimeoutError, OSError) as exc:
            self._shout("unreachable", f"Kafka unreachable ({type(exc).__name__}): buffering")
            return False
        self._in_flight.append((future, topic, value, headers))
        if len(self._in_flight) >= 64:
            await self._settle()
        return True

    async def _start(self) -> AIOKafkaProducer:
        producer = producer_for(self._url)
        try:
            await asyncio.wait_for(producer.start(), SEND_TIMEOUT_S)
        except BaseException:
            await producer.stop()  # a producer that failed to start is not reused
            raise
        self._producer = producer
        return producer

    async def _settle(self) -> None:
        """Wait for the in-flight sends; any that failed go to the spool (or are retried)."""
        in_flight, self._in_flight = self._in_flight, []
        for future, topic, value, headers in in_flight:
            try:
                await future
            except KafkaError as exc:
                self._shout("failed", f"a send failed ({type(exc).__name__}): buffering it")
                await self._buffer(topic, value, headers)

    async def _buffer(self, topic: str, value: bytes, headers: Headers) -> None:
        """Keep a message Kafka could not take: in the spool, or (without one) by retrying."""
        if self._spool is None:
            while not await self._try_send(topic, value, headers):
                await asyncio.sleep(RETRY_EVERY_S)
            return
        while self._spool.full and not await self._drain():
            self._shout(
                "full",
                f"spool {self._spool.directory} is full ({self._spool.size} bytes): "
                "not reading more input until Kafka takes the backlog",
            )
            await asyncio.sleep(RETRY_EVERY_S)
        self._spool.append(topic, value, headers)
        if time.monotonic() - self._last_try >= RETRY_EVERY_S:
            await self._drain()

    async def _drain(self) -> bool:
        """Send spooled messages oldest first; True when the spool is empty."""
        self._last_try = time.monotonic()
        if self._spool is None:
            return True
        while (item := self._spool.oldest()) is not None:
            if not await self._try_send(item.topic, item.value, item.headers):
                return False
            await self._settle()
            self._spool.remove(item)
            if not len(self._spool):
                log.info("Kafka reachable again: spool drained", spool=str(self._spool.directory))
        return True

    def _shout(self, kind: str, message: str) -> None:
        """Log an error, at most once per LOUD_EVERY_S for each kind of trouble."""
        now = time.monotonic()
        if now - self._last_shout.get(kind, -LOUD_EVERY_S) >= LOUD_EVERY_S:
            self._last_shout[kind] = now
            log.error(message, buffered=self.buffered)


class LineSender:
    """Batches lines into raw-logs messages for a `Shipper`; `close()` flushes."""

    def __init__(
        self,
        shipper: Shipper,
        topic: str,
        fmt: str,
        source: str,
        max_lines: int = 500,
        max_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self._shipper = shipper
        self._topic = topic
        self._headers = [("format", fmt.encode()), ("source", source.encode())]
        self._max_lines = max_lines
        self._max_bytes = max_bytes
        self._lines: list[bytes] = []
        self._size = 0
        self._first_line = 1
        self.sent_lines = 0

    async def add(self, line_number: int, line: bytes) -> None:
        """Queue one line (without its newline); line numbers must increase by one."""
        if self._lines and (
            len(self._lines) >= self._max_lines or self._size + len(line) + 1 > self._max_bytes
        ):
            await self.flush()
        if not self._lines:
            self._first_line = line_number
        self._lines.append(line)
        self._size += len(line) + 1

    async def flush(self) -> None:
        if not self._lines:
            return
        headers = [*self._headers, ("line", str(self._first_line).encode())]
        await self._shipper.send(self._topic, b"\n".join(self._lines), headers)
        self.sent_lines += len(self._lines)
        self._lines, self._size = [], 0


def rejected_message(source: str, fmt: str, reason: str, record: bytes) -> bytes:
    """The dead-letter message for a line the shipper itself cannot ship."""
    value = {
        "src": "shipper",
        "source": source,
        "format": fmt,
        "reason": reason,
        "record": record[:65536].decode("utf-8", errors="backslashreplace"),
    }
    return json.dumps(value).encode()


def producer_for(url: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers(url),
        acks="all",
        linger_ms=20,
        max_request_size=1024 * 1024,
    )
