"""Exact, replay-safe usage aggregation: cumulative cells per window × key, per source partition.

Each source partition (`src`, "topic/partition") owns its cells, so one worker at a time
updates them and they are written as whole cumulative rows versioned by the last source
offset applied. Replays after a crash are skipped per cell: a cell loaded from the
warehouse at version v ignores every event at offset ≤ v. Together with the warehouse's
replacing tables (highest version wins) every valid event is counted exactly once,
without Kafka transactions.

This module is pure: loading and writing cells is the sink's job (`processors.sink`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from apim.event import AccessEvent
from apim.histogram import bucket_of
from processors.normalize import endpoint_of
from warehouse.schema import USAGE_COUNTERS, USAGE_DIMENSIONS

GRANULARITIES: dict[str, int] = {"minute": 60, "hour": 3600, "day": 86400}
HORIZON_S: dict[str, int] = {"minute": 20 * 60, "hour": 3 * 3600, "day": 2 * 86400}
"""How long past a source's newest event a window stays in memory; later events reload it."""

COUNTERS = USAGE_COUNTERS
KEY_COLUMNS = ("window_start", *USAGE_DIMENSIONS)
_UNMATCHED = COUNTERS.index("spec_unmatched")
_CONSUMER = KEY_COLUMNS.index("consumer")

Key = tuple
"""window start (epoch s), then the event's `USAGE_DIMENSIONS` (endpoint: its template)."""


@dataclass(slots=True)
class Cell:
    """Cumulative usage of one key in one window, as fed by one source partition."""

    base_version: int
    """Version it had when loaded (-1: new); events at or below it are already counted."""
    version: int
    counts: list[float] = field(default_factory=lambda: [0] * len(COUNTERS))
    hist: dict[int, int] = field(default_factory=dict)
    dirty: bool = False

    def add(self, event: AccessEvent, offset: int) -> None:
        c = self.counts
        c[0] += 1
        status_class = event.status // 100
        if 1 <= status_class <= 5:
            c[status_class] += 1
        c[6] += event.bytes_in or 0
        c[7] += event.bytes_out or 0
        if event.latency_ms is not None:
            c[8] += 1
            c[9] += event.latency_ms
            bucket = bucket_of(event.latency_ms)
            self.hist[bucket] = self.hist.get(bucket, 0) + 1
        if event.upstream_latency_ms is not None:
            c[10] += 1
            c[11] += event.upstream_latency_ms
        if event.gateway_latency_ms is not None:
            c[12] += 1
            c[13] += event.gateway_latency_ms
        if event.spec == "unmatched":
            c[_UNMATCHED] += 1
        self.version = offset
        self.dirty = True


@dataclass(frozen=True, slots=True)
class CellRow:
    """A cell as stored: the warehouse row of `usage_<granularity>`."""

    src: str
    granularity: str
    key: Key
    version: int
    counts: tuple[float, ...]
    hist: dict[int, int]


@dataclass
class SourceState:
    cells: dict[str, dict[Key, Cell]] = field(
        default_factory=lambda: {g: {} for g in GRANULARITIES}
    )
    loaded: set[tuple[str, int]] = field(default_factory=set)
    """(granularity, window start) pairs whose stored cells are in memory."""
    high_water: int = -1
    """Highest offset applied by this process: a message at or below it is a re-delivery."""
    watermark: int = 0
    """Newest event time seen (epoch s), for eviction."""


def _dimensions(e: AccessEvent) -> tuple[str, ...]:
    """The event's `USAGE_DIMENSIONS`; an event the enrichment did not template (a test, a
    bench) gets the folded path."""
    endpoint = e.endpoint or endpoint_of(e.path)
    return (
        e.api,
        e.api_version,
        e.method,
        endpoint,
        e.consumer,
        e.application,
        e.organisation,
        e.plan,
        e.country,
        e.client_family,
    )


