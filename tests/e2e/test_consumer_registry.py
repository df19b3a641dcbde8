"""The consumer registry through the real broker, a real Faust worker and chDB: a registry
imported mid-stream (with the real `apim registry import`) names the callers of the events
that follow (shipped with the real `apim ingest`), without a restart; no clear credential of
the fixtures reaches any table, topic (the raw topic included) or log; `apim erase` removes
every trace of one consumer and nothing else."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer

from apim.event import unknown_consumer
from apim.kafka import bootstrap_servers
from processors.parsers import CredentialHasher

pytestmark = pytest.mark.e2e
APIM = [sys.executable, "-m", "apim"]

CREDENTIALS = {  # Kong credential id -> (consumer, application) the registry will say
    "kc-ios-7Hq2LmX9vB4nR8sT": ("acme-mobile", "acme-ios"),
    "kc-android-Pz5Kd8Qf2Jr7": ("acme-mobile", "acme-android"),
    "kc-globex-Cv9Bn3Mk6Lj1H": ("globex-etl", ""),
    "kc-stranger-Zq8Wx3Er6Ty": (None, None),  # never registered
}
SECRETS = {cred: f"ak_live_{cred[-12:]}SECRET" for cred in CREDENTIALS}
"""The clear API key each caller sends in its `apikey` header and `api_key` query."""
REGISTRY = """
plans:
  - {id: pro, name: Pro, monthly_quota: 1000000}
  - {id: enterprise, name: Enterprise}
organisations:
  - {id: acme, name: Acme Corp}
  - {id: globex, name: Globex}
consumers:
  - {id: acme-mobile, name: Acme mobile apps, organisation_id: acme, plan_id: pro}
  - {id: globex-etl, name: Globex ETL, organisation_id: globex, plan_id: enterprise}
applications:
  - {id: acme-ios, name: Acme for iOS, consumer_id: acme-mobile}
  - {id: acme-android, name: Acme for Android, consumer_id: acme-mobile, plan_id: enterprise}
credentials:
  - {key: kc-ios-7Hq2LmX9vB4nR8sT, consumer_id: acme-mobile, application_id: acme-ios}
  - {key: kc-android-Pz5Kd8Qf2Jr7, consumer_id: acme-mobile, application_id: acme-android}
  - {key: kc-globex-Cv9Bn3Mk6Lj1H, consumer_id: globex-etl}
"""


def kong_records(n: int, seed: int, now: datetime) -> tuple[list[bytes], Counter]:
    """n Kong records with only a credential (no consumer object), as key-auth logs them,
    the clear key in a header and the query; and the calls per credential id."""
    rng = random.Random(seed)
    lines, calls = [], Counter()
    for i in range(n):
        cred = rng.choice(list(CREDENTIALS))
        calls[cred] += 1
        record = {
            "request": {
                "method": "GET",
                "uri": f"/v1/orders/{rng.randrange(10**6)}?api_key={SECRETS[cred]}&page=2",
                "headers": {"apikey": SECRETS[cred], "user-agent": "okhttp/4.12.0"},
            },
            "response": {"status": rng.choice([200, 200, 404, 500]), "size": 512},
            "latencies": {"request": 20, "proxy": 15, "kong": 5},
            "authenticated_entity": {"id": cred},
            "service": {"name": "orders"},
            "client_ip": "81.2.69.160",
            "started_at": int((now - timedelta(seconds=i % 300)).timestamp() * 1000),
        }
        lines.append(json.dumps(record).encode())
    return lines, calls


def ship(pipeline, lines: list[bytes], name: str) -> None:
    """Ship the lines as a gateway's log file, with the real `apim ingest`."""
    path = pipeline.data_dir / name
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    apim(pipeline, "ingest", str(path), "--format", "kong", "--no-progress")


