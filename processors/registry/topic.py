"""The registry topic: every registry change as a message keyed `kind:id`, compacted, so
that a worker reading it from the start holds the whole registry and then sees each
change as it is made, without a restart.

Besides entity changes it carries erasure markers (`erasure:<keyed hash of the consumer>`):
a worker that reads one forgets the in-memory usage of that consumer, so the rows `apim
erase` deleted are not written back. The marker holds no name, only its keyed hash.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from apim import logs
from apim.kafka import bootstrap_servers, ensure_topics
from processors.registry.model import Change, decode_change, deletion, encode_change

log = logs.get(__name__)
ERASURE = "erasure"
POLL_MS = 500


@dataclass(frozen=True, slots=True)
class Erasure:
    """Forget the usage of the consumer whose name hashes to `consumer_hash`."""

    consumer_hash: str


Update = Change | Erasure


async def ensure_registry_topic(url: str, topic: str) -> None:
    """One compacted partition: changes keep their order, and the latest per key is kept."""
    await ensure_topics(url, [topic], 1, compacted=True)


async def publish(url: str, topic: str, updates: Sequence[Update]) -> None:
    """Send the updates in order and return once the broker has them all."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(url), acks="all")
    await producer.start()
    try:
        for update in updates:
            key, value = _message(update)
            await producer.send(topic, key=key, value=value)
        await producer.flush()
    finally:
        await producer.stop()


async def read_all(url: str, topic: str) -> tuple[list[Update], dict[int, int]]:
    """Every update the topic holds now, and the offset after the last one per partition
    (where `follow` goes on): a worker loads the whole registry before its first event."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(url), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        updates: list[Update] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            updates += _updates(topic, await consumer.getmany(timeout_ms=POLL_MS))
        # the position, not the end offset: the embedded broker reports the end of a
        # multi-record batch as its first offset + 1
        return updates, {tp.partition: await consumer.position(tp) for tp in partitions}
    finally:
        await consumer.stop()


async def follow(
    url: str,
    topic: str,
    start: dict[int, int],
    on_updates: Callable[[list[Update]], Awaitable[None]],
    stop: asyncio.Event | None = None,
) -> None:
    """Follow the topic from the offsets `start` (from `read_all`) until `stop` (or until
    cancelled), handing
    each polled batch of updates to `on_updates` in order. Malformed messages are logged
    and skipped."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(url), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topic)
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, start.get(tp.partition, 0))
        while stop is None or not stop.is_set():
            updates = _updates(topic, await consumer.getmany(timeout_ms=POLL_MS))
            if updates:
                await on_updates(updates)
    finally:
        await consumer.stop()


def _updates(topic: str, batches: dict) -> list[Update]:
    return [
        update
        for messages in batches.values()
        for m in messages
        if (update := _update(m.key, m.value, f"{topic}@{m.offset}")) is not None
    ]


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    await consumer.topics()  # refreshes the cluster metadata
    found = consumer.partitions_for_topic(topic)
    if not found:
        raise ValueError(f"registry topic {topic!r} does not exist (ensure_registry_topic)")
    return [TopicPartition(topic, p) for p in sorted(found)]


def _message(update: Update) -> tuple[bytes, bytes | None]:
    if isinstance(update, Erasure):
        key = f"{ERASURE}:{update.consumer_hash}"
        return key.encode(), json.dumps({"kind": ERASURE, "id": update.consumer_hash}).encode()
    if update.entity is None:  # a tombstone: compaction removes the key altogether
        return update.key.encode(), None
    return update.key.encode(), encode_change(update)


def _update(key: bytes | None, value: bytes | None, where: str) -> Update | None:
    try:
        if key is not None and key.startswith(f"{ERASURE}:".encode()):
            return Erasure(key.decode().partition(":")[2])
        if value is None:  # a tombstone
            kind, _, entity_id = (key or b"").decode().partition(":")
            return deletion(kind, entity_id)
        return decode_change(value)
    except (ValueError, UnicodeDecodeError) as exc:
        log.error("registry message skipped", at=where, error=str(exc))
        return None
