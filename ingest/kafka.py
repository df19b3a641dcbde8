"""Kafka plumbing shared by the shippers: bootstrap parsing, topic creation, a line sender.

`LineSender` packs log lines into raw-logs messages (newline-separated, at most
`max_lines` lines and `max_bytes` bytes each) with the headers the worker reads:
`format`, `source` and `line` (number of the message's first line).
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

MAX_MESSAGE_BYTES = 900 * 1024
"""Under Kafka's 1 MiB default message limit, with room for headers."""


def bootstrap_servers(url: str) -> str:
    """`kafka://a:9092,b:9092` (or plain `a:9092`) → `a:9092,b:9092`."""
    servers = [s.strip().removeprefix("kafka://") for s in url.split(",")]
    return ",".join(s for s in servers if s)


async def ensure_topics(url: str, topics: list[str], partitions: int) -> None:
    """Create the topics that do not exist yet (existing ones are left as they are)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(url))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # created meanwhile: fine
                await admin.create_topics(
                    [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in missing]
                )
    finally:
        await admin.close()


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
