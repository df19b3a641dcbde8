"""Kill test: SIGKILL the worker repeatedly while a known stream flows; totals stay exact."""

from __future__ import annotations

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


def test_sigkill_mid_stream_loses_nothing_and_counts_nothing_twice(pipeline):
    expected = Expected()
    lines = kong_lines(EVENTS, seed=7, now=datetime.now(UTC), expected=expected)
    messages = as_messages(lines, "kong", "kong.log", per_message=20)
    chunks = [messages[i : i + 50] for i in range(0, len(messages), 50)]

    def feed() -> None:
        for chunk in chunks:
            pipeline.produce(chunk)
            time.sleep(0.2)

    def counted() -> int:
        return pipeline.query("SELECT sum(requests) AS n FROM usage_minute FINAL")["n"][0] or 0

    worker = pipeline.start_worker()
    feeder = threading.Thread(target=feed)
    feeder.start()
    kills_at = []
    for _ in range(KILLS):
        before = counted()
        pipeline.wait_until(lambda b=before: counted() > b, what="progress before a kill")
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        kills_at.append(counted())
        worker = pipeline.start_worker()
    feeder.join()

    pipeline.wait_until(lambda: counted() >= EVENTS, timeout_s=180, what=f"{EVENTS} events")
    time.sleep(3)  # anything counted twice would show up now
    assert counted() == EVENTS
    assert len(kills_at) == KILLS and kills_at[-1] < EVENTS  # the kills hit a flowing stream

    pairs = UsageQuery(by=("consumer", "endpoint")).run(pipeline.wh)
    assert {(r["consumer"], r["endpoint"]): r["requests"] for r in pairs.to_dicts()} == dict(
        expected.by_consumer_endpoint
    )
    for granularity in ("hour", "day"):
        total = pipeline.query(f"SELECT sum(requests) AS n FROM usage_{granularity} FINAL")
        assert total["n"][0] == EVENTS, granularity
    raw = pipeline.query("SELECT count() AS n, uniqExact(event_id) AS ids FROM access_events FINAL")
    assert raw["n"][0] == raw["ids"][0] == EVENTS
