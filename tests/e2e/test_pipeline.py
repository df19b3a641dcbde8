"""End to end: known Kong and NGINX lines through the real broker, Faust worker and chDB."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from known_traffic import (
    MALFORMED,
    Expected,
    as_messages,
    exact_quantile,
    kong_lines,
    nginx_lines,
)

from warehouse.queries import UsageQuery

pytestmark = pytest.mark.e2e
QUANTILE_BOUND = 0.02


async def _read_topic(url: str, topic: str, expected: int, timeout_s: float = 30) -> list[dict]:
    from aiokafka import AIOKafkaConsumer

    from apim.kafka import bootstrap_servers

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers(url), auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    values: list[dict] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(values) < expected and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            values += [json.loads(m.value) for msgs in batch.values() for m in msgs]
    finally:
        await consumer.stop()
    return values


def test_known_traffic_is_counted_exactly(pipeline):
    now = datetime.now(UTC).replace(microsecond=0)
    expected = Expected()
    kong = kong_lines(600, seed=1, now=now, expected=expected)
    nginx = nginx_lines(300, seed=2, now=now, expected=expected)
    mixed_valid = kong_lines(2, seed=3, now=now, expected=expected)

    messages = (
        as_messages(kong, "kong", "kong.log", per_message=25)
        + as_messages(nginx, "nginx", "access.log", per_message=1)
        + as_messages(MALFORMED[:4], "kong", "bad-kong.log", per_message=1)
        + as_messages(MALFORMED[4:], "nginx", "bad-nginx.log", per_message=1)
        + as_messages(
            [mixed_valid[0], b"garbage between good lines", mixed_valid[1]], "kong", "mixed.log", 3
        )
        + [(b'{"no": "format header"}', {})]
    )
    bad_sources = {
        "bad-kong.log:1",
        "bad-kong.log:2",
        "bad-kong.log:3",
        "bad-kong.log:4",
        "bad-nginx.log:1",
        "bad-nginx.log:2",
        "mixed.log:2",
    }

    pipeline.start_worker()
    pipeline.produce(messages)

    def counted() -> bool:
        totals = pipeline.query("SELECT sum(requests) AS n FROM usage_minute FINAL")
        letters = pipeline.query("SELECT count() AS n FROM dead_letters FINAL")
        return totals["n"][0] == expected.total and letters["n"][0] >= len(bad_sources) + 1

    pipeline.wait_until(counted, what=f"{expected.total} events counted")

    by_consumer = {
        r["consumer"]: r for r in UsageQuery(by=("consumer",)).run(pipeline.wh).to_dicts()
    }
    assert {c: r["requests"] for c, r in by_consumer.items()} == dict(expected.by_consumer)
    for consumer, classes in expected.status_classes.items():
        for column in ("status_2xx", "status_3xx", "status_4xx", "status_5xx"):
            assert by_consumer[consumer][column] == classes[column], (consumer, column)
        assert by_consumer[consumer]["bytes_out"] == expected.bytes_out[consumer]

    by_endpoint = {
        r["endpoint"]: r for r in UsageQuery(by=("endpoint",)).run(pipeline.wh).to_dicts()
    }
    assert {e: r["requests"] for e, r in by_endpoint.items()} == dict(expected.by_endpoint)
    pairs = UsageQuery(by=("consumer", "endpoint")).run(pipeline.wh)
    assert {(r["consumer"], r["endpoint"]): r["requests"] for r in pairs.to_dicts()} == dict(
        expected.by_consumer_endpoint
    )

    for endpoint, latencies in expected.latencies.items():
        for q, column in (
            (0.5, "latency_p50_ms"),
            (0.95, "latency_p95_ms"),
            (0.99, "latency_p99_ms"),
        ):
            true = exact_quantile(latencies, q)
            got = by_endpoint[endpoint][column]
            assert abs(got - true) <= QUANTILE_BOUND * true, (endpoint, q, got, true)
    for endpoint in {e for e in expected.by_endpoint if e not in expected.latencies}:
        assert by_endpoint[endpoint]["latency_p50_ms"] is None  # NGINX combined logs no latency

    raw = pipeline.query("SELECT count() AS n, uniqExact(event_id) AS ids FROM access_events FINAL")
    assert raw["n"][0] == raw["ids"][0] == expected.total

    letters = pipeline.query("SELECT source, reason FROM dead_letters FINAL")
    no_header = {s for s in letters["source"] if "@" in s}  # "<topic>/<partition>@<offset>:1"
    assert len(no_header) == 1
    assert set(letters["source"]) - no_header == bad_sources
    assert all(reason for reason in letters["reason"])
    dlq = asyncio.run(_read_topic(pipeline.broker.url, pipeline.dlq_topic, len(letters)))
    assert {d["source"] for d in dlq} == set(letters["source"])
    assert any(d["reason"] == "message has no 'format' header" for d in dlq)


def test_no_clear_credential_is_stored(pipeline):
    now = datetime.now(UTC)
    expected = Expected()
    lines = kong_lines(50, seed=9, now=now, expected=expected)
    pipeline.start_worker()
    pipeline.produce(as_messages(lines, "kong", "kong.log", per_message=10))
    pipeline.wait_until(
        lambda: pipeline.query("SELECT sum(requests) AS n FROM usage_minute FINAL")["n"][0] == 50,
        what="50 events",
    )
    dump = pipeline.query("SELECT * FROM access_events FINAL").write_ndjson()
    assert "credential-of-" not in dump
    hashes = set(pipeline.query("SELECT DISTINCT credential_hash AS h FROM access_events")["h"])
    assert len(hashes) == len({c for c in expected.by_consumer}) and all(
        len(h) == 32 for h in hashes
    )
