"""The worker's /metrics, scraped from the outside while known traffic flows through it.

Real broker, real Faust worker process, real chDB: the worker publishes its URL in
`<data dir>/metrics/worker-<pid>.url`; the counts it reports must be exact.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from known_traffic import MALFORMED, Expected, as_messages, kong_lines
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.e2e
PARTITIONS = 4
Samples = dict[tuple[str, frozenset], float]


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def get(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def newest_second(lines: list[bytes]) -> int:
    """The newest event time (epoch s) of Kong lines: objects or arrays of objects."""
    newest = 0
    for line in lines:
        records = json.loads(line)
        for record in records if isinstance(records, list) else [records]:
            newest = max(newest, record["started_at"] // 1000)
    return newest


async def produce_to(url: str, topic: str, by_partition: dict[int, list]) -> None:
    from ingest.kafka import producer_for

    producer = producer_for(url)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, partition=p, headers=list(headers.items()))
            for p, messages in by_partition.items()
            for value, headers in messages
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def test_worker_metrics_are_exact(pipeline):
    now = datetime.now(UTC).replace(microsecond=0)
    expected = Expected()
    by_partition: dict[int, list] = {}
    newest: dict[int, int] = {}
    for p in range(PARTITIONS):  # partition p runs 3·p minutes behind: the last one decides
        lines = kong_lines(150, seed=20 + p, now=now - timedelta(minutes=3 * p), expected=expected)
        newest[p] = newest_second(lines)
        by_partition[p] = as_messages(lines, "kong", f"kong-{p}.log", per_message=20)
    by_partition[0] += as_messages(MALFORMED[:3], "kong", "bad-kong.log", per_message=1)
    by_partition[1] += as_messages(MALFORMED[4:], "nginx", "bad-nginx.log", per_message=1)
    by_partition[2].append((b'{"no": "format header"}', {}))
    bad = {"kong": 3, "nginx": 2, "unknown": 1}
    messages = sum(len(m) for m in by_partition.values())
    minute = min(newest.values()) - 60
    last_complete = minute - minute % 60

    worker = pipeline.start_worker()
    url_file = pipeline.data_dir / "metrics" / f"worker-{worker.pid}.url"
    pipeline.wait_until(url_file.exists, timeout_s=60, what=f"{url_file}")
    url = url_file.read_text().strip()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics")
    asyncio.run(produce_to(pipeline.broker.url, pipeline.raw_topic, by_partition))

    samples: Samples = {}

    def counted() -> bool:
        nonlocal samples
        samples = scrape(url)
        letters = sum(get(samples, "apim_dead_letters_total", format=f) or 0 for f in bad)
        sunk = get(samples, "apim_events_sent_total", stage="sink")
        read = (get(samples, "apim_messages_received_total") or 0) - (
            get(samples, "apim_messages_skipped_total") or 0
        )
        # the worker also reads its own dead letters back from the dead-letter topic
        return (
            sunk == expected.total and letters == sum(bad.values()) and read == messages + letters
        )

    pipeline.wait_until(counted, what=f"{expected.total} events and {sum(bad.values())} letters")

    total, letters = expected.total, sum(bad.values())
    assert get(samples, "apim_events_received_total", stage="parse") == total + letters
    assert get(samples, "apim_events_sent_total", stage="parse") == total
    assert get(samples, "apim_events_errors_total", stage="parse", reason="malformed") == 5
    assert get(samples, "apim_events_errors_total", stage="parse", reason="unknown_format") == 1
    for stage in ("aggregate", "sink"):
        assert get(samples, "apim_events_received_total", stage=stage) == total
        assert get(samples, "apim_events_sent_total", stage=stage) == total
    for fmt, n in bad.items():
        assert get(samples, "apim_dead_letters_total", format=fmt) == n
    assert get(samples, "apim_events_errors_total", stage="sink", reason="batch_failed") == 0
    assert get(samples, "apim_batches_retried_total") == 0
    received = get(samples, "apim_messages_received_total")
    skipped = get(samples, "apim_messages_skipped_total")  # re-deliveries after a rebalance
    assert received - skipped == messages + letters
    assert get(samples, "apim_sink_batch_seconds_count") > 0
    assert get(samples, "apim_sink_batch_seconds_sum") > 0
    assert get(samples, "apim_last_complete_minute_seconds") == last_complete
    assert now.timestamp() - 20 * 60 < last_complete < now.timestamp()

    def caught_up() -> bool:
        nonlocal samples
        samples = scrape(url)
        lags = [
            get(samples, "apim_consumer_lag", topic=pipeline.raw_topic, partition=str(p))
            for p in range(PARTITIONS)
        ]
        return lags == [0] * PARTITIONS

    pipeline.wait_until(caught_up, timeout_s=60, what="consumer lag 0 on every partition")

    pipeline.stop_workers()
    assert worker.poll() is not None
    assert not url_file.exists(), "a clean exit removes the URL file"