def apim(pipeline, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [*APIM, *args], env=pipeline.env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result


def stored(pipeline, events: int) -> bool:
    return pipeline.query("SELECT sum(requests) AS n FROM usage_minute FINAL")["n"][0] == events


def by_consumer(pipeline) -> dict[tuple, int]:
    frame = pipeline.query(
        "SELECT consumer, application, organisation, plan, sum(requests) AS n"
        " FROM usage_day FINAL GROUP BY ALL"
    )
    return {
        (r["consumer"], r["application"], r["organisation"], r["plan"]): r["n"]
        for r in frame.to_dicts()
    }


@pytest.fixture
def registry_env(pipeline, tmp_path):
    pipeline.env["APIM_REGISTRY_TOPIC"] = f"registry-{pipeline.raw_topic}"
    path = tmp_path / "registry.yaml"
    path.write_text(REGISTRY)
    return path


def unknown(pipeline, credential: str) -> str:
    """The consumer of calls with this credential while the registry does not know it."""
    secret = pipeline.env["APIM_SECURITY_HASH_SECRET"].encode()
    return unknown_consumer(CredentialHasher(secret)(credential))


def test_registry_imported_mid_stream_names_the_callers_that_follow(pipeline, registry_env):
    now = datetime.now(UTC)
    before, calls_before = kong_records(120, seed=1, now=now)
    pipeline.start_worker()
    ship(pipeline, before, "kong.log")
    pipeline.wait_until(lambda: stored(pipeline, 120), what="120 events")
    assert by_consumer(pipeline) == {
        (unknown(pipeline, cred), "", "", ""): n for cred, n in calls_before.items()
    }

    apim(pipeline, "registry", "import", str(registry_env))
    pipeline.wait_until(lambda: "registry updated" in pipeline.worker_log(), what="the registry")
    after, calls_after = kong_records(80, seed=2, now=now)
    ship(pipeline, after, "kong-2.log")
    pipeline.wait_until(lambda: stored(pipeline, 200), what="200 events")

    expected = Counter({(unknown(pipeline, c), "", "", ""): n for c, n in calls_before.items()})
    plans = {"acme-ios": "pro", "acme-android": "enterprise", "": "enterprise"}
    orgs = {"acme-mobile": "acme", "globex-etl": "globex"}
    for cred, n in calls_after.items():
        consumer, application = CREDENTIALS[cred]
        if consumer is None:
            expected[(unknown(pipeline, cred), "", "", "")] += n
        else:
            expected[(consumer, application, orgs[consumer], plans[application])] += n
    assert by_consumer(pipeline) == dict(expected)

    listing = apim(pipeline, "registry", "unknown", "--format", "json")
    listed = {r["consumer"]: r["calls"] for r in json.loads(listing.stdout)}
    stranger = "kc-stranger-Zq8Wx3Er6Ty"
    assert listed[unknown(pipeline, stranger)] == calls_before[stranger] + calls_after[stranger]


def test_no_clear_credential_anywhere_and_erasure_removes_one_consumer(pipeline, registry_env):
    now = datetime.now(UTC)
    apim(pipeline, "registry", "import", str(registry_env))
    lines, calls = kong_records(150, seed=3, now=now)
    broken = (
        b'{"request": {"method": "GET", "headers": {"apikey": "%s"}'
        % SECRETS["kc-ios-7Hq2LmX9vB4nR8sT"].encode()
    )
    pipeline.start_worker()
    ship(pipeline, [*lines, broken], "kong.log")
    pipeline.wait_until(
        lambda: (
            stored(pipeline, 150)
            and pipeline.query("SELECT count() AS n FROM dead_letters")["n"][0] == 1
        ),
        what="150 events and the dead letter",
    )

    clear = [*SECRETS.values(), *(c for c in CREDENTIALS)]
    for where, text in everything_stored(pipeline):
        found = [c for c in clear if c in text]
        assert not found, f"clear credential {found[0]!r} in {where}"
    events = pipeline.query("SELECT query, headers, client_ip, country FROM access_events LIMIT 1")
    row = events.to_dicts()[0]
    assert row["query"] == "page=2" and row["client_ip"] == "81.2.69.0" and row["country"] == "GB"

    others_before = {k: n for k, n in by_consumer(pipeline).items() if k[0] != "acme-mobile"}
    acme_calls = sum(n for c, n in calls.items() if CREDENTIALS[c][0] == "acme-mobile")
    assert sum(n for k, n in by_consumer(pipeline).items() if k[0] == "acme-mobile") == acme_calls
    apim(pipeline, "erase", "acme-mobile", "--yes", "--settle-seconds", "1")

    assert by_consumer(pipeline) == others_before
    for table in ("access_events", "usage_minute", "usage_hour", "usage_day"):
        n = pipeline.query(f"SELECT count() AS n FROM {table} WHERE consumer = 'acme-mobile'")
        assert n["n"][0] == 0, table
    traces = [
        where
        for where, text in everything_stored(pipeline)
        if where.startswith("table") and "acme-mobile" in text
    ]
    assert traces == [], f"acme-mobile still in {traces}"
    registry = apim(pipeline, "registry", "list", "consumer", "--format", "json")
    assert [c["id"] for c in json.loads(registry.stdout)] == ["globex-etl"]


def everything_stored(pipeline) -> list[tuple[str, str]]:
    """(where, text) of every table of the warehouse, the raw, dead-letter and registry
    topics, and the worker's log."""
    tables = pipeline.query("SELECT name FROM system.tables WHERE database = currentDatabase()")
    found = [
        (f"table {t}", str(pipeline.query(f"SELECT * FROM {t}").to_dicts()))
        for t in tables["name"]
        if t != "schema_migrations"
    ]
    for topic in (pipeline.raw_topic, pipeline.dlq_topic, pipeline.env["APIM_REGISTRY_TOPIC"]):
        found.append((f"topic {topic}", asyncio.run(topic_text(pipeline.broker.url, topic))))
    found.append(("worker log", (pipeline.data_dir / "logs" / "worker.log").read_text()))
    return found


async def topic_text(url: str, topic: str) -> str:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers(url), auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        values, deadline = [], time.monotonic() + 3
        while time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                values += [(m.key or b"") + b" " + (m.value or b"") for m in batch]
        return b"\n".join(values).decode(errors="replace")
    finally:
        await consumer.stop()