def window_of(epoch_s: int, granularity: str) -> int:
    return epoch_s - epoch_s % GRANULARITIES[granularity]


class UsageAggregator:
    """Cells of every source partition this worker owns."""

    def __init__(self) -> None:
        self._sources: dict[str, SourceState] = {}

    def missing_windows(self, src: str, events: Iterable[AccessEvent]) -> dict[str, set[int]]:
        """Windows these events touch whose stored cells are not loaded yet."""
        state = self._state(src)
        missing: dict[str, set[int]] = {g: set() for g in GRANULARITIES}
        seen_seconds: set[int] = set()
        for event in events:
            second = int(event.event_time.timestamp())
            if second in seen_seconds:
                continue
            seen_seconds.add(second)
            for g in GRANULARITIES:
                window = window_of(second, g)
                if (g, window) not in state.loaded:
                    missing[g].add(window)
        return {g: w for g, w in missing.items() if w}

    def load(
        self, src: str, granularity: str, windows: Iterable[int], rows: Iterable[CellRow]
    ) -> None:
        """Install stored cells for `windows` (rows may be empty: a new window)."""
        state = self._state(src)
        cells = state.cells[granularity]
        for row in rows:  # a cell already in memory is newer than the stored row
            cells.setdefault(
                row.key, Cell(row.version, row.version, list(row.counts), dict(row.hist))
            )
        state.loaded.update((granularity, w) for w in windows)

    def apply(self, src: str, offset: int, events: Iterable[AccessEvent]) -> bool:
        """Count the events of the message at `offset`; False if it was applied already."""
        state = self._state(src)
        if offset <= state.high_water:
            return False
        state.high_water = offset
        for event in events:
            second = int(event.event_time.timestamp())
            state.watermark = max(state.watermark, second)
            dimensions = _dimensions(event)
            for g, cells in state.cells.items():
                key = (window_of(second, g), *dimensions)
                cell = cells.get(key)
                if cell is None:
                    cell = cells[key] = Cell(-1, -1)
                if offset > cell.base_version:
                    cell.add(event, offset)
        return True

    def take_dirty(self, src: str) -> Iterator[CellRow]:
        """The cells changed since the last call, as rows; they count as written after this."""
        for g, cells in self._state(src).cells.items():
            for key, cell in cells.items():
                if cell.dirty:
                    cell.dirty = False
                    yield CellRow(src, g, key, cell.version, tuple(cell.counts), dict(cell.hist))

    def evict(self, src: str) -> None:
        """Forget clean windows far behind the newest event (they are in the warehouse)."""
        state = self._state(src)
        for g, cells in state.cells.items():
            horizon = window_of(state.watermark - HORIZON_S[g], g)
            old = {w for (gg, w) in state.loaded if gg == g and w < horizon}
            if not old:
                continue
            for key in [k for k, c in cells.items() if k[0] in old and not c.dirty]:
                del cells[key]
            state.loaded -= {(g, w) for w in old}

    def forget_consumer(self, matches: Callable[[str], bool]) -> int:
        """Forget every cell of the consumers `matches` accepts (their rows were erased);
        their windows stay loaded, so new events of theirs count from zero. Returns the
        cells forgotten."""
        forgotten = 0
        for state in self._sources.values():
            for cells in state.cells.values():
                gone = [k for k in cells if matches(k[_CONSUMER])]
                for key in gone:
                    del cells[key]
                forgotten += len(gone)
        return forgotten

    def drop(self, src: str) -> None:
        """Forget a source partition entirely (revoked: another worker owns it now)."""
        self._sources.pop(src, None)

    def sources(self) -> list[str]:
        return list(self._sources)

    def watermarks(self) -> list[int]:
        """Newest event time seen (epoch s) per owned source partition; 0: none yet."""
        return [state.watermark for state in list(self._sources.values())]

    def _state(self, src: str) -> SourceState:
        state = self._sources.get(src)
        if state is None:
            state = self._sources[src] = SourceState()
        return state
