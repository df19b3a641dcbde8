"""The consumer registry's durable copy: one row per live entity, its JSON as the registry
topic carries it. Workers save every change they apply; `apim up` loads it to re-publish a
registry to the memory-only embedded broker after a restart."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pyarrow as pa

from warehouse.client import Warehouse

Entry = tuple[str, str, str | None]
"""(kind, id, entity JSON); None: the entity was deleted."""


def save_registry(wh: Warehouse, entries: Sequence[Entry]) -> None:
    """Store the entries in order: later versions win, deletions remove the rows."""
    upserts: list[tuple[str, str, str]] = []
    for kind, entity_id, entity in entries:
        if entity is not None:
            upserts.append((kind, entity_id, entity))
            continue
        _insert(wh, upserts)
        upserts = []
        wh.command(
            "ALTER TABLE registry DELETE WHERE kind = {kind:String} AND id = {id:String}"
            " SETTINGS mutations_sync = 2",
            {"kind": kind, "id": entity_id},
        )
    _insert(wh, upserts)


def _insert(wh: Warehouse, upserts: list[tuple[str, str, str]]) -> None:
    if not upserts:
        return
    kinds, ids, entities = zip(*upserts, strict=True)
    first = time.time_ns()
    versions = pa.array(range(first, first + len(upserts)), pa.uint64())
    table = {"kind": kinds, "id": ids, "entity": entities, "version": versions}
    wh.insert_arrow("registry", pa.table(table))


def load_registry(wh: Warehouse) -> list[tuple[str, str, str]]:
    """Every live entity: (kind, id, entity JSON)."""
    frame = wh.query_df("SELECT kind, id, entity FROM registry FINAL ORDER BY kind, id")
    return [(r["kind"], r["id"], r["entity"]) for r in frame.iter_rows(named=True)]
