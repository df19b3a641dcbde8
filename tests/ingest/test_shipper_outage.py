"""Broker unavailable at ingest: the shipper buffers to disk within a bound, pauses reading
when the bound is hit, and delivers everything exactly once when the broker is back."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiokafka import AIOKafkaConsumer

from apim import processes
from apim.broker import EmbeddedBroker
from apim.kafka import bootstrap_servers, ensure_topics
from ingest.files import ingest_file
from ingest.spool import Spool

pytestmark = pytest.mark.e2e
LINES = 3000
SPOOL_BOUND = 64 * 1024


async def _lines_in(url: str, topic: str, expected: int) -> list[int]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers(url), auto_offset_reset="earliest"
    )
    await consumer.start()
    numbers: list[int] = []
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while len(numbers) < expected and asyncio.get_running_loop().time() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for m in messages:
                    first = int(dict(m.headers)["line"])
                    numbers += range(first, first + m.value.count(b"\n") + 1)
    finally:
        await consumer.stop()
    return numbers


def test_outage_is_buffered_within_the_bound_and_delivered_exactly_once(tmp_path, caplog):
    port = processes.free_port()
    log_file = tmp_path / "access.log"
    log_file.write_text(
        "".join(
            f'192.0.2.1 - - [01/Jan/2026:00:00:00 +0000] "GET /r/{i} HTTP/1.1" 200 5 "-" "-"\n'
            for i in range(LINES)
        )
    )
    spool = Spool(tmp_path / "spool", SPOOL_BOUND)

    async def scenario() -> None:
        broker = EmbeddedBroker(tmp_path / "broker.log", port=port)
        url = broker.url
        shipping = asyncio.create_task(
            ingest_file(str(log_file), "nginx", url, "raw", "dlq", spool=spool, show_progress=False)
        )
        await asyncio.sleep(8)  # no broker at all yet: the spool fills, then reading pauses
        assert not shipping.done()
        assert spool.full and spool.size < SPOOL_BOUND + 80 * 1024  # bound plus one message
        assert any(
            "spool" in r.getMessage() and "full" in r.getMessage() for r in caplog.records
        ) or any("full" in str(r.msg) for r in caplog.records)
        broker.start()
        try:
            await ensure_topics(url, ["raw", "dlq"], 2)
            result = await asyncio.wait_for(shipping, timeout=120)
            assert result.sent == LINES and result.rejected == 0
            assert len(spool) == 0
            numbers = await _lines_in(url, "raw", LINES)
        finally:
            broker.stop()
        assert sorted(numbers) == list(range(1, LINES + 1))  # every line once, none twice

    with caplog.at_level(logging.ERROR):
        asyncio.run(scenario())
