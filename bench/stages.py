"""The measurements. Each one opens its own `Run` (fresh topics, group and warehouse) and
returns a dict of numbers for the report.

Timing rule, the same for everyone: t0 = the producer's first send (nothing is produced
before it), t1 = when the last event is counted (our worker: seen in `usage_minute FINAL`,
polled every 0.2 s; a baseline: its own clock when it counted the last record). Every
consumer is warmed up first (in its group, owning every partition, one line counted on each).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import ui
from bench.harness import Bench, BenchError, RssSampler, Run, produce_lines, wait_for
from bench.procs import Child, ChildError

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 900.0
    """Longest wait for one measurement's events."""
    stall_s: float = 120.0
    """Longest time without any progress before a measurement gives up."""


def _go(producer: Child) -> float:
    producer.send("go")
    return float(producer.expect("t0", 30)[0])


def _producer_done(producer: Child, timeout_s: float) -> tuple[int, int, float]:
    """(messages, events, monotonic end) from the producer's `sent` line."""
    try:
        messages, events, end = producer.expect("sent", timeout_s)
    except ChildError as exc:
        raise BenchError(f"producer did not finish: {exc}") from None
    return int(messages), int(events), float(end)


def worker_throughput(
    bench: Bench, name: str, path: Path, events: int, workers: int, limits: Limits
) -> dict[str, Any]:
    """Events/s of `workers` worker processes on the messages in `path`."""
    with bench.run(name) as run:
        ui.detail(f"starting {workers} worker(s) and a fresh warehouse")
        run.start_warehouse()
        for _ in range(workers):
            run.start_worker()
        run.warm_up_workers()
        expected = run.partitions + events
        producer = run.producer("burst", str(path))
        samplers = [RssSampler(w.pid) for w in run.workers]
        with contextlib.ExitStack() as stack:
            for sampler in samplers:
                stack.enter_context(sampler)
            t0 = _go(producer)
            t1 = run.wait_counted(
                expected,
                limits.timeout_s,
                limits.stall_s,
                f"{name}: events counted",
                run.partitions,
            )
        _, sent, produced = _producer_done(producer, 60)
        if sent != events:
            raise BenchError(f"{name}: the producer sent {sent} events, expected {events}")
        peak = max(sampler.peak_bytes for sampler in samplers)
        return _timing(events, t0, t1, produced) | {"worker_peak_rss_mb": peak / MB}


def _timing(events: int, t0: float, t1: float, produced: float) -> dict[str, Any]:
    """Events/s, and whether the producer (with the broker) is what limited the consumer:
    it finished within 15 % of the consumer, so the consumer mostly waited for data."""
    return {
        "eps": events / (t1 - t0),
        "seconds": t1 - t0,
        "producer_seconds": produced - t0,
        "producer_bound": produced - t0 >= 0.85 * (t1 - t0),
    }


class _ChildCount:
    """The latest count a baseline child printed, and the time of its `done` line."""

    def __init__(self, child: Child) -> None:
        self.child = child
        self.n = 0
        self.done_at: float | None = None

    def read(self) -> int:
        for fields in self.child.poll_lines():
            if fields and fields[0] in ("count", "done"):
                self.n = max(self.n, int(fields[1]))
                if fields[0] == "done":
                    self.done_at = float(fields[2])
        return self.n

    def dead(self) -> str:
        return (
            ""
            if self.child.alive()
            else f"{self.child.name} exited {self.child.process.returncode}"
        )


def baseline_throughput(
    bench: Bench, name: str, kind: str, path: Path, events: int, limits: Limits
) -> dict[str, Any]:
    """Events/s of a bare consumer (`faust` or `aiokafka`) on the messages in `path`."""
    with bench.run(name) as run:
        expected = run.partitions + events
        if kind == "faust":
            args = (run.url, run.raw_topic, run.group, str(run.partitions), str(expected))
            child = run.child("bench.bare_faust", *args, str(run.dir / "faust"))
        else:
            child = run.child(
                "bench.bare_aiokafka", run.url, run.raw_topic, run.group, str(expected)
            )
        count = _ChildCount(child)
        produce_lines(run.url, run.raw_topic, run.partitions)
        wait_for(
            count.read,
            run.partitions,
            180,
            180,
            f"{name}: warm-up",
            alive=count.dead,
            diagnose=child.log_tail,
        )
        producer = run.producer("burst", str(path))
        t0 = _go(producer)
        wait_for(
            count.read,
            expected,
            limits.timeout_s,
            limits.stall_s,
            f"{name}: records counted",
            base=run.partitions,
            alive=count.dead,
            diagnose=child.log_tail,
        )
        deadline = time.monotonic() + 5
        while count.done_at is None and time.monotonic() < deadline:
            count.read()
            time.sleep(0.05)
        if count.done_at is None:
            raise BenchError(f"{name}: the count reached {count.n} but no 'done' line came")
        _, _, produced = _producer_done(producer, 60)
        return _timing(events, t0, count.done_at, produced)


