"""`BatchProcessor` and the registry on a real chDB warehouse: registry changes are saved and
applied between batches, an erasure marker makes the worker forget a consumer's cells, and
an enrichment failure costs one record, not the batch."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from processors.parsers import CredentialHasher
from processors.pipeline import BatchProcessor, RawMessage
from processors.registry.model import Consumer, change_of, deletion, encode_change
from processors.registry.topic import Erasure
from processors.sink import WarehouseSink
from warehouse.erasure import erase_consumer
from warehouse.registry_store import load_registry

HASH = CredentialHasher(b"pipeline-test")
MINUTE = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)


def message(offset: int, *consumers: str) -> RawMessage:
    lines = [
        json.dumps(
            {
                "request": {"method": "GET", "uri": "/v1/items/1"},
                "response": {"status": 200},
                "consumer": {"username": c},
                "started_at": int(MINUTE.timestamp() * 1000),
            }
        ).encode()
        for c in consumers
    ]
    return RawMessage("raw", 0, offset, b"\n".join(lines), {"format": b"kong", "source": b"k"})


def requests(wh, consumer: str) -> int:
    frame = wh.query_df(
        "SELECT sum(requests) AS n FROM usage_minute FINAL WHERE consumer = {c:String}",
        {"c": consumer},
    )
    return int(frame["n"][0] or 0)


def test_registry_changes_are_applied_and_saved(wh):
    processor = BatchProcessor(WarehouseSink(wh), HASH)
    acme = change_of(Consumer(id="acme-corp", name="Acme", aliases=["acme"], plan_id="pro"))
    processor.apply_registry([acme])
    processor.process([message(1, "acme", "globex")])
    assert requests(wh, "acme-corp") == 1 and requests(wh, "globex") == 1
    plans = wh.query_df("SELECT plan, sum(requests) AS n FROM usage_day FINAL GROUP BY plan")
    assert dict(zip(plans["plan"], plans["n"], strict=True)) == {"pro": 1, "": 1}
    assert load_registry(wh) == [("consumer", "acme-corp", encode_change(acme).decode())]

    processor.apply_registry([deletion("consumer", "acme-corp")])
    processor.process([message(2, "acme")])
    assert requests(wh, "acme") == 1 and load_registry(wh) == []


def test_an_erasure_marker_makes_the_worker_forget_the_consumer(wh):
    processor = BatchProcessor(WarehouseSink(wh), HASH)
    processor.process([message(1, "acme", "acme", "acme", "globex")])
    assert requests(wh, "acme") == 3
    erase_consumer(wh, ["acme"])
    processor.apply_registry([Erasure(HASH("acme"))])
    processor.process([message(2, "acme", "acme", "globex")])
    assert requests(wh, "acme") == 2  # counted anew, not 3 + 2
    assert requests(wh, "globex") == 2


def test_an_enrichment_failure_dead_letters_the_record_only(wh):
    processor = BatchProcessor(WarehouseSink(wh), HASH)

    def broken(event):
        if event.consumer == "bad":
            raise RuntimeError("boom")
        return event

    processor.enricher.enrich = broken
    outcome = processor.process([message(1, "good", "bad", "good")])
    assert outcome.events == 2
    assert [d.reason for d in outcome.dead_letters] == ["enrichment error: RuntimeError: boom"]
