"""The traffic simulator: deterministic, Kong-shaped, and shaped like a real API business."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from apim.event import AccessEvent
from ingest.simulator import TrafficSimulator, diurnal_factor
from processors.parsers import kong
from processors.parsers.base import CredentialHasher, ParseContext

MONDAY = datetime(2024, 6, 3, tzinfo=UTC)
DAY_RATE = 4.0  # req/s at the peak: ~130k requests for the simulated weekday


class _Name(msgspec.Struct, gc=False):
    name: str


class _Username(msgspec.Struct, gc=False):
    username: str


class _Credential(msgspec.Struct, gc=False):
    id: str


class _Request(msgspec.Struct, gc=False):
    uri: str


class _Response(msgspec.Struct, gc=False):
    status: int


class _Latencies(msgspec.Struct, gc=False):
    request: int
    proxy: int


class _Record(msgspec.Struct, gc=False):
    """The fields the day-long checks need (decoding all of them is slow)."""

    started_at: int
    request: _Request
    response: _Response
    latencies: _Latencies
    route: _Name
    service: _Name
    consumer: _Username | None = None
    authenticated_entity: _Credential | None = None


Day = tuple[TrafficSimulator, list[_Record]]


@pytest.fixture(scope="module")
def day() -> Day:
    """One simulated weekday (Monday) from the simulation start, decoded."""
    sim = TrafficSimulator(seed=7, start=MONDAY)
    lines = sim.records(MONDAY, MONDAY + timedelta(days=1), DAY_RATE)
    decoder = msgspec.json.Decoder(_Record)
    return sim, [decoder.decode(line) for line in lines]


def _username(record: dict[str, Any]) -> str | None:
    consumer = record.get("consumer")
    return consumer["username"] if consumer else None


def test_same_seed_gives_identical_output() -> None:
    now = MONDAY + timedelta(hours=13, minutes=5, seconds=30.25)
    a = TrafficSimulator(seed=1, start=MONDAY)
    b = TrafficSimulator(seed=1, start=MONDAY)
    other = TrafficSimulator(seed=2, start=MONDAY)
    assert a.tick(now, 90, 20) == b.tick(now, 90, 20)
    assert a.tick(now, 90, 20) == a.tick(now, 90, 20)  # asking again gives the same lines
    assert a.tick(now, 90, 20) != other.tick(now, 90, 20)
    span = (MONDAY + timedelta(hours=9), MONDAY + timedelta(hours=9, minutes=20))
    assert list(a.records(*span, 15)) == list(b.records(*span, 15))


def test_records_equal_the_minute_ticks_that_cover_them() -> None:
    sim = TrafficSimulator(seed=3, start=MONDAY)
    begin = MONDAY + timedelta(hours=10)
    ticks = [line for m in range(1, 6) for line in sim.tick(begin + timedelta(minutes=m), 60, 10)]
    assert ticks == list(sim.records(begin, begin + timedelta(minutes=5), 10))
    assert ticks


def test_lines_have_the_kong_shape_and_lie_in_the_interval() -> None:
    sim = TrafficSimulator(seed=5, start=MONDAY)
    now = MONDAY + timedelta(hours=14, seconds=12.3456)
    seconds = 30.5
    lines = sim.tick(now, seconds, 50)
    assert len(lines) > 500
    lo = (now - timedelta(seconds=seconds)).timestamp() * 1000
    hi = now.timestamp() * 1000
    for line in lines:
        assert isinstance(line, bytes)
        assert not line.endswith(b"\n")
        _check_shape(msgspec.json.decode(line), lo, hi)


def _check_shape(r: dict[str, Any], lo: float, hi: float) -> None:
    assert isinstance(r["started_at"], int)
    assert lo <= r["started_at"] < hi
    req, resp, lat = r["request"], r["response"], r["latencies"]
    assert isinstance(req["id"], str) and len(req["id"]) == 32
    assert req["uri"].startswith("/v") and req["url"].endswith(req["uri"])
    assert req["method"] in {"GET", "POST", "PUT", "PATCH", "DELETE"}
    assert isinstance(req["headers"]["user-agent"], str) and req["headers"]["user-agent"]
    assert isinstance(req["size"], int) and req["size"] > 0
    assert isinstance(req["querystring"], dict)
    assert isinstance(resp["status"], int) and 100 <= resp["status"] <= 599
    assert isinstance(resp["size"], int) and resp["size"] > 0
    assert isinstance(resp["headers"], dict)
    assert all(isinstance(lat[k], int) for k in ("kong", "proxy", "request", "receive"))
    assert lat["request"] >= lat["kong"] >= 0
    assert isinstance(r["upstream_status"], str)
    if lat["proxy"] == -1:
        assert r["upstream_status"] == "" and r["source"] == "kong"
    else:
        assert r["upstream_status"] == str(resp["status"])
        assert r["upstream_uri"] == req["uri"]
    assert isinstance(r["route"]["id"], str) and isinstance(r["route"]["name"], str)
    assert isinstance(r["service"]["name"], str) and isinstance(r["service"]["host"], str)
    assert isinstance(r["client_ip"], str) and r["client_ip"].count(".") == 3
    assert r["source"] in {"upstream", "kong"}
    assert isinstance(r["workspace"], str)
    if "consumer" in r:
        c = r["consumer"]
        assert isinstance(c["id"], str) and isinstance(c["username"], str)
        assert isinstance(c["created_at"], int) and isinstance(c["updated_at"], int)
        assert c["tags"][0].startswith("plan:") and c["tags"][1].startswith("app:")
        assert isinstance(r["authenticated_entity"]["id"], str)
    else:
        assert "authenticated_entity" not in r


def test_the_kong_parser_reads_every_line() -> None:
    sim = TrafficSimulator(seed=11, start=MONDAY)
    ctx = ParseContext(source="sim:1", hash_credential=CredentialHasher(b"secret"))
    lines = sim.tick(MONDAY + timedelta(hours=15), 20, 50)
    for line in lines:
        [event] = kong.parse(line, ctx)
        assert isinstance(event, AccessEvent), event
        record = msgspec.json.decode(line)
        assert event.consumer == (_username(record) or "anonymous")
        assert event.api == record["service"]["name"]
        assert event.route == record["route"]["name"]
        assert "?" not in event.path
        if record.get("consumer"):
            assert event.application == record["consumer"]["tags"][1].removeprefix("app:")


def test_volume_follows_the_daily_rhythm() -> None:
    sim = TrafficSimulator(seed=9, start=MONDAY)
    peak = len(sim.tick(MONDAY + timedelta(hours=14, minutes=40), 600, 10))
    night = len(sim.tick(MONDAY + timedelta(hours=3, minutes=10), 600, 10))
    saturday_peak = len(sim.tick(MONDAY + timedelta(days=5, hours=14, minutes=40), 600, 10))
    assert peak > 4 * night
    assert night < saturday_peak < 0.7 * peak
    assert 0.9 * 10 * 600 < peak < 1.1 * 10 * 600  # `rate` is the peak rate
    assert diurnal_factor(MONDAY + timedelta(hours=14, minutes=30)) == pytest.approx(1.0)


def test_plan_mix_and_heavy_tail(day: Day) -> None:
    sim, records = day
    assert len(sim.consumers) == 300
    assert len({c.username for c in sim.consumers}) == 300
    assert len({c.id for c in sim.consumers}) == 300
    plans = Counter(c.plan for c in sim.consumers)
    assert 0.6 < plans["free"] / 300 < 0.8
    assert 0.15 < plans["pro"] / 300 < 0.35
    assert 0.02 < plans["enterprise"] / 300 < 0.1
    calls = Counter(r.consumer.username for r in records if r.consumer)
    counts = sorted(calls.values(), reverse=True)
    top = counts[: len(counts) // 10]
    assert sum(top) > 0.4 * sum(counts)
    plan_of = {c.username: c.plan for c in sim.consumers}
    per_consumer = defaultdict(list)
    for user, n in calls.items():
        per_consumer[plan_of[user]].append(n)
    mean = {plan: sum(v) / len(v) for plan, v in per_consumer.items()}
    assert mean["enterprise"] > mean["pro"] > mean["free"]


def test_anonymous_share_and_unauthenticated_401s(
    day: Day,
) -> None:
    _, records = day
    anonymous = [r for r in records if r.consumer is None]
    assert 0.02 < len(anonymous) / len(records) < 0.04
    assert all(r.authenticated_entity is None for r in anonymous)
    rejected = [r for r in anonymous if r.response.status == 401]
    assert rejected and all(r.latencies.proxy == -1 for r in rejected)
    served = {r.service.name for r in anonymous if r.response.status < 400}
    assert served <= {"catalog", "search"}


def test_error_bursts_stand_out(day: Day) -> None:
    sim, records = day
    per_minute: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for r in records:
        counts = per_minute[r.started_at // 60_000]
        counts[0] += 1
        counts[1] += r.response.status >= 500
    baseline = sum(e for _, e in per_minute.values()) / len(records)
    worst = max(e / n for n, e in per_minute.values() if n >= 100)
    assert baseline < 0.01
    assert worst > 5 * baseline
    assert sim.incidents(MONDAY, MONDAY + timedelta(days=1))


def test_consumers_join_and_churn(day: Day) -> None:
    sim, records = day
    times: dict[str, list[int]] = defaultdict(list)
    for r in records:
        if r.consumer:
            times[r.consumer.username].append(r.started_at)
    end_of_day = MONDAY + timedelta(days=1)
    churned_with_calls = joined_with_calls = 0
    for consumer in sim.consumers:
        joins, churns = sim.consumer_window(consumer)
        calls = times.get(consumer.username, [])
        if churns is not None and churns < end_of_day:
            assert all(t < churns.timestamp() * 1000 for t in calls), consumer.username
            churned_with_calls += bool(calls)
        if joins is not None:
            assert all(t >= joins.timestamp() * 1000 for t in calls), consumer.username
            joined_with_calls += bool(calls) and joins < end_of_day
    assert churned_with_calls >= 1
    assert joined_with_calls >= 1


def test_routes_are_bounded_while_raw_paths_vary(
    day: Day,
) -> None:
    sim, records = day
    routes = {r.route.name for r in records}
    paths = {r.request.uri.partition("?")[0] for r in records}
    assert len(routes) <= len(sim.endpoints) == 30
    assert len(paths) > 20 * len(routes)
    assert any("?" in r.request.uri for r in records)
    small = TrafficSimulator(seed=1, endpoints=8, consumers=20, start=MONDAY)
    lines = small.tick(MONDAY + timedelta(hours=14), 300, 20)
    assert len({msgspec.json.decode(line)["route"]["name"] for line in lines}) <= 8


def test_endpoints_have_their_own_latency(
    day: Day,
) -> None:
    _, records = day
    latencies: dict[str, list[int]] = defaultdict(list)
    for r in records:
        if r.response.status < 400:
            latencies[r.route.name].append(r.latencies.request)
    median = {route: sorted(v)[len(v) // 2] for route, v in latencies.items()}
    assert median["reports-usage"] > 5 * median["catalog-get-product"]
    assert median["search-query"] > 2 * median["users-get-user"]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        TrafficSimulator(endpoints=0)
    with pytest.raises(ValueError):
        TrafficSimulator(endpoints=1000)
    with pytest.raises(ValueError):
        TrafficSimulator(start=datetime(2024, 6, 3))  # naive
    sim = TrafficSimulator(seed=1, start=MONDAY)
    assert sim.tick(MONDAY + timedelta(hours=12), 0, 10) == []


def test_start_defaults_to_the_first_interval() -> None:
    sim = TrafficSimulator(seed=4)
    assert sim.start is None
    now = MONDAY + timedelta(hours=12)
    lines = sim.tick(now, 5, 10)
    assert sim.start == now - timedelta(seconds=5)
    assert lines == TrafficSimulator(seed=4, start=sim.start).tick(now, 5, 10)
