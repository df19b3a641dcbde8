"""Kafka helpers every stage shares: bootstrap-server parsing and topic creation."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError


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
