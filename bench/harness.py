"""The pipeline under measurement, assembled as `apim up` and `tests/conftest.py` do.

`Bench` owns one embedded broker for the whole run and a temporary directory. Each
measurement opens a `Run`: fresh topics (unique names, `partitions` each), a fresh consumer
group, a fresh chDB directory owned by a `bench.warehouse_owner` child that serves it to the
workers through `WarehouseService`, and real `python -m processors` workers configured by
`APIM_*` variables (settings not set here keep their defaults, or what the caller's
environment says, e.g. `APIM_WORKER_BATCH_MAX`).

Every wait is bounded and fails with a `BenchError` that says what was awaited, how far it
got and the end of the worker's log. Closing a `Run` (or the `Bench`) stops every process
it started and deletes its topics, so the in-memory broker does not keep them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from apim import processes
from apim.broker import EmbeddedBroker
from apim.kafka import bootstrap_servers, ensure_topics
from bench import ui, workloads
from bench.procs import Child, ChildError, log_tail
from warehouse.client import RemoteWarehouse

HASH_SECRET = "bench-secret-for-credential-hashing"
POLL_S = 0.2


class BenchError(RuntimeError):
    """A measurement could not finish (time-out, a process died); the message says why."""


class Bench:
    """The embedded broker and the temporary directory every run lives in."""

    def __init__(self, root: Path, partitions: int = 4) -> None:
        self.root = root
        self.partitions = partitions
        self.broker = EmbeddedBroker(root / "logs" / "broker.log")
        self.runs: list[Run] = []
        self._seq = 0

    def __enter__(self) -> Bench:
        self.broker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for run in reversed(self.runs):
            run.close()
        self.broker.stop()

    def run(self, name: str) -> Run:
        self._seq += 1
        run = Run(self, f"{self._seq:02d}-{name}")
        self.runs.append(run)
        return run


@dataclass
class Run:
    bench: Bench
    name: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    workers: list[subprocess.Popen] = field(default_factory=list)
    children: list[Child] = field(default_factory=list)
    wh: RemoteWarehouse | None = None
    _closed: bool = False

    def __post_init__(self) -> None:
        self.dir = self.bench.root / self.name
        self.dir.mkdir(parents=True)
        self.raw_topic = f"bench-raw-{self.name}-{self.id}"
        self.dlq_topic = f"bench-dlq-{self.name}-{self.id}"
        self.group = f"bench-{self.name}-{self.id}"
        asyncio.run(
            ensure_topics(self.url, [self.raw_topic, self.dlq_topic], self.bench.partitions)
        )

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        return self.bench.broker.url

    @property
    def partitions(self) -> int:
        return self.bench.partitions

    # ------------------------------------------------------------------ processes

    def child(self, module: str, *args: str) -> Child:
        name = module.rsplit(".", 1)[-1]
        child = Child(module, args, self.dir / "logs" / f"{name}-{len(self.children)}.log")
        self.children.append(child)
        return child

    def start_warehouse(self, timeout_s: float = 120) -> None:
        owner = self.child("bench.warehouse_owner", str(self.chdb_dir))
        try:
            url, token = owner.expect("ready", timeout_s)
        except ChildError as exc:
            raise BenchError(f"warehouse owner did not start: {exc}") from None
        self.wh = RemoteWarehouse(url, token)

    @property
    def chdb_dir(self) -> Path:
        return self.dir / "warehouse"

    def worker_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            APIM_KAFKA_URL=self.url,
            APIM_KAFKA_RAW_TOPIC=self.raw_topic,
            APIM_KAFKA_DLQ_TOPIC=self.dlq_topic,
            APIM_KAFKA_PARTITIONS=str(self.partitions),
            APIM_CLICKHOUSE_URL=f"chdb://{self.chdb_dir}",
            APIM_DATA_DIR=str(self.dir),
            APIM_WORKER_GROUP=self.group,
            APIM_SECURITY_HASH_SECRET=HASH_SECRET,
            PYTHONUNBUFFERED="1",
        )
        return env

    def start_worker(self) -> subprocess.Popen:
        if self.wh is None:
            self.start_warehouse()
        log = self.worker_log_path(len(self.workers))
        proc = processes.spawn([sys.executable, "-m", "processors"], log, self.worker_env())
        self.workers.append(proc)
        return proc

    def worker_log_path(self, index: int) -> Path:
        return self.dir / "logs" / f"worker-{index}.log"

    def worker_logs(self) -> str:
        return "\n".join(
            f"--- worker {i} (pid {p.pid}, {'running' if p.poll() is None else f'exited {p.returncode}'})"
            f" log tail ---\n{log_tail(self.worker_log_path(i))}"
            for i, p in enumerate(self.workers)
        )

    def producer(self, mode: str, *args: str, timeout_s: float = 120) -> Child:
        """A `bench.producer` child, connected and loaded, waiting for `go`."""
        child = self.child(
            "bench.producer", mode, self.url, self.raw_topic, str(self.partitions), *args
        )
        try:
            child.expect("ready", timeout_s)
        except ChildError as exc:
            raise BenchError(f"producer did not get ready: {exc}") from None
        return child

    # ------------------------------------------------------------------ warehouse

    def counted(self) -> int:
        """Events counted so far: sum(requests) over usage_minute FINAL."""
        assert self.wh is not None
        df = self.wh.query_df("SELECT sum(requests) AS n FROM usage_minute FINAL")
        return int(df["n"][0] or 0)

    def dead_letters(self) -> int:
        assert self.wh is not None
        return int(self.wh.query_df("SELECT count() AS n FROM dead_letters")["n"][0] or 0)

    def wait_counted(
        self, expected: int, timeout_s: float, stall_s: float, what: str, base: int = 0
    ) -> float:
        """Poll every 0.2 s until `expected` events are counted; the monotonic time it was seen."""
        return wait_for(
            lambda: self.counted(),
            expected,
            timeout_s,
            stall_s,
            what,
            base=base,
            alive=self.dead_workers,
            diagnose=lambda: f"dead letters: {self.dead_letters()}\n{self.worker_logs()}",
        )

    def dead_workers(self) -> str:
        dead = [
            f"worker {i} exited {p.returncode}"
            for i, p in enumerate(self.workers)
            if p.poll() is not None
        ]
        return ", ".join(dead)

    def warm_up_workers(self, timeout_s: float = 180) -> None:
        """Wait until every worker is in the group, then send one line per partition and wait
        until all are counted: from then on the workers own and read every partition."""
        wanted = len(self.workers)
        deadline = time.monotonic() + timeout_s
        while (members := asyncio.run(group_members(self.url, self.group))) != wanted:
            if problem := self.dead_workers():
                raise BenchError(f"{problem} while joining the group\n{self.worker_logs()}")
            if time.monotonic() > deadline:
                raise BenchError(
                    f"after {timeout_s:.0f} s the group has {members} of {wanted} workers "
                    f"in a stable state\n{self.worker_logs()}"
                )
            time.sleep(0.5)
        produce_lines(self.url, self.raw_topic, self.partitions)
        self.wait_counted(self.partitions, timeout_s, timeout_s, "the warm-up lines")

    # ------------------------------------------------------------------ clean-up

    def stop_workers(self) -> None:
        for proc in self.workers:
            processes.stop(proc)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stop_workers()
        for child in reversed(self.children):
            child.stop()
        with contextlib.suppress(Exception):  # topics of a dead broker are gone anyway
            asyncio.run(_delete_topics(self.url, [self.raw_topic, self.dlq_topic]))


def wait_for(
    read: Callable[[], int],
    expected: int,
    timeout_s: float,
    stall_s: float,
    what: str,
    *,
    base: int = 0,
    alive: Callable[[], str] = lambda: "",
    diagnose: Callable[[], str] = lambda: "",
) -> float:
    """Poll `read()` every 0.2 s until it reaches `expected`; fail on a time-out, on no progress
    for `stall_s`, or when `alive()` names a dead process. Shows a bar from `base`."""
    start = time.monotonic()
    last_n, last_change = -1, start
    with ui.bar(what, expected - base) as bar:
        while True:
            n = read()
            now = time.monotonic()
            if n >= expected:
                return now
            bar.update(0, completed=max(n - base, 0))
            if n != last_n:
                last_n, last_change = n, now
            problem = alive()
            if not problem and now - start > timeout_s:
                problem = f"timed out after {timeout_s:.0f} s"
            if not problem and now - last_change > stall_s:
                problem = f"no progress for {stall_s:.0f} s"
            if problem:
                raise BenchError(
                    f"waiting for {what}: {problem}; {n - base:,} of {expected - base:,} so far\n"
                    f"{diagnose()}"
                )
            time.sleep(POLL_S)


def produce_lines(url: str, topic: str, partitions: int) -> None:
    """One warm-up line on every partition, acknowledged."""
    from aiokafka import AIOKafkaProducer

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(url), acks="all")
        await producer.start()
        try:
            now_ms = int(time.time() * 1000)
            headers = [("format", b"kong"), ("source", b"bench-warmup"), ("line", b"1")]
            for p in range(partitions):
                line = workloads.warmup_line(p, now_ms)
                await producer.send_and_wait(topic, line, headers=headers, partition=p)
        finally:
            await producer.stop()

    asyncio.run(send())


async def group_members(url: str, group: str) -> int:
    """Members of a consumer group once it is stable (assignments synced), else 0."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(url))
    await admin.start()
    try:
        response = (await asyncio.wait_for(admin.describe_consumer_groups([group]), 10))[0]
    finally:
        await admin.close()
    for _error, _group, state, *_rest, members in response.groups:
        return len(members) if state == "Stable" else 0
    return 0


