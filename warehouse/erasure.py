"""Right to erasure: every row about one consumer, deleted on request.

A consumer may appear under several names (its registry id, its gateway aliases, and
`unknown:<hash prefix>` for calls made before the registry knew its credentials); the caller
resolves them. Raw events and the usage rollups are keyed by the name; dead letters are raw
text the pipeline could not parse, so those that contain one of the names as a whole word are
deleted too. The registry's entities are removed by their ids. Deletes are synchronous
mutations: when this returns, the rows are gone from every table.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from warehouse.client import Warehouse
from warehouse.schema import GRANULARITIES

_NAME_CHARS = "A-Za-z0-9_.@:-"
"""Characters a consumer name may continue with, so "acme" does not match "acme-billing"."""


def consumer_tables() -> list[tuple[str, str]]:
    """(table, condition) for each table holding rows of the names `{names:Array(String)}`."""
    by_name = "has({names:Array(String)}, consumer)"
    return [
        ("access_events", by_name),
        *((f"usage_{g}", by_name) for g in GRANULARITIES),
        # re2 `match`: multiMatchAny (vectorscan) found "acme" inside "acme-billing"
        ("dead_letters", "arrayExists(w -> match(record, w), {words:Array(String)})"),
    ]


def erase_consumer(
    wh: Warehouse, names: Sequence[str], registry_ids: Sequence[tuple[str, str]] = ()
) -> dict[str, int]:
    """Delete the rows of the consumer known by `names` everywhere, and the registry
    entities `(kind, id)`; returns the rows deleted per table."""
    words = [f"(^|[^{_NAME_CHARS}]){re.escape(n)}($|[^{_NAME_CHARS}])" for n in names]
    parameters = {"names": list(names), "words": words}
    deleted = {}
    for table, condition in consumer_tables():
        count = wh.query_df(f"SELECT count() AS n FROM {table} WHERE {condition}", parameters)
        deleted[table] = int(count["n"][0])
        if deleted[table]:
            wh.command(
                f"ALTER TABLE {table} DELETE WHERE {condition} SETTINGS mutations_sync = 2",
                parameters,
            )
    deleted["registry"] = 0
    for kind, entity_id in registry_ids:
        ids = {"kind": kind, "id": entity_id}
        where = "kind = {kind:String} AND id = {id:String}"
        deleted["registry"] += int(
            wh.query_df(f"SELECT count() AS n FROM registry WHERE {where}", ids)["n"][0]
        )
        wh.command(f"ALTER TABLE registry DELETE WHERE {where} SETTINGS mutations_sync = 2", ids)
    return deleted
