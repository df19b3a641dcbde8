"""The Faust application: configuration from `Settings`, topics, and the agents it runs.

`processing_guarantee` stays at-least-once: the embedded broker has no transactions, and
exactness comes from the idempotent pipeline instead (see `processors.aggregate`). Faust's
web server is off (it would listen on every interface); tables are not used, because the
aggregation state lives in the warehouse, versioned by source offset.
"""

from __future__ import annotations

import faust

from apim.settings import Settings


def kafka_broker_url(settings: Settings) -> str:
    url = settings.kafka.url
    if url is None:
        raise ValueError("APIM_KAFKA_URL is not set: the worker needs a broker to read from")
    servers = url.removeprefix("kafka://").split(",")
    return ";".join(f"kafka://{s.strip()}" for s in servers if s.strip())


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        settings.worker.group,
        broker=kafka_broker_url(settings),
        store="memory://",
        datadir=str(settings.data_dir.resolve() / "worker"),
        topic_partitions=settings.kafka.partitions,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        broker_session_timeout=settings.worker.session_timeout_s,
        broker_heartbeat_interval=settings.worker.session_timeout_s / 5,
        web_enabled=False,
        producer_acks=-1,
    )
    app.conf.apim = settings  # type: ignore[attr-defined]
    return app