async def _delete_topics(url: str, topics: list[str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(url))
    await admin.start()
    try:
        await asyncio.wait_for(admin.delete_topics(topics), 10)
    finally:
        await admin.close()


class RssSampler:
    """Samples a process's RSS (with its children) every `every_s` in a thread; keeps
    (monotonic time, bytes) and reads the kernel's peak (VmHWM) when stopped."""

    def __init__(self, pid: int, every_s: float = 0.5) -> None:
        self.pid = pid
        self.every_s = every_s
        self.samples: list[tuple[float, int]] = []
        self.hwm_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join()
            self.hwm_bytes = max(self.hwm_bytes, vm_hwm(self.pid))

    def rss_now(self) -> int:
        try:
            proc = psutil.Process(self.pid)
            total = proc.memory_info().rss
            for child in proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
        except psutil.Error:
            return 0
        return total

    def _sample(self) -> None:
        while not self._stop.is_set():
            rss = self.rss_now()
            if rss:
                self.samples.append((time.monotonic(), rss))
            self.hwm_bytes = max(self.hwm_bytes, vm_hwm(self.pid))
            self._stop.wait(self.every_s)

    @property
    def peak_bytes(self) -> int:
        return max([self.hwm_bytes, *(rss for _, rss in self.samples)])

    def rss_near(self, t: float, window_s: float = 2.5) -> int:
        """Median RSS of the samples in (t - window_s, t]."""
        values = sorted(rss for at, rss in self.samples if t - window_s < at <= t)
        return values[len(values) // 2] if values else 0


def vm_hwm(pid: int) -> int:
    """The kernel's peak resident set of `pid` in bytes (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
