"""Where the worker's results go: the warehouse, in one batch per Kafka batch.

`WarehouseSink` writes raw events, dead letters, changed usage cells and source progress,
and loads stored cells back when a source partition is (re)assigned. Every write is
idempotent (rows keyed by source position, cells versioned by source offset), so a batch
written twice after a crash leaves the same result as written once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pyarrow as pa
from msgspec.structs import astuple

from apim.event import EVENT_FIELDS, AccessEvent
from processors.aggregate import COUNTERS, GRANULARITIES, KEY_COLUMNS, CellRow
from processors.normalize import endpoint_of
from warehouse import Warehouse

_INT_COUNTERS = {c for c in COUNTERS if not c.endswith("_ms")}
_HIST_TYPE = pa.map_(pa.int16(), pa.uint64())
_EVENT_TYPES = {
    "event_time": pa.timestamp("ms", tz="UTC"),
    "status": pa.uint16(),
    "latency_ms": pa.float64(),
    "upstream_latency_ms": pa.float64(),
    "gateway_latency_ms": pa.float64(),
    "bytes_in": pa.uint64(),
    "bytes_out": pa.uint64(),
    "headers": pa.map_(pa.string(), pa.string()),
}


@dataclass(frozen=True, slots=True)
class DeadLetter:
    src: str
    src_offset: int
    record_index: int
    source: str
    format: str
    reason: str
    record: str


@dataclass
class SinkBatch:
    events: list[tuple[str, AccessEvent]] = field(default_factory=list)
    """(event_id, event)."""
    dead_letters: list[DeadLetter] = field(default_factory=list)
    cells: list[CellRow] = field(default_factory=list)
    progress: dict[str, int] = field(default_factory=dict)
    """Highest offset made durable, per source partition."""


class WarehouseSink:
    def __init__(self, wh: Warehouse) -> None:
        self.wh = wh

    def write(self, batch: SinkBatch) -> None:
        self.wh.insert_arrow("access_events", _events_table(batch.events))
        self.wh.insert_arrow("dead_letters", dead_letters_table(batch.dead_letters))
        by_granularity: dict[str, list[CellRow]] = defaultdict(list)
        for row in batch.cells:
            by_granularity[row.granularity].append(row)
        # coarsest first: whoever sees a batch in usage_minute sees it in every rollup
        for granularity in sorted(by_granularity, key=GRANULARITIES.__getitem__, reverse=True):
            self.wh.insert_arrow(f"usage_{granularity}", _cells_table(by_granularity[granularity]))
        if batch.progress:
            self.wh.insert_arrow(
                "pipeline_progress",
                pa.table(
                    {
                        "src": list(batch.progress),
                        "src_offset": pa.array(list(batch.progress.values()), pa.uint64()),
                    }
                ),
            )

    def load_cells(self, src: str, granularity: str, windows: set[int]) -> list[CellRow]:
        frame = self.wh.query_df(
            "SELECT toUnixTimestamp(window_start) AS window_start, "
            f"{', '.join(KEY_COLUMNS[1:])}, src_offset, {', '.join(COUNTERS)}, "
            f"CAST(latency_hist, 'Array(Tuple(Int16, UInt64))') AS hist "
            f"FROM usage_{granularity} FINAL "
            "WHERE src = {src:String} AND toUnixTimestamp(window_start) IN {windows:Array(UInt32)}",
            {"src": src, "windows": sorted(windows)},
        )
        rows = []
        for r in frame.iter_rows(named=True):
            key = tuple(r[c] for c in KEY_COLUMNS)
            counts = tuple(r[c] for c in COUNTERS)
            hist = dict(_pairs(r["hist"]))
            rows.append(CellRow(src, granularity, key, int(r["src_offset"]), counts, hist))
        return rows


def _pairs(tuples: list) -> list[tuple[int, int]]:
    """Arrow tuples arrive as dicts of their fields; the order is bucket, count."""
    return [tuple(int(v) for v in (t.values() if isinstance(t, dict) else t)) for t in tuples]


def _events_table(events: list[tuple[str, AccessEvent]]) -> pa.Table:
    columns: dict[str, list | tuple] = {"event_id": [e[0] for e in events]}
    values = zip(*(astuple(e[1]) for e in events), strict=True) if events else ()
    columns.update(zip(EVENT_FIELDS, values or ([] for _ in EVENT_FIELDS), strict=True))
    columns["endpoint"] = [
        endpoint or endpoint_of(path)
        for endpoint, path in zip(columns["endpoint"], columns["path"], strict=True)
    ]
    columns["headers"] = [list(headers.items()) for headers in columns["headers"]]
    return pa.table(
        {
            name: pa.array(values, _EVENT_TYPES.get(name, pa.string()))
            for name, values in columns.items()
        }
    )


def dead_letters_table(letters: list[DeadLetter]) -> pa.Table:
    """The `dead_letters` rows of `letters`; `received_at` is left to the table's default."""
    return pa.table(
        {
            "src": [d.src for d in letters],
            "src_offset": pa.array([d.src_offset for d in letters], pa.uint64()),
            "record_index": pa.array([d.record_index for d in letters], pa.uint32()),
            "source": [d.source for d in letters],
            "format": [d.format for d in letters],
            "reason": [d.reason for d in letters],
            "record": [d.record for d in letters],
        },
        schema=pa.schema(
            [
                ("src", pa.string()),
                ("src_offset", pa.uint64()),
                ("record_index", pa.uint32()),
                ("source", pa.string()),
                ("format", pa.string()),
                ("reason", pa.string()),
                ("record", pa.string()),
            ]
        ),
    )


def _cells_table(rows: list[CellRow]) -> pa.Table:
    keys = list(zip(*(r.key for r in rows), strict=True))
    columns: dict[str, pa.Array] = {
        "window_start": pa.array(keys[0], pa.int64()).cast(pa.timestamp("s", tz="UTC")),
    }
    for name, values in zip(KEY_COLUMNS[1:], keys[1:], strict=True):
        columns[name] = pa.array(values, pa.string())
    columns["src"] = pa.array([r.src for r in rows], pa.string())
    columns["src_offset"] = pa.array([r.version for r in rows], pa.uint64())
    counts = zip(*(r.counts for r in rows), strict=True)
    for name, values in zip(COUNTERS, counts, strict=True):
        # counters accumulate as Python numbers; the integer ones are whole by construction
        kind = pa.uint64() if name in _INT_COUNTERS else pa.float64()
        columns[name] = pa.array(values, pa.float64()).cast(kind)
    columns["latency_hist"] = _hist_array([r.hist for r in rows])
    return pa.table(columns)


def _hist_array(hists: list[dict[int, int]]) -> pa.MapArray:
    offsets, buckets, counts = [0], [], []
    for hist in hists:
        buckets.extend(hist)
        counts.extend(hist.values())
        offsets.append(len(buckets))
    return pa.MapArray.from_arrays(
        pa.array(offsets, pa.int32()), pa.array(buckets, pa.int16()), pa.array(counts, pa.uint64())
    )
