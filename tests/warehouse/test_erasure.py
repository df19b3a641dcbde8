"""Right to erasure on a real chDB warehouse: every row of one consumer, under each of its
names, goes from every table; nothing of anybody else does."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from processors.parsers import CredentialHasher
from processors.pipeline import BatchProcessor, RawMessage
from processors.sink import WarehouseSink
from warehouse.erasure import erase_consumer
from warehouse.registry_store import load_registry, save_registry

TABLES = ("access_events", "usage_minute", "usage_hour", "usage_day")


HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
"""Within the raw TTL, a whole hour ago: minute i of the hour."""


def kong(consumer: str, i: int) -> bytes:
    started = int((HOUR + timedelta(minutes=i)).timestamp() * 1000)
    return json.dumps(
        {
            "request": {"method": "GET", "uri": f"/v1/items/{i}"},
            "response": {"status": 200, "size": 100},
            "consumer": {"username": consumer},
            "started_at": started,
        }
    ).encode()


def fill(wh) -> None:
    """acme 5 calls, acme-billing 3, unknown:0123456789ab 2, and three dead letters: one
    naming acme, one acme-billing, one nobody."""
    lines = [kong("acme", i) for i in range(5)] + [kong("acme-billing", i) for i in range(3)]
    lines += [kong("unknown:0123456789ab", i) for i in range(2)]
    lines += [b'{"consumer": {"username": "acme"}, "broken', b'"acme-billing" broken', b"junk"]
    processor = BatchProcessor(WarehouseSink(wh), CredentialHasher(b"k"))
    headers = {"format": b"kong", "source": b"kong.log"}
    processor.process([RawMessage("raw", 0, 7, b"\n".join(lines), headers)])


def counts(wh) -> dict[str, dict[str, int]]:
    found = {}
    for table in TABLES:
        sql = f"SELECT consumer, count() AS n FROM {table} FINAL GROUP BY consumer"
        found[table] = {r["consumer"]: r["n"] for r in wh.query_df(sql).to_dicts()}
    return found


def test_erasure_removes_every_name_of_one_consumer_and_nothing_else(wh):
    fill(wh)
    before = counts(wh)
    assert before["access_events"] == {"acme": 5, "acme-billing": 3, "unknown:0123456789ab": 2}
    save_registry(wh, [("consumer", "acme", '{"id": "acme"}'), ("plan", "pro", '{"id": "pro"}')])

    deleted = erase_consumer(wh, ["acme", "unknown:0123456789ab"], [("consumer", "acme")])

    assert deleted == {
        "access_events": 7,
        "usage_minute": 7,  # one row per minute, 5 + 2
        "usage_hour": 2,
        "usage_day": 2,
        "dead_letters": 1,
        "registry": 1,
    }
    after = counts(wh)
    for table in TABLES:
        assert after[table] == {"acme-billing": before[table]["acme-billing"]}, table
    letters = wh.query_df("SELECT record FROM dead_letters FINAL ORDER BY record")["record"]
    assert letters.to_list() == ['"acme-billing" broken', "junk"]
    assert load_registry(wh) == [("plan", "pro", '{"id": "pro"}')]


def test_erasing_an_unknown_name_deletes_nothing(wh):
    fill(wh)
    before = counts(wh)
    assert set(erase_consumer(wh, ["nobody"]).values()) == {0}
    assert counts(wh) == before
