"""The real shippers (file tailer, syslog receiver) on their own asyncio loop in a thread,
against the test's `pipeline`, and waiting until the worker has processed all they shipped."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from apim.kafka import bootstrap_servers
from ingest.outbox import Outbox
from ingest.receivers import serve
from ingest.syslog import SyslogOptions, SyslogReceiver, parse_apps, parse_listener
from ingest.tail import parse_watch, tail

STOP_TIMEOUT_S = 30


class Background:
    """Runs `main(stop)` on a new event loop in a thread until `stop()`."""

    def __init__(self, name: str, main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        self.name = name
        self._main = main
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._stopping = False
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        assert self._started.wait(10), f"{name}: its loop did not start"

    def _run(self) -> None:
        try:
            asyncio.run(self._amain())
        except BaseException as exc:
            self.error = exc
        finally:
            self._started.set()

    async def _amain(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._started.set()
        await self._main(self._stop)

    def check(self) -> None:
        """Raise if it failed, or ended before being told to."""
        if self.error is not None:
            raise AssertionError(f"{self.name} failed: {self.error!r}") from self.error
        if not self._stopping and not self._thread.is_alive():
            raise AssertionError(f"{self.name} ended before it was stopped")

    def stop(self) -> None:
        """Set its stop event and wait until it has shipped what it read and returned."""
        self._stopping = True
        if self._thread.is_alive() and self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(STOP_TIMEOUT_S)
        assert not self._thread.is_alive(), f"{self.name} did not stop in {STOP_TIMEOUT_S} s"
        self.check()

    def __enter__(self) -> Background:
        return self

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        if kind is None:
            self.stop()
            return
        with contextlib.suppress(AssertionError):  # already failing: keep the first error
            self.stop()


def tailing(pipeline, spec: str, checkpoints: Path) -> Background:
    """`apim tail`'s core on `spec` ("FORMAT:GLOB")."""
    watch = parse_watch(spec)

    async def main(stop: asyncio.Event) -> None:
        await tail(
            [watch],
            pipeline.broker.url,
            pipeline.raw_topic,
            pipeline.dlq_topic,
            checkpoints,
            stop,
            poll_s=0.1,
        )

    return Background("tailer", main)


def receiving_syslog(pipeline, listener: str, apps: str) -> tuple[Background, SyslogReceiver]:
    """The syslog receiver (`apim receive`'s core) on `listener` ("udp:0": a free port)
    with the `apps` table ("haproxy=mapping:/abs/haproxy.yaml")."""
    receivers: list[SyslogReceiver] = []

    async def main(stop: asyncio.Event) -> None:
        outbox = Outbox(pipeline.broker.url, pipeline.raw_topic, pipeline.dlq_topic)
        options = SyslogOptions([parse_listener(listener)], apps=parse_apps(apps))
        receiver = SyslogReceiver(outbox, options)
        receivers.append(receiver)
        await serve(outbox, [receiver], stop)

    background = Background("syslog receiver", main)
    deadline = time.monotonic() + 10
    while not (receivers and receivers[0].addresses):
        background.check()
        assert time.monotonic() < deadline, "the syslog receiver did not start listening"
        time.sleep(0.02)
    return background, receivers[0]


def port_of(address: str) -> int:
    """`udp://127.0.0.1:5514` -> 5514."""
    return int(address.rsplit(":", 1)[1])


def wait_processed(pipeline, ingest: Background, total: int, timeout_s: float = 30) -> None:
    """Wait until `total` events or dead letters are stored, stop `ingest` (it ships what it
    read), then wait until the worker has processed every message of the raw topic, so that
    extra or duplicated events would be seen too."""

    def arrived() -> bool:
        ingest.check()
        events = pipeline.query("SELECT count() AS n FROM access_events FINAL")["n"][0]
        letters = pipeline.query("SELECT count() AS n FROM dead_letters FINAL")["n"][0]
        return events + letters >= total

    pipeline.wait_until(arrived, timeout_s, what=f"{total} events or dead letters stored")
    ingest.stop()
    ends = asyncio.run(end_offsets(pipeline.broker.url, pipeline.raw_topic))

    def caught_up() -> bool:
        done = pipeline.query(
            "SELECT src, max(src_offset) AS offset FROM pipeline_progress FINAL GROUP BY src"
        )
        progress = dict(zip(done["src"], done["offset"], strict=True))
        return all(
            progress.get(f"{pipeline.raw_topic}/{p}", -1) >= end - 1
            for p, end in ends.items()
            if end > 0
        )

    pipeline.wait_until(caught_up, timeout_s, what=f"every raw message processed ({ends})")


async def end_offsets(url: str, topic: str) -> dict[int, int]:
    """The next offset of each partition of `topic`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(url), group_id=None)
    await consumer.start()
    try:
        await consumer.topics()  # fetches the metadata
        partitions = consumer.partitions_for_topic(topic) or set()
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()
