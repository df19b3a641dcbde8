"""Poison input: 100,000 fuzzed Kong and NGINX lines through the real broker, worker and chDB.

About 40 % of the lines are bad in every way we could think of (truncated JSON, random
bytes, non-UTF-8, wrong types, 200 KB fields, arrays with bad elements, garbage NGINX
lines, empty and deeply nested JSON, numbers where objects belong, ...). What each line
must yield is decided by `poison_lines` when it builds the line, not by the parsers.
The worker must survive all of it, count every valid record exactly once and dead-letter
every bad record exactly once, with a reason, pointing at its line.
"""

from __future__ import annotations

import json
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
from poison_lines import KONG_KINDS, MAX_MESSAGE_BYTES, NGINX_KINDS, ValidStream, generate

from processors.pipeline import MAX_RECORD_TEXT

pytestmark = pytest.mark.e2e
LINES = 100_000
SEED = 20_240_610
POISON_CONSUMER = "poison-numbers"


def test_worker_survives_100k_fuzzed_lines_and_accounts_for_each(pipeline):
    traffic = generate(LINES, seed=SEED, now=datetime.now(UTC))
    expected = traffic.expected
    assert expected.lines == LINES
    assert 0.3 * LINES < expected.bad_lines < 0.5 * LINES  # a real mix, both ways
    assert max(len(value) for value, _ in traffic.messages) <= MAX_MESSAGE_BYTES
    sizes = Counter(value.count(b"\n") + 1 for value, _ in traffic.messages)
    assert set(sizes) == {1, 200}, sizes  # one line per message, or 200
    made = {kind for kind, n in expected.kinds.items() if n >= 10 or "huge" in kind}
    wanted = {f"kong:{k}" for k in KONG_KINDS} | {f"nginx:{k}" for k in NGINX_KINDS}
    wanted |= {f"{f}:huge-{v}" for f in ("kong", "nginx") for v in ("valid", "bad")}
    assert made == wanted, wanted - made  # every kind of line, more than a few times

    started = time.monotonic()
    worker = pipeline.start_worker()
    pipeline.produce(traffic.messages)
    produced_s = time.monotonic() - started

    def done() -> bool:
        return (
            usage_total(pipeline) >= expected.events
            and dead_letter_count(pipeline) >= expected.dead
        )

    wait_for(
        pipeline, done, timeout_s=240, what="every line accounted for", every_s=2, worker=worker
    )
    processed_s = time.monotonic() - started
    time.sleep(3)  # anything counted twice or dead-lettered late would show now

    assert_worker_healthy(pipeline, worker)

    assert usage_total(pipeline) == expected.events
    assert usage_by_consumer(pipeline) == expected.by_consumer
    assert raw_events(pipeline) == expected.events

    letters = pipeline.query(
        "SELECT source, reason, lengthUTF8(record) AS size FROM dead_letters FINAL"
    )
    assert len(letters) == expected.dead
    by_source = Counter(letters["source"].to_list())
    strays = set(by_source) - set(expected.dead_by_source)
    assert not strays, f"dead letters for lines that are not bad: {sorted(strays)[:20]}"
    assert not set(by_source) & expected.good_sources
    assert by_source == expected.dead_by_source  # one per bad record, none missing
    assert all(reason.strip() for reason in letters["reason"])
    assert max(letters["size"]) <= MAX_RECORD_TEXT  # 200 KB records are cut, not dropped
    print(
        f"{expected.events} events, {expected.dead} dead letters from {expected.bad_lines} bad "
        f"lines; produced in {produced_s:.1f} s, all accounted for after {processed_s:.1f} s"
    )


def _kong(now_ms: int, **changes) -> bytes:
    record = {
        "started_at": now_ms,
        "request": {"method": "GET", "uri": "/v1/huge"},
        "response": {"status": 200},
        "consumer": {"username": POISON_CONSUMER},
    }
    for path, value in changes.items():
        section, _, key = path.partition("__")
        record.setdefault(section, {})[key] = value
    return json.dumps(record).encode()


def _nginx(now: datetime, size: str = "10", ext: str = "") -> bytes:
    stamp = now.strftime("%d/%b/%Y:%H:%M:%S %z")
    return (
        f'203.0.113.5 - {POISON_CONSUMER} [{stamp}] "GET /v1/huge HTTP/1.1" 200 {size} '
        f'"-" "curl/8.5.0"{ext}'
    ).encode()


def test_out_of_range_numbers_cost_one_record_not_the_partition(pipeline):
    """Well-formed records with absurd numbers: each must be counted or dead-lettered (either
    is acceptable), and valid traffic behind them on every partition must still count."""
    now = datetime.now(UTC).replace(microsecond=0)
    ms = int(now.timestamp() * 1000)
    poison = [
        ("kong", _kong(ms, request__size=2**53 + 1)),
        ("kong", _kong(ms, response__size=2**64 - 1)),
        ("kong", _kong(ms, response__size=2**64)),
        ("kong", _kong(ms, response__size=10**30)),
        ("kong", _kong(ms, latencies__request=1e300)),
        ("nginx", _nginx(now, size="9" * 25)),
        ("nginx", _nginx(now, ext=" 1" + "0" * 400 + ".0")),  # request_time: inf seconds
    ]
    raw = RawTopic(pipeline)
    worker = pipeline.start_worker()
    for partition in range(4):
        raw.produce(
            [
                (line, {"format": fmt.encode(), "source": b"poison.log", "line": str(i).encode()})
                for i, (fmt, line) in enumerate(poison, 1)
            ],
            partition=partition,
        )
    stream, expected = ValidStream(seed=5, now=now), Counter()
    for partition in range(4):
        raw.produce(stream.next_messages(25, expected), partition=partition)
    valid = sum(expected.values())

    def valid_counted() -> bool:
        counts = usage_by_consumer(pipeline)
        return sum(n for c, n in counts.items() if c != POISON_CONSUMER) >= valid

    wait_for(pipeline, valid_counted, timeout_s=45, what=f"{valid} valid events", worker=worker)
    time.sleep(3)
    counts = usage_by_consumer(pipeline)
    poisoned = counts.pop(POISON_CONSUMER, 0)
    assert counts == expected
    letters = dead_letter_count(pipeline)
    assert poisoned + letters == 4 * len(poison)  # each one counted or dead-lettered, once
    assert raw_events(pipeline) == valid + poisoned
    assert_worker_healthy(pipeline, worker)
