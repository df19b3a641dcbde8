"""ClickHouse schema and its migrations, applied idempotently at start-up.

Tables
    access_events          one row per event, de-duplicated by `event_id` (topic/partition/offset/index),
                           dropped after the raw TTL.
    usage_minute/hour/day  cumulative counts per window × `USAGE_DIMENSIONS`, one row per
                           source partition (`src`) that fed it, versioned by the last source offset
                           applied (`src_offset`). A replayed batch rewrites a row with the same or a
                           higher version, so ReplacingMergeTree keeps exactly one correct row: read
                           with FINAL and sum over `src`.
    dead_letters           every rejected record with its reason, de-duplicated by source position.
    pipeline_progress      last source offset made durable, per source partition.
    registry               the consumer registry's entities, latest version of each.
Migrations are append-only: never edit one that has shipped, add the next.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from warehouse.client import Warehouse

GRANULARITIES = ("minute", "hour", "day")
USAGE_DIMENSIONS = (
    "api",
    "api_version",
    "method",
    "endpoint",
    "consumer",
    "application",
    "organisation",
    "plan",
    "country",
    "client_family",
)
"""What usage is counted by, besides the window: api, method, endpoint and consumer since
the start, the others since migration 3."""
_INITIAL_COUNTERS = (
    "requests",
    "status_1xx",
    "status_2xx",
    "status_3xx",
    "status_4xx",
    "status_5xx",
    "bytes_in",
    "bytes_out",
    "latency_count",
    "latency_sum_ms",
    "upstream_count",
    "upstream_sum_ms",
    "gateway_count",
    "gateway_sum_ms",
)
USAGE_COUNTERS = (*_INITIAL_COUNTERS, "spec_unmatched")
"""The additive columns of the usage tables, in order (`*_ms` are Float64, the rest UInt64).
`spec_unmatched`: requests to an API with an OpenAPI document that matched none of its paths."""


_COUNTER_COLUMNS = ",\n        ".join(
    f"{c} {'Float64' if c.endswith('_ms') else 'UInt64'}" for c in _INITIAL_COUNTERS
)


def _usage_table(granularity: str) -> str:
    return f"""
    CREATE TABLE IF NOT EXISTS usage_{granularity} (
        window_start DateTime('UTC'),
        api LowCardinality(String),
        method LowCardinality(String),
        endpoint String,
        consumer String,
        src LowCardinality(String),
        src_offset UInt64,
        {_COUNTER_COLUMNS},
        latency_hist Map(Int16, UInt64)
    ) ENGINE = ReplacingMergeTree(src_offset)
    PARTITION BY toYYYYMM(window_start)
    ORDER BY (window_start, api, method, endpoint, consumer, src)
    """


_NEW_USAGE_COLUMNS = (
    "api_version LowCardinality(String)",
    "application String",
    "organisation String",
    "plan LowCardinality(String)",
    "country LowCardinality(String)",
    "client_family LowCardinality(String)",
)


def _usage_dimensions(granularity: str) -> str:
    """Migration 3: the registry, catalog and client dimensions, appended to the sorting key
    (ClickHouse only lets new columns extend it, and only without a default expression)."""
    added = ", ".join(f"ADD COLUMN IF NOT EXISTS {c}" for c in _NEW_USAGE_COLUMNS)
    key = ", ".join(c.split()[0] for c in _NEW_USAGE_COLUMNS)
    return (
        f"ALTER TABLE usage_{granularity} {added}, ADD COLUMN IF NOT EXISTS spec_unmatched UInt64,"
        f" MODIFY ORDER BY (window_start, api, method, endpoint, consumer, src, {key})"
    )


_NEW_EVENT_COLUMNS = (
    "query String",
    "headers Map(String, String)",
    "api_version LowCardinality(String)",
    "operation_id String",
    "spec LowCardinality(String)",
    "organisation String",
    "plan LowCardinality(String)",
    "country LowCardinality(String)",
    "client_family LowCardinality(String)",
    "client_os LowCardinality(String)",
    "sdk LowCardinality(String)",
)


def _access_events(raw_ttl_days: int) -> str:
    return f"""
    CREATE TABLE IF NOT EXISTS access_events (
        event_id String,
        event_time DateTime64(3, 'UTC'),
        request_id String,
        gateway LowCardinality(String),
        api LowCardinality(String),
        route LowCardinality(String),
        method LowCardinality(String),
        path String,
        endpoint String,
        status UInt16,
        latency_ms Nullable(Float64),
        upstream_latency_ms Nullable(Float64),
        gateway_latency_ms Nullable(Float64),
        bytes_in Nullable(UInt64),
        bytes_out Nullable(UInt64),
        consumer String,
        application String,
        credential_hash String,
        client_ip String,
        user_agent String,
        source String,
        ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
    ) ENGINE = ReplacingMergeTree
    PARTITION BY toYYYYMMDD(event_time)
    ORDER BY (consumer, event_time, event_id)
    TTL toDateTime(event_time) + INTERVAL {int(raw_ttl_days)} DAY
    """


DEAD_LETTERS = """
CREATE TABLE IF NOT EXISTS dead_letters (
    src LowCardinality(String),
    src_offset UInt64,
    record_index UInt32,
    source String,
    format LowCardinality(String),
    reason String,
    record String,
    received_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree
ORDER BY (src, src_offset, record_index)
"""

PIPELINE_PROGRESS = """
CREATE TABLE IF NOT EXISTS pipeline_progress (
    src LowCardinality(String),
    src_offset UInt64,
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(src_offset)
ORDER BY src
"""


REGISTRY = """
CREATE TABLE IF NOT EXISTS registry (
    kind LowCardinality(String),
    id String,
    entity String,
    version UInt64,
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(version)
ORDER BY (kind, id)
"""
"""The consumer registry as the registry topic last said it (JSON per entity; credentials only
as keyed hashes; deleted entities are deleted rows): what `apim up` re-publishes to a fresh
embedded broker."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: Callable[[int], list[str]]
    """Given the raw-event TTL in days, the statements to run."""


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "initial schema",
        lambda ttl: [
            _access_events(ttl),
            *(_usage_table(g) for g in GRANULARITIES),
            DEAD_LETTERS,
            PIPELINE_PROGRESS,
        ],
    ),
    Migration(
        2,
        "skip index on arrival time, for the ingestion health page",
        lambda ttl: [
            "ALTER TABLE access_events ADD INDEX IF NOT EXISTS ingested_at_minmax ingested_at"
            " TYPE minmax GRANULARITY 1",
            "ALTER TABLE access_events MATERIALIZE INDEX ingested_at_minmax",
        ],
    ),
    Migration(
        3,
        "consumer registry, API catalog and client dimensions",
        lambda ttl: [
            "ALTER TABLE access_events "
            + ", ".join(f"ADD COLUMN IF NOT EXISTS {c}" for c in _NEW_EVENT_COLUMNS),
            *(_usage_dimensions(g) for g in GRANULARITIES),
            REGISTRY,
        ],
    ),
)


def migrate(wh: Warehouse, raw_ttl_days: int) -> list[int]:
    """Bring the schema up to date; return the versions applied now (empty if none)."""
    wh.command(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
        "ENGINE = ReplacingMergeTree ORDER BY version"
    )
    done = set(wh.query_df("SELECT version FROM schema_migrations FINAL")["version"].to_list())
    applied = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        for statement in migration.statements(raw_ttl_days):
            wh.command(statement)
        wh.command(
            "INSERT INTO schema_migrations (version, name) VALUES ({v:UInt32}, {n:String})",
            {"v": migration.version, "n": migration.name},
        )
        applied.append(migration.version)
    return applied
