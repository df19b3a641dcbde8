"""Test helpers for the shippers (tailer, backfill, receivers): fresh topics, and reading
them back message by message or line by line."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from apim.kafka import bootstrap_servers, ensure_topics

_BOUND_NOT_LISTENING = socket.socket()
_BOUND_NOT_LISTENING.bind(("127.0.0.1", 0))
DEAD_KAFKA = f"kafka://127.0.0.1:{_BOUND_NOT_LISTENING.getsockname()[1]}"
"""A port nobody listens on (and nobody else can take): Kafka unreachable."""


@dataclass(frozen=True)
class Message:
    value: bytes
    headers: dict[str, str]

    @property
    def lines(self) -> list[str]:
        return self.value.decode().split("\n")

    @property
    def dead_letter(self) -> dict:
        return json.loads(self.value)


Shipped = tuple[str, int, bytes]
"""(source header, line number, line)"""


async def new_topics(url: str, partitions: int = 1) -> tuple[str, str]:
    """A raw-logs and a dead-letter topic (of one partition by default, so order is kept)."""
    run = uuid.uuid4().hex[:8]
    raw, dlq = f"raw-{run}", f"dlq-{run}"
    await ensure_topics(url, [raw, dlq], partitions)
    return raw, dlq


async def read_topic(url: str, topic: str, count: int, timeout_s: float = 10) -> list[Message]:
    """The messages of `topic`: `count` of them (fewer if they do not come within
    `timeout_s`), plus any more that come within a short while after them."""
    return await _read(url, topic, lambda messages: len(messages) >= count, timeout_s)


async def read_lines(url: str, topic: str, count: int) -> list[tuple[str, str, int, str]]:
    """(format, source, line number, line) of `count` lines, however they were batched."""
    messages = await _read(url, topic, _holding(count))
    return [
        (m.headers["format"], m.headers["source"], int(m.headers["line"]) + i, line)
        for m in messages
        for i, line in enumerate(m.lines)
    ]


async def shipped_lines(url: str, topic: str, count: int, timeout_s: float = 15) -> list[Shipped]:
    """Every line in `topic` as bytes, once there are `count` (or the time is up), plus any
    that come shortly after, so extra lines are seen too."""
    return [
        (m.headers["source"], int(m.headers["line"]) + i, line)
        for m in await _read(url, topic, _holding(count), timeout_s)
        for i, line in enumerate(m.value.split(b"\n"))
    ]


def _holding(lines: int) -> Callable[[list[Message]], bool]:
    return lambda messages: sum(m.value.count(b"\n") + 1 for m in messages) >= lines


async def _read(
    url: str, topic: str, enough: Callable[[list[Message]], bool], timeout_s: float = 10
) -> list[Message]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers(url), auto_offset_reset="earliest"
    )
    await consumer.start()
    messages: list[Message] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not enough(messages) and asyncio.get_running_loop().time() < deadline:
            messages += await _poll(consumer, 200)
        messages += await _poll(consumer, 300)
    finally:
        await consumer.stop()
    return messages


async def _poll(consumer: AIOKafkaConsumer, timeout_ms: int) -> list[Message]:
    return [
        Message(m.value, {k: v.decode() for k, v in m.headers})
        for batch in (await consumer.getmany(timeout_ms=timeout_ms)).values()
        for m in batch
    ]


async def end_offset(url: str, topic: str) -> int:
    """How many messages `topic` holds now, without waiting for any.

    Exact only when the last produce request held one message: the embedded broker answers
    the base offset of the last record batch + 1."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(url))
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        return (await consumer.end_offsets([partition]))[partition]
    finally:
        await consumer.stop()


async def is_empty(url: str, topic: str) -> bool:
    """Whether no partition of `topic` holds a message."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(url))
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return not any((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()
