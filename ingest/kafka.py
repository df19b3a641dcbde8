"""Kafka plumbing of the shippers: the line sender, the producer, rejected lines.

`LineSender` packs log lines into raw-logs messages (newline-separated, at most
`max_lines` lines and `max_bytes` bytes each) with the headers the worker reads:
`format`, `source` and `line` (number of the message's first line).
"""

from __future__ import annotations

import asyncio
import json

from aiokafka import AIOKafkaProducer

from apim.kafka import bootstrap_servers

MAX_MESSAGE_BYTES = 900 * 1024
"""Under Kafka's 1 MiB default message limit, with room for headers."""


class LineSender:
    """Batches lines into raw-logs messages and sends them; `close()` flushes."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        fmt: str,
        source: str,
        max_lines: int = 500,
        max_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._headers = [("format", fmt.encode()), ("source", source.encode())]
        self._max_lines = max_lines
        self._max_bytes = max_bytes
        self._lines: list[bytes] = []
        self._size = 0
        self._first_line = 1
        self._pending: list[asyncio.Future] = []
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
        future = await self._producer.send(self._topic, b"\n".join(self._lines), headers=headers)
        self._pending.append(future)
        self.sent_lines += len(self._lines)
        self._lines, self._size = [], 0
        if len(self._pending) >= 64:
            await self._settle()

    async def close(self) -> None:
        await self.flush()
        await self._settle()

    async def _settle(self) -> None:
        pending, self._pending = self._pending, []
        await asyncio.gather(*pending)


async def send_rejected(
    producer: AIOKafkaProducer, topic: str, source: str, fmt: str, reason: str, record: bytes
) -> None:
    """Put a line the shipper cannot ship on the dead-letter topic, with why."""
    value = {
        "src": "shipper",
        "source": source,
        "format": fmt,
        "reason": reason,
        "record": record[:65536].decode("utf-8", errors="backslashreplace"),
    }
    await producer.send_and_wait(topic, json.dumps(value).encode(), key=source.encode())


def producer_for(url: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers(url),
        acks="all",
        linger_ms=20,
        max_request_size=1024 * 1024,
    )
