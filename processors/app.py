"""The Faust application: configuration from `Settings`, topics, and the agents it runs.

`processing_guarantee` stays at-least-once: the embedded broker has no transactions, and
exactness comes from the idempotent pipeline instead (see `processors.aggregate`). Faust's
web server is off (it would listen on every interface); tables are not used, because the
aggregation state lives in the warehouse, versioned by source offset.
"""

from __future__ import annotations

import faust

from apim.kafka import bootstrap_servers
from apim.settings import Settings


def kafka_broker_url(url: str) -> str:
    """Our `kafka://a:9092,b:9092` → Faust's `kafka://a:9092;kafka://b:9092`."""
    return ";".join(f"kafka://{server}" for server in bootstrap_servers(url).split(","))


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        settings.worker.group,
        broker=kafka_broker_url(settings.kafka.url or ""),
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
