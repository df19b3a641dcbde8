"""The replay rules of the aggregator, without Kafka or a warehouse."""

from __future__ import annotations

from datetime import UTC, datetime

from apim.event import AccessEvent
from processors.aggregate import COUNTERS, KEY_COLUMNS, UsageAggregator

T0 = datetime(2026, 3, 2, 10, 15, 30, tzinfo=UTC)


def event(consumer: str = "acme", status: int = 200, latency: float | None = 12.0) -> AccessEvent:
    return AccessEvent(
        event_time=T0, gateway="kong", method="GET", path="/orders/42", status=status,
        latency_ms=latency, bytes_out=100, consumer=consumer,
    )  # fmt: skip


def fresh(agg: UsageAggregator, src: str, events: list[AccessEvent]) -> None:
    for granularity, windows in agg.missing_windows(src, events).items():
        agg.load(src, granularity, windows, [])


def requests(rows) -> dict:
    return {
        (r.granularity, r.key[KEY_COLUMNS.index("consumer")]): r.counts[COUNTERS.index("requests")]
        for r in rows
    }


def test_counts_status_classes_bytes_and_histogram_per_granularity():
    agg = UsageAggregator()
    events = [event(), event(status=503), event(status=404, latency=None)]
    fresh(agg, "raw/0", events)
    assert agg.apply("raw/0", 7, events)
    rows = {r.granularity: r for r in agg.take_dirty("raw/0")}
    assert set(rows) == {"minute", "hour", "day"}
    minute = rows["minute"]
    counts = dict(zip(COUNTERS, minute.counts, strict=True))
    assert counts["requests"] == 3 and counts["status_2xx"] == 1
    assert counts["status_4xx"] == 1 and counts["status_5xx"] == 1
    assert counts["bytes_out"] == 300 and counts["latency_count"] == 2
    assert sum(minute.hist.values()) == 2
    assert minute.version == 7 and minute.key[0] == int(
        datetime(2026, 3, 2, 10, 15, tzinfo=UTC).timestamp()
    )
    assert minute.key[KEY_COLUMNS.index("endpoint")] == "/orders/{id}"


def test_a_message_delivered_twice_in_one_process_counts_once():
    agg = UsageAggregator()
    fresh(agg, "raw/0", [event()])
    assert agg.apply("raw/0", 5, [event()])
    assert not agg.apply("raw/0", 5, [event()])
    assert not agg.apply("raw/0", 4, [event()])
    assert requests(agg.take_dirty("raw/0"))[("minute", "acme")] == 1


def test_after_a_restart_cells_skip_events_at_or_below_their_stored_version():
    first = UsageAggregator()
    fresh(first, "raw/1", [event()])
    first.apply("raw/1", 10, [event()])
    first.apply("raw/1", 11, [event(), event("globex")])
    stored = list(first.take_dirty("raw/1"))

    # A new process replays from offset 10: acme is stored at 11, globex at 11 too.
    second = UsageAggregator()
    for granularity, windows in second.missing_windows("raw/1", [event()]).items():
        second.load(
            "raw/1", granularity, windows, [r for r in stored if r.granularity == granularity]
        )
    second.apply("raw/1", 10, [event()])
    second.apply("raw/1", 11, [event(), event("globex")])
    second.apply("raw/1", 12, [event("globex")])
    after = requests(second.take_dirty("raw/1"))
    assert after == {("minute", "globex"): 2, ("hour", "globex"): 2, ("day", "globex"): 2}
    # acme got no new events: its stored row (offsets 10 and 11) stays the truth.
    assert requests(stored)[("minute", "acme")] == 2


def test_sources_are_independent_and_drop_forgets_one():
    agg = UsageAggregator()
    for src in ("raw/0", "raw/1"):
        fresh(agg, src, [event()])
        agg.apply(src, 1, [event()])
    agg.drop("raw/0")
    assert agg.sources() == ["raw/1"]
    assert agg.missing_windows("raw/0", [event()])  # must be reloaded before use


def test_eviction_keeps_recent_windows_and_forgets_old_clean_ones():
    agg = UsageAggregator()
    old = event()
    late = AccessEvent(
        event_time=datetime(2026, 3, 5, 10, 0, tzinfo=UTC), gateway="kong", method="GET",
        path="/x", status=200, consumer="acme",
    )  # fmt: skip
    fresh(agg, "raw/0", [old])
    agg.apply("raw/0", 1, [old])
    fresh(agg, "raw/0", [late])
    agg.apply("raw/0", 2, [late])
    list(agg.take_dirty("raw/0"))
    agg.evict("raw/0")
    assert set(agg.missing_windows("raw/0", [old])) == {"minute", "hour", "day"}
    assert agg.missing_windows("raw/0", [late]) == {}
