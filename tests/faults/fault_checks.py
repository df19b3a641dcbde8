"""Small helpers shared by the fault tests: polling, worker health, consumer-group lag."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from apim.kafka import bootstrap_servers


def wait_for(
    pipeline,
    check: Callable[[], bool],
    timeout_s: float,
    what: str,
    every_s: float = 1.0,
    worker: subprocess.Popen | None = None,
) -> float:
    """Poll `check` until true; fail early if `worker` exits. Returns the seconds waited."""
    start = time.monotonic()
    deadline = start + timeout_s
    while True:
        if check():
            return time.monotonic() - start
        if worker is not None and worker.poll() is not None:
            raise AssertionError(
                f"worker exited with {worker.returncode} while waiting for {what}\n"
                f"--- worker log ---\n{pipeline.worker_log()}"
            )
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout_s} s waiting for {what}\n"
                f"--- worker log ---\n{pipeline.worker_log()}"
            )
        time.sleep(every_s)


def full_worker_log(pipeline) -> str:
    path = Path(pipeline.data_dir) / "logs" / "worker.log"
    return path.read_text(errors="replace") if path.exists() else ""


def assert_worker_healthy(pipeline, worker: subprocess.Popen, allow: tuple[str, ...] = ()) -> None:
    """Alive, and no traceback (nor any line the caller did not allow) in its log."""
    log = full_worker_log(pipeline)
    assert worker.poll() is None, f"worker exited with {worker.returncode}\n{log[-5000:]}"
    assert "Traceback" not in log, log[-5000:]
    for line in log.splitlines():
        if "batch failed" in line:
            assert any(a in line for a in allow), f"unexpected failure in worker log: {line}"


def usage_total(pipeline, table: str = "usage_minute") -> int:
    return int(pipeline.query(f"SELECT sum(requests) AS n FROM {table} FINAL")["n"][0] or 0)


def usage_by_consumer(pipeline, table: str = "usage_minute") -> Counter:
    frame = pipeline.query(
        f"SELECT consumer, sum(requests) AS n FROM {table} FINAL GROUP BY consumer"
    )
    return Counter({c: int(n) for c, n in zip(frame["consumer"], frame["n"], strict=True) if n})


def raw_events(pipeline) -> int:
    return int(pipeline.query("SELECT count() AS n FROM access_events FINAL")["n"][0])


def dead_letter_count(pipeline) -> int:
    return int(pipeline.query("SELECT count() AS n FROM dead_letters FINAL")["n"][0])


async def _produce(
    url: str, topic: str, messages: list[tuple[bytes, dict[str, bytes]]], partition: int | None
):
    from ingest.kafka import producer_for

    producer = producer_for(url)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, headers=list(headers.items()), partition=partition)
            for value, headers in messages
        ]
        return await asyncio.gather(*futures)
    finally:
        await producer.stop()


class RawTopic:
    """Produces to the pipeline's raw topic and knows each partition's end offset.

    The end offsets come from the broker's acknowledgements of what this test produced
    (it is the only producer). Asking the embedded broker instead (ListOffsets, e.g.
    `AIOKafkaConsumer.end_offsets`) is not reliable: Tansu answers the base offset of the
    last record batch + 1, so a batch of 5 records at offsets 3-7 gives 4, not 8.
    """

    def __init__(self, pipeline) -> None:
        self.pipeline = pipeline
        self.ends: dict[int, int] = {}
        self._lock = threading.Lock()

    def produce(
        self, messages: list[tuple[bytes, dict[str, bytes]]], partition: int | None = None
    ) -> None:
        """Send and wait for the acknowledgements (to `partition`, else the producer's choice)."""
        acks = asyncio.run(
            _produce(self.pipeline.broker.url, self.pipeline.raw_topic, messages, partition)
        )
        with self._lock:
            for ack in acks:
                self.ends[ack.partition] = max(self.ends.get(ack.partition, 0), ack.offset + 1)

    def lag(self) -> dict[int, int]:
        """Messages past the worker group's committed offset, per partition."""
        with self._lock:
            ends = dict(self.ends)
        committed = asyncio.run(
            _committed(
                self.pipeline.broker.url,
                self.pipeline.env["APIM_WORKER_GROUP"],
                self.pipeline.raw_topic,
                sorted(ends),
            )
        )
        return {p: end - committed.get(p, 0) for p, end in ends.items()}


async def _committed(url: str, group: str, topic: str, partitions: list[int]) -> dict[int, int]:
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(url))
    await admin.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        offsets = await admin.list_consumer_group_offsets(group, partitions=tps)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
