"""The registry topic on the real broker: a worker reads the whole registry, then follows
changes in order; deletions are tombstones; erasure markers carry only a hash; a malformed
message is skipped, not fatal."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from apim.kafka import bootstrap_servers
from processors.registry.model import Consumer, Plan, change_of, deletion
from processors.registry.topic import (
    Erasure,
    ensure_registry_topic,
    follow,
    publish,
    read_all,
)

pytestmark = pytest.mark.e2e
PRO = change_of(Plan(id="pro", name="Pro"))
ACME = change_of(Consumer(id="acme", name="Acme", plan_id="pro"))


def new_topic(url: str) -> str:
    topic = f"registry-{uuid.uuid4().hex[:8]}"
    asyncio.run(ensure_registry_topic(url, topic))
    return topic


def test_read_all_then_follow_from_where_it_ended(broker):
    topic = new_topic(broker.url)
    asyncio.run(publish(broker.url, topic, [PRO, ACME]))
    updates, start = asyncio.run(read_all(broker.url, topic))
    assert updates == [PRO, ACME] and start == {0: 2}

    async def scenario() -> list:
        seen: list = []
        stop = asyncio.Event()

        async def collect(batch: list) -> None:
            seen.extend(batch)
            if len(seen) >= 2:
                stop.set()

        follower = asyncio.create_task(follow(broker.url, topic, start, collect, stop))
        await publish(broker.url, topic, [deletion("consumer", "acme"), Erasure("ab" * 16)])
        await asyncio.wait_for(follower, 15)
        return seen

    assert asyncio.run(scenario()) == [deletion("consumer", "acme"), Erasure("ab" * 16)]


def test_deletions_are_tombstones_and_bad_messages_are_skipped(broker):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    topic = new_topic(broker.url)

    async def scenario() -> tuple[list, list]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(broker.url))
        await producer.start()
        await producer.send_and_wait(topic, key=b"plan:x", value=b"{not json")
        await producer.stop()
        await publish(broker.url, topic, [PRO, deletion("plan", "pro")])
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap_servers(broker.url), auto_offset_reset="earliest"
        )
        await consumer.start()
        raw = []
        while len(raw) < 3:
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                raw += [(m.key, m.value) for m in batch]
        await consumer.stop()
        return raw, (await read_all(broker.url, topic))[0]

    raw, updates = asyncio.run(scenario())
    assert raw[2] == (b"plan:pro", None)
    assert updates == [PRO, deletion("plan", "pro")]
