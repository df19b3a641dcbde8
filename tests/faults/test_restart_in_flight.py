"""SIGTERM the worker while a known stream is in flight, start a new one: exact totals.

Small batches (APIM_WORKER_BATCH_MAX=10) and a steady producer make each stop land with
messages fetched, half-processed or written but not yet committed. The next worker
resumes from the committed offsets, so it sees some messages again; nothing may be
counted twice and nothing lost, in every rollup and in the raw table.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from fault_checks import (
    RawTopic,
    dead_letter_count,
    full_worker_log,
    raw_events,
    usage_by_consumer,
    usage_total,
    wait_for,
)
from poison_lines import ValidStream

pytestmark = pytest.mark.e2e
MESSAGES = 900  # 10 lines each
STOPS = 2


def test_sigterm_mid_stream_then_restart_counts_exactly_once(pipeline):
    pipeline.env["APIM_WORKER_BATCH_MAX"] = "10"
    stream, expected = ValidStream(seed=77, now=datetime.now(UTC)), Counter()
    chunks = [stream.next_messages(5, expected) for _ in range(MESSAGES // 5)]
    total = sum(expected.values())
    raw = RawTopic(pipeline)
    sent = {"events": 0}

    def feed() -> None:  # ~100 messages/s, for about 9 s
        for chunk in chunks:
            raw.produce(chunk)
            sent["events"] += sum(value.count(b"\n") + 1 for value, _ in chunk)
            time.sleep(0.05)

    feeder = threading.Thread(target=feed, daemon=True)
    worker = pipeline.start_worker()
    feeder.start()
    in_flight_stops, exit_codes = 0, []
    for stop in range(STOPS):
        before = usage_total(pipeline)
        wait_for(
            pipeline,
            lambda b=before: usage_total(pipeline) > b,
            timeout_s=120,
            what=f"progress before stop {stop + 1}",
            every_s=0.2,
            worker=worker,
        )
        worker.send_signal(signal.SIGTERM)
        try:
            exit_codes.append(worker.wait(30))
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker ignored SIGTERM for 30 s\n{pipeline.worker_log()}")
        in_flight_stops += usage_total(pipeline) < sent["events"]
        worker = pipeline.start_worker()
    feeder.join(120)
    assert not feeder.is_alive()
    assert sent["events"] == total

    wait_for(pipeline, lambda: usage_total(pipeline) >= total, 180, f"{total} events", 1, worker)
    wait_for(pipeline, lambda: sum(raw.lag().values()) == 0, 60, "offsets committed")
    time.sleep(3)  # anything counted twice would show up now

    assert in_flight_stops >= 1, "no stop landed while data was in flight"
    assert usage_total(pipeline) == total
    assert usage_by_consumer(pipeline) == expected
    for table in ("usage_hour", "usage_day"):
        assert usage_by_consumer(pipeline, table) == expected, table
    ids = pipeline.query("SELECT count() AS n, uniqExact(event_id) AS ids FROM access_events FINAL")
    assert ids["n"][0] == ids["ids"][0] == total == raw_events(pipeline)
    assert dead_letter_count(pipeline) == 0
    assert worker.poll() is None
    assert exit_codes == [0] * STOPS, exit_codes  # SIGTERM is a clean stop
    assert "Traceback" not in full_worker_log(pipeline), pipeline.worker_log()
    print(f"{STOPS} stops, {in_flight_stops} with data in flight, exit codes {exit_codes}")
