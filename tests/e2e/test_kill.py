"""Kill test: SIGKILL the worker repeatedly while a known stream flows; totals stay exact."""

from __future__ import annotations

import json
import signal
import threading
import time
from datetime import UTC, datetime

import pytest
from known_traffic import Expected, as_messages, kong_lines

from warehouse.queries import UsageQuery

pytestmark = pytest.mark.e2e
EVENTS = 30_000
KILLS = 4


def _records(value: bytes) -> int:
    return sum(len(json.loads(line)) if line.startswith(b"[") else 1 for line in value.split(b"\n"))


def test_sigkill_mid_stream_loses_nothing_and_counts_nothing_twice(pipeline):
    expected = Expected()
    lines = kong_lines(EVENTS, seed=7, now=datetime.now(UTC), expected=expected)
    messages = as_messages(lines, "kong", "kong.log", per_message=20)
    size = len(messages) // (KILLS + 1) + 1
    segments = [messages[i : i + size] for i in range(0, len(messages), size)]

    def counted() -> int:
        return pipeline.query("SELECT sum(requests) AS n FROM usage_minute FINAL")["n"][0] or 0

    def feed(segment: list) -> None:
        for i in range(0, len(segment), 10):
            pipeline.produce(segment[i : i + 10])
            time.sleep(0.05)

    pipeline.env["APIM_WORKER_BATCH_MAX"] = "10"  # many small batches: kills land mid-stream
    worker = pipeline.start_worker()
    sent, mid_stream_kills = 0, 0
    for segment in segments[:-1]:
        feeder = threading.Thread(target=feed, args=(segment,))
        before = counted()
        feeder.start()
        pipeline.wait_until(lambda b=before: counted() > b, what="progress before a kill")
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        sent += sum(_records(value) for value, _ in segment)
        mid_stream_kills += counted() < sent
        worker = pipeline.start_worker()
        feeder.join()
    feed(segments[-1])

    pipeline.wait_until(lambda: counted() >= EVENTS, timeout_s=180, what=f"{EVENTS} events")
    time.sleep(3)  # anything counted twice would show up now
    assert counted() == EVENTS
    assert mid_stream_kills >= KILLS // 2  # most kills hit a batch in flight

    pairs = UsageQuery(by=("consumer", "endpoint")).run(pipeline.wh)
    assert {(r["consumer"], r["endpoint"]): r["requests"] for r in pairs.to_dicts()} == dict(
        expected.by_consumer_endpoint
    )
    for granularity in ("hour", "day"):
        total = pipeline.query(f"SELECT sum(requests) AS n FROM usage_{granularity} FINAL")
        assert total["n"][0] == EVENTS, granularity
    raw = pipeline.query("SELECT count() AS n, uniqExact(event_id) AS ids FROM access_events FINAL")
    assert raw["n"][0] == raw["ids"][0] == EVENTS