def freshness(
    bench: Bench, path: Path, eps: float, seconds: float, limits: Limits
) -> dict[str, Any]:
    """Delay from send to visible in usage_minute of one probe line per message, at `eps`."""
    with bench.run("freshness") as run:
        ui.detail(
            f"sending batched messages at {eps:,.0f} events/s for {seconds:.0f} s, one probe each"
        )
        run.start_warehouse()
        run.start_worker()
        run.warm_up_workers()
        producer = run.producer("paced", str(path), str(eps), str(seconds))
        seen: dict[str, int] = {}
        _go(producer)
        sent_messages: int | None = None
        wait_after_s = 30.0
        stop_at = time.monotonic() + seconds + limits.timeout_s
        with ui.bar("probes seen", None) as bar:
            while True:
                started = time.monotonic()
                for name in _probes(run):
                    seen.setdefault(name, time.time_ns())
                bar.update(0, completed=len(seen))
                if sent_messages is None and (sent := producer.seen("sent")):
                    sent_messages = int(sent[0])
                    stop_at = time.monotonic() + wait_after_s
                if sent_messages is not None and len(seen) >= sent_messages:
                    break
                if time.monotonic() > stop_at:
                    break
                if problem := run.dead_workers():
                    raise BenchError(f"freshness: {problem}\n{run.worker_logs()}")
                time.sleep(max(0.0, 0.1 - (time.monotonic() - started)))
        if sent_messages is None:
            raise BenchError("freshness: the producer never finished")
        delays = sorted((at - int(name.rsplit("-", 1)[1])) / 1e9 for name, at in seen.items())
        missing = sent_messages - len(delays)
        return {
            "eps": eps,
            "seconds": seconds,
            "probes_sent": sent_messages,
            "probes_seen": len(delays),
            "p50_s": statistics.median(delays) if delays else None,
            "p99_s": _quantile(delays, 0.99) if delays and not missing else None,
            "max_s": delays[-1] if delays else None,
        }


def _probes(run: Run) -> list[str]:
    assert run.wh is not None
    df = run.wh.query_df(
        "SELECT DISTINCT consumer FROM usage_minute WHERE startsWith(consumer, 'probe-')"
    )
    return list(df["consumer"])


def _quantile(ordered: list[float], q: float) -> float:
    """The value of rank ceil(q*n) (no interpolation)."""
    rank = max(1, -(-int(q * 1000) * len(ordered) // 1000))
    return ordered[min(rank, len(ordered)) - 1]


def memory_soak(bench: Bench, eps: float, seconds: float, limits: Limits) -> dict[str, Any]:
    """Worker RSS while 10,000 consumers x 500 endpoints are live, at `eps` for `seconds`."""
    with bench.run("soak") as run:
        ui.detail(
            f"10,000 consumers x 500 endpoints at {eps:,.0f} events/s for {seconds:.0f} s; "
            "worker RSS sampled every 0.5 s"
        )
        run.start_warehouse()
        worker = run.start_worker()
        run.warm_up_workers()
        producer = run.producer("soak", str(eps), str(seconds))
        with RssSampler(worker.pid) as rss:
            t0 = _go(producer)
            end = t0 + seconds
            with ui.bar("soak seconds", seconds) as bar:
                while (now := time.monotonic()) < end:
                    if problem := run.dead_workers():
                        raise BenchError(f"soak: {problem}\n{run.worker_logs()}")
                    if not producer.alive():
                        raise BenchError(f"soak: the producer exited\n{producer.log_tail()}")
                    bar.update(0, completed=now - t0)
                    time.sleep(0.5)
            _, sent, _ = _producer_done(producer, 60)
            t_end = time.monotonic()
        counted = run.counted() - run.partitions
        early = rss.rss_near(t0 + 0.2 * seconds)
        late = rss.rss_near(t_end)
        return {
            "eps": eps,
            "seconds": seconds,
            "events_sent": sent,
            "events_counted_at_end": counted,
            "peak_rss_mb": rss.peak_bytes / MB,
            "rss_at_20pct_mb": early / MB,
            "rss_at_end_mb": late / MB,
            "growth_pct": (late - early) / early * 100 if early else None,
        }
