"""Kafka helpers every stage shares: bootstrap-server parsing and topic creation."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError


def bootstrap_servers(url: str) -> str:
    """`kafka://a:9092,b:9092` (or plain `a:9092`) → `a:9092,b:9092`."""
    servers = [s.strip().removeprefix("kafka://") for s in url.split(",")]
    return ",".join(s for s in servers if s)


async def ensure_topics(
    url: str, topics: list[str], partitions: int, *, compacted: bool = False
) -> None:
    """Create the topics that do not exist yet (existing ones are left as they are);
    `compacted`: keep the latest message per key forever (`cleanup.policy=compact`)."""
    configs = {"cleanup.policy": "compact"} if compacted else {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(url))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # created meanwhile: fine
                await admin.create_topics(
                    [
                        NewTopic(
                            t,
                            num_partitions=partitions,
                            replication_factor=1,
                            topic_configs=configs,
                        )
                        for t in missing
                    ]
                )
    finally:
        await admin.close()


async def group_lag(url: str, group: str, topic: str) -> int:
    """Messages of `topic` the consumer group has not committed yet (all partitions).

    Reads the group's commits without joining it (no subscription, so no rebalance)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers(url), group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer.topics()  # fetches the cluster metadata
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await consumer.end_offsets(tps)
        lag = 0
        for tp in tps:
            done = await consumer.committed(tp)
            lag += max(ends[tp] - (done if done is not None and done >= 0 else 0), 0)
        return lag
    finally:
        await consumer.stop()
