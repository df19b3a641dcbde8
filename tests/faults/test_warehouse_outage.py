"""ClickHouse writes fail for 30 s while a known stream keeps flowing.

The fault is injected at the client layer in embedded mode (`FaultyWarehouse`, served to
the worker by the `faulty_pipeline` fixture of conftest.py): the warehouse API the worker
writes through refuses every write while the flag is set. During the outage nothing new may become visible and the backlog must show
as consumer-group lag that grows (the worker must not ack what it could not store);
afterwards the worker must catch up by itself: exact totals per consumer, lag back to 0.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from fault_checks import (
    RawTopic,
    assert_worker_healthy,
    dead_letter_count,
    raw_events,
    usage_by_consumer,
    usage_total,
    wait_for,
)
from faulty_warehouse import INJECTED
from poison_lines import ValidStream

pytestmark = pytest.mark.e2e
OUTAGE_S = 30.0
BEFORE_MESSAGES = 200  # 10 lines each
RATE_MESSAGES_PER_S = 10  # during the outage: 100 lines/s


def test_worker_holds_the_backlog_through_a_30s_outage_and_catches_up(faulty_pipeline):
    pipeline, faulty = faulty_pipeline
    stream = ValidStream(seed=31, now=datetime.now(UTC))
    expected: Counter = Counter()

    raw = RawTopic(pipeline)
    worker = pipeline.start_worker()
    raw.produce(stream.next_messages(BEFORE_MESSAGES, expected))
    before = sum(expected.values())
    wait_for(
        pipeline, lambda: usage_total(pipeline) == before, 120, "the first events", worker=worker
    )
    wait_for(pipeline, lambda: sum(raw.lag().values()) == 0, 60, "offsets committed")
    assert usage_by_consumer(pipeline) == expected

    # ---- outage: every write refused for OUTAGE_S while the stream keeps coming -----------
    during: Counter = Counter()
    sent = {"messages": 0}
    stop = threading.Event()

    def feed() -> None:
        while not stop.is_set():
            tick = time.monotonic()
            batch = stream.next_messages(RATE_MESSAGES_PER_S // 2, during)
            raw.produce(batch)
            sent["messages"] += len(batch)
            stop.wait(max(0.0, 0.5 - (time.monotonic() - tick)))

    faulty.failing.set()
    outage_start = time.monotonic()
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    lags: list[int] = []
    try:
        while time.monotonic() - outage_start < OUTAGE_S:
            time.sleep(3)
            assert usage_total(pipeline) == before, "new counts visible during the outage"
            assert raw_events(pipeline) == before, "new raw events visible during the outage"
            lags.append(sum(raw.lag().values()))
            assert worker.poll() is None, pipeline.worker_log()
        stop.set()
        feeder.join(30)
        assert not feeder.is_alive()
        held = raw.lag()  # still in the outage: nothing may have been acked
        assert usage_total(pipeline) == before and raw_events(pipeline) == before
    finally:
        stop.set()
        faulty.failing.clear()
    outage_s = time.monotonic() - outage_start
    assert outage_s >= OUTAGE_S
    assert faulty.refused > 0, "the worker never tried to write during the outage"

    assert lags[0] > 0, f"no backlog visible as lag: {lags}"
    assert lags == sorted(lags) and lags[-1] > lags[0], f"lag did not grow: {lags}"
    assert sum(held.values()) == sent["messages"], (held, sent)  # every message held back

    # ---- recovery ----------------------------------------------------------------------
    expected.update(during)
    total = sum(expected.values())
    recovery = time.monotonic()
    wait_for(
        pipeline, lambda: usage_total(pipeline) >= total, 120, f"{total} events", worker=worker
    )
    wait_for(pipeline, lambda: sum(raw.lag().values()) == 0, 60, "lag back to 0")
    caught_up_s = time.monotonic() - recovery
    time.sleep(3)  # anything counted twice would show now

    assert usage_total(pipeline) == total
    assert usage_by_consumer(pipeline) == expected
    assert raw_events(pipeline) == total
    assert dead_letter_count(pipeline) == 0
    assert all(lag == 0 for lag in raw.lag().values())
    assert_worker_healthy(pipeline, worker, allow=(INJECTED,))
    print(
        f"outage {outage_s:.1f} s, {sent['messages']} messages held, lag samples {lags}, "
        f"caught up {caught_up_s:.1f} s after, {faulty.refused} writes refused"
    )
