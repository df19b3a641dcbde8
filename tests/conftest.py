"""Shared fixtures: the real embedded broker, a real chDB warehouse, a real Faust worker.

`pipeline` assembles them the way `apim up` does: this test process owns the chDB
directory and serves it on loopback; the worker is a separate process reaching it through
that API. Each test gets its own topics, consumer group and warehouse.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import warehouse
from apim import processes
from apim.broker import EmbeddedBroker
from warehouse.service import WarehouseService

HASH_SECRET = "test-secret-for-credential-hashing"


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    b = EmbeddedBroker(tmp_path_factory.mktemp("broker") / "broker.log")
    b.start()
    yield b
    b.stop()


@dataclass
class Pipeline:
    broker: EmbeddedBroker
    data_dir: Path
    wh: warehouse.Warehouse
    env: dict[str, str]
    raw_topic: str
    dlq_topic: str
    workers: list[subprocess.Popen] = field(default_factory=list)

    def start_worker(self) -> subprocess.Popen:
        log = self.data_dir / "logs" / "worker.log"
        proc = processes.spawn([sys.executable, "-m", "processors"], log, self.env)
        self.workers.append(proc)
        return proc

    def stop_workers(self) -> None:
        for proc in self.workers:
            processes.stop(proc)

    def worker_log(self) -> str:
        path = self.data_dir / "logs" / "worker.log"
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""

    def query(self, sql: str, parameters: dict | None = None):
        return self.wh.query_df(sql, parameters)

    def wait_until(self, check: Callable[[], bool], timeout_s: float = 90, what: str = "") -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.5)
        raise AssertionError(
            f"timed out waiting for {what}\n--- worker log ---\n{self.worker_log()}"
        )

    def produce(
        self, messages: list[tuple[bytes, dict[str, bytes]]], topic: str | None = None
    ) -> None:
        """Send messages (value, headers) to the raw-logs topic (or `topic`) and wait until
        all are acknowledged."""
        asyncio.run(_produce(self.broker.url, topic or self.raw_topic, messages))


async def _produce(url: str, topic: str, messages: list[tuple[bytes, dict[str, bytes]]]) -> None:
    from ingest.kafka import producer_for

    producer = producer_for(url)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, headers=list(headers.items()))
            for value, headers in messages
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[warehouse.Warehouse]:
    """A real chDB warehouse of its own, migrated."""
    handle = warehouse.open_chdb(tmp_path / "warehouse")
    warehouse.migrate(handle, 30)
    yield handle
    handle.close()


@pytest.fixture
def pipeline(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[Pipeline]:
    from apim.kafka import ensure_topics

    run_id = uuid.uuid4().hex[:8]
    raw_topic, dlq_topic = f"raw-{run_id}", f"dlq-{run_id}"
    asyncio.run(ensure_topics(broker.url, [raw_topic, dlq_topic], 4))
    chdb_dir = tmp_path / "warehouse"
    wh = warehouse.open_chdb(chdb_dir)
    warehouse.migrate(wh, 30)
    service = WarehouseService(wh, chdb_dir, "127.0.0.1", 0)
    service.start()
    env = dict(os.environ)
    env.update(
        APIM_KAFKA_URL=broker.url,
        APIM_KAFKA_RAW_TOPIC=raw_topic,
        APIM_KAFKA_DLQ_TOPIC=dlq_topic,
        APIM_KAFKA_PARTITIONS="4",
        APIM_CLICKHOUSE_URL=f"chdb://{chdb_dir}",
        APIM_DATA_DIR=str(tmp_path),
        APIM_WORKER_GROUP=f"apim-test-{run_id}",
        APIM_WORKER_BATCH_WITHIN_S="0.2",
        APIM_SECURITY_HASH_SECRET=HASH_SECRET,
        PYTHONUNBUFFERED="1",
    )
    p = Pipeline(broker, tmp_path, wh, env, raw_topic, dlq_topic)
    yield p
    p.stop_workers()
    service.stop()
    wh.close()


@pytest.fixture(autouse=True, scope="session")
def _logging() -> None:
    from apim import logs

    logs.configure("INFO", json=False)
