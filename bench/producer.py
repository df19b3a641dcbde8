"""Child: produce the bench's traffic to the broker, in one of three ways.

    python -m bench.producer burst <url> <topic> <partitions> <messages file>
    python -m bench.producer paced <url> <topic> <partitions> <messages file> <eps> <seconds>
    python -m bench.producer soak  <url> <topic> <partitions> <eps> <seconds>

It connects and loads its messages first, prints `ready`, and starts on `go` (stdin), so
neither counts in a measurement. Then it prints `t0 <monotonic>` just before its first send
and `sent <messages> <events> <monotonic>` once every message is acknowledged.

- burst: every message of the file, as fast as the producer goes (whole record batches).
- paced: messages of the file (cycled) at `eps` events/s for `seconds`, each with one probe
  line first, whose consumer is `probe-<n>-<send time in ns since the epoch>`.
- soak: synthetic lines (`workloads.SoakTraffic`, 500 per message) at `eps` for `seconds`,
  `progress <events> <monotonic>` every second.

Messages go to partitions round-robin, so every partition gets an even share.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from apim.kafka import bootstrap_servers
from bench import workloads

SETTLE_EVERY = 256


def make_producer(url: str) -> AIOKafkaProducer:
    """The shipper's settings (`ingest.kafka.producer_for`) with bigger batches, so the
    producer is not what limits a burst of small messages."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers(url),
        acks="all",
        linger_ms=20,
        max_request_size=1024 * 1024,
        max_batch_size=512 * 1024,
    )


class _Sender:
    def __init__(self, producer: AIOKafkaProducer, topic: str, partitions: int) -> None:
        self.producer = producer
        self.topic = topic
        self.partition_count = partitions
        self.partitions = itertools.cycle(range(partitions))
        self.pending: list[asyncio.Future] = []
        self.messages = 0
        self.events = 0

    async def send(self, value: bytes, headers: workloads.Headers) -> None:
        future = await self.producer.send(
            self.topic, value, headers=headers, partition=next(self.partitions)
        )
        self.pending.append(future)
        self.count(value)
        if len(self.pending) >= SETTLE_EVERY:
            await self.settle()

    async def send_batch(self, batch: Any, partition: int) -> None:
        batch.close()
        self.pending.append(await self.producer.send_batch(batch, self.topic, partition=partition))
        if len(self.pending) >= SETTLE_EVERY:
            await self.settle()

    def count(self, value: bytes) -> None:
        self.messages += 1
        self.events += value.count(b"\n") + 1

    async def settle(self) -> None:
        pending, self.pending = self.pending, []
        await asyncio.gather(*pending)


async def _wait_for_go() -> None:
    print("ready", flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    if line.strip() != "go":
        raise SystemExit("producer: stdin closed before 'go'")


async def burst(sender: _Sender, path: Path) -> None:
    """Whole record batches per partition (`send_batch`): the cheapest way aiokafka has to
    produce, so the producer takes as little CPU as possible from what it measures."""
    messages = workloads.load(path)
    producer, partitions = sender.producer, sender.partition_count
    await _wait_for_go()
    print(f"t0 {time.monotonic()}", flush=True)
    batches = [producer.create_batch() for _ in range(partitions)]
    for i, (value, headers) in enumerate(messages):
        p = i % partitions
        if batches[p].append(key=None, value=value, timestamp=None, headers=headers) is None:
            await sender.send_batch(batches[p], p)
            batches[p] = producer.create_batch()
            batches[p].append(key=None, value=value, timestamp=None, headers=headers)
        sender.count(value)
    for p, batch in enumerate(batches):
        if batch.record_count():
            await sender.send_batch(batch, p)


async def paced(sender: _Sender, path: Path, eps: float, seconds: float) -> None:
    messages = workloads.load(path)
    await _wait_for_go()
    t0 = time.monotonic()
    print(f"t0 {t0}", flush=True)
    for n, (value, headers) in enumerate(itertools.cycle(messages)):
        due = t0 + sender.events / eps
        now = time.monotonic()
        if due >= t0 + seconds:
            break
        if due > now:
            await asyncio.sleep(due - now)
        started_at = int(time.time() * 1000)
        probe = workloads.probe_line(f"probe-{n}-{time.time_ns()}", started_at)
        await sender.send(probe + b"\n" + value, headers)
        await sender.settle()  # a probe's delay must not hide in our own send queue


async def soak(sender: _Sender, eps: float, seconds: float) -> None:
    traffic = workloads.SoakTraffic()
    await _wait_for_go()
    t0 = time.monotonic()
    print(f"t0 {t0}", flush=True)
    k, last_report = 0, t0
    headers = [("format", b"kong"), ("source", workloads.SOURCE.encode())]
    while True:
        now = time.monotonic()
        if now - t0 >= seconds:
            break
        due = t0 + k / eps
        if due > now:
            await asyncio.sleep(due - now)
        started_at = int(time.time() * 1000)
        lines = [traffic.line(i, started_at) for i in range(k, k + workloads.BATCH_LINES)]
        await sender.send(b"\n".join(lines), [*headers, ("line", str(k + 1).encode())])
        k += len(lines)
        if now - last_report >= 1.0:
            last_report = now
            print(f"progress {k} {now}", flush=True)


async def main(argv: list[str]) -> None:
    mode, url, topic, partitions = argv[0], argv[1], argv[2], int(argv[3])
    producer = make_producer(url)
    await producer.start()
    try:
        sender = _Sender(producer, topic, partitions)
        if mode == "burst":
            await burst(sender, Path(argv[4]))
        elif mode == "paced":
            await paced(sender, Path(argv[4]), float(argv[5]), float(argv[6]))
        elif mode == "soak":
            await soak(sender, float(argv[4]), float(argv[5]))
        else:
            raise SystemExit(f"producer: unknown mode {mode!r}")
        await sender.settle()
        print(f"sent {sender.messages} {sender.events} {time.monotonic()}", flush=True)
    finally:
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
