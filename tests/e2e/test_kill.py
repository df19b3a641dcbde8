"""Kill test: SIGKILL the worker at random points while a known stream flows; totals stay exact.

Two sizes: a quick one (30k events, 4 kills, tiny batches so kills land mid-batch) and the
issue's long one (1 million events, 5 kills at random delays into a large backlog),
marked `long` so it can be deselected locally with `-m "not long"`; CI runs both.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from datetime import UTC, datetime

import pytest
from known_traffic import Expected, as_messages, kong_lines

from warehouse.queries import UsageQuery

pytestmark = pytest.mark.e2e


def _records(value: bytes) -> int:
    return sum(len(json.loads(line)) if line.startswith(b"[") else 1 for line in value.split(b"\n"))


@pytest.mark.parametrize(
    ("events", "kills", "per_message", "batch_max", "produce_every"),
    [
        pytest.param(30_000, 4, 20, 10, 10, id="30k"),
        pytest.param(1_000_000, 5, 200, 50, 100, id="1M", marks=pytest.mark.long),
    ],
)
def test_sigkill_mid_stream_loses_nothing_and_counts_nothing_twice(
    pipeline, events, kills, per_message, batch_max, produce_every
):
    rng = random.Random(events)
    expected = Expected()
    lines = kong_lines(events, seed=7, now=datetime.now(UTC), expected=expected)
    messages = as_messages(lines, "kong", "kong.log", per_message=per_message)
    del lines
    size = len(messages) // (kills + 1) + 1
    segments = [messages[i : i + size] for i in range(0, len(messages), size)]

    def counted() -> int:
        return pipeline.query("SELECT sum(requests) AS n FROM usage_minute FINAL")["n"][0] or 0

    def feed(segment: list) -> None:
        for i in range(0, len(segment), produce_every):
            pipeline.produce(segment[i : i + produce_every])
            time.sleep(0.05)

    pipeline.env["APIM_WORKER_BATCH_MAX"] = str(batch_max)
    worker = pipeline.start_worker()
    sent, mid_stream_kills = 0, 0
    for segment in segments[:-1]:
        feeder = threading.Thread(target=feed, args=(segment,))
        before = counted()
        feeder.start()
        pipeline.wait_until(lambda b=before: counted() > b, what="progress before a kill")
        time.sleep(rng.uniform(0, 2))  # a random point of the batch cycle
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        sent += sum(_records(value) for value, _ in segment)
        mid_stream_kills += counted() < sent
        worker = pipeline.start_worker()
        feeder.join()
    feed(segments[-1])

    timeout = 180 + events / 2000
    pipeline.wait_until(lambda: counted() >= events, timeout_s=timeout, what=f"{events} events")
    time.sleep(3)  # anything counted twice would show up now
    assert counted() == events
    assert mid_stream_kills >= kills // 2  # most kills hit a batch in flight

    pairs = UsageQuery(by=("consumer", "endpoint")).run(pipeline.wh)
    assert {(r["consumer"], r["endpoint"]): r["requests"] for r in pairs.to_dicts()} == dict(
        expected.by_consumer_endpoint
    )
    for granularity in ("hour", "day"):
        total = pipeline.query(f"SELECT sum(requests) AS n FROM usage_{granularity} FINAL")
        assert total["n"][0] == events, granularity
    raw = pipeline.query("SELECT count() AS n, uniqExact(event_id) AS ids FROM access_events FINAL")
    assert raw["n"][0] == raw["ids"][0] == events
