"""Tyk exports: key sessions -> consumers and credentials, policies -> plans."""

from __future__ import annotations

import json
from datetime import date

import pytest
from registry_samples import DATA, HASH, assert_no_clear_key, load

from processors.parsers import tyk
from processors.parsers.base import ParseContext
from processors.registry.imports import RegistryFileError, load_registry
from processors.registry.model import Consumer, Credential, Plan
from processors.registry.registry import Identity, Registry

KEYS = json.loads((DATA / "tyk-keys.json").read_text())["keys"]
MOBILE_KEY = KEYS[0]["key_id"]


def test_key_sessions_give_a_consumer_per_alias_and_a_hashed_credential_per_key() -> None:
    assert [change.entity for change in load("tyk-keys.json")] == [
        Consumer(
            id="acme-mobile",
            name="acme-mobile",
            plan_id="pol-pro",
            tags=["mobile", "android"],
            created=date(2023, 10, 30),  # the earliest of its keys
        ),
        Consumer(
            id="globex-etl",
            name="globex-etl",
            plan_id="pol-enterprise",  # from the older apply_policy_id
            created=date(2024, 2, 19),
        ),
        Credential(
            hash=HASH(KEYS[0]["key_id"]), consumer_id="acme-mobile", created=date(2023, 11, 2)
        ),
        Credential(
            hash=HASH(KEYS[1]["key_id"]), consumer_id="acme-mobile", created=date(2023, 10, 30)
        ),
        Credential(
            hash=HASH(KEYS[2]["key_id"]), consumer_id="globex-etl", created=date(2024, 2, 19)
        ),
        # the fourth key has no alias: it names nobody and is not imported
    ]


def test_policies_become_plans_with_a_monthly_quota_and_a_rate_limit() -> None:
    assert [change.entity for change in load("tyk-policies.json")] == [
        Plan(id="pol-free", name="Free", monthly_quota=10_000, rate_limit="10/s"),
        Plan(
            id="pol-pro", name="Pro", monthly_quota=990_000, rate_limit="6000/min"
        ),  # 33,000 a day
        Plan(id="pol-enterprise", name="Enterprise", monthly_quota=None, rate_limit="1000/s"),
        Plan(
            id="62a0ec9092faf50001395817",  # no `id`: the Dashboard's `_id`
            name="Partner burst",
            monthly_quota=200_000,  # 1.2M per 180 days
            rate_limit="500/10s",
        ),
    ]


def test_a_tyk_analytics_record_resolves_through_the_imported_keys_and_policies() -> None:
    registry = Registry(load("tyk-policies.json") + load("tyk-keys.json"))
    record = {
        "timestamp": "2024-06-10T11:45:45.678901+02:00",
        "method": "GET",
        "path": "/orders/8842",
        "response_code": 200,
        "api_key": MOBILE_KEY,
        "alias": "",
        "request_time_ms": 41,
    }
    [event] = tyk.parse(json.dumps(record).encode(), ParseContext("tyk-analytics/0@1", HASH))
    assert registry.resolve(event.consumer, event.application, event.credential_hash) == (
        Identity("acme-mobile", "", "", "pol-pro", True)
    )


def _session(alias: str, policy: str) -> dict:
    return {"alias": alias, "org_id": "5e9d9544a1dcd60001d0ed20", "apply_policies": [policy]}


@pytest.mark.parametrize(
    "export",
    [
        {"keys": {KEYS[0]["key_id"]: KEYS[0]["data"]}},  # {"keys": {id: session}}
        {KEYS[0]["key_id"]: KEYS[0]["data"]},  # {id: session}
        [{**KEYS[0]["data"], "key_id": KEYS[0]["key_id"]}],  # sessions with their key_id
        [KEYS[0]],  # the Dashboard's wrapper without its envelope
    ],
)
def test_every_shape_of_key_export_gives_the_same_changes(export) -> None:
    changes = load_registry(json.dumps(export).encode(), "json", "keys.json", HASH)
    assert [change.entity for change in changes] == [
        Consumer(
            id="acme-mobile",
            name="acme-mobile",
            plan_id="pol-pro",
            tags=["mobile"],
            created=date(2023, 11, 2),
        ),
        Credential(hash=HASH(MOBILE_KEY), consumer_id="acme-mobile", created=date(2023, 11, 2)),
    ]


def test_dashboard_policies_and_a_policies_json_map_are_taken() -> None:
    policy = {
        "name": "Gold",
        "rate": 50,
        "per": 3600,
        "quota_max": 7000,
        "quota_renewal_rate": 604800,
    }
    dashboard = {"Data": [{**policy, "_id": "5ead7120575961000181867e", "id": "gold"}], "Pages": 1}
    file_map = {"gold": policy}
    expected = [Plan(id="gold", name="Gold", monthly_quota=30_000, rate_limit="50/h")]
    for export in (dashboard, file_map):
        changes = load_registry(json.dumps(export).encode(), "json", "p.json", HASH)
        assert [change.entity for change in changes] == expected


@pytest.mark.parametrize(
    ("export", "error"),
    [
        (
            {"keys": [MOBILE_KEY, KEYS[1]["key_id"]]},
            "t.json: keys: key ids without their sessions: export GET /api/keys/detailed (Dashboard)",
        ),
        (
            {"keys": [_session("acme", "pol-pro"), _session("acme", "pol-free")]},
            "t.json: keys[0]: no key id: export the keys with their ids",
        ),
        (
            {
                MOBILE_KEY: _session("acme", "pol-pro"),
                KEYS[1]["key_id"]: _session("acme", "pol-free"),
            },
            "t.json: entry 2.apply_policies: alias 'acme' has policy 'pol-pro' at entry 1: give keys of different policies their own alias",
        ),
        (
            {"keys": {MOBILE_KEY: {**_session("acme", "pol-pro"), "date_created": "yesterday"}}},
            "t.json: keys entry 1.date_created: not an RFC 3339 time",
        ),
        (
            {"keys": {MOBILE_KEY: "revoked"}},
            "t.json: keys entry 1: expected a key session object",
        ),
        (
            {"keys": {MOBILE_KEY: {**_session("acme", "pol-pro"), "alias": 7}}},
            "t.json: keys entry 1.alias: expected str, got int",
        ),
        (
            [{"name": "Free", "rate": 1, "per": 1}],
            "t.json: [0]: no id nor _id: export the policies with their ids",
        ),
        (
            [{"id": "free", "name": "Free", "rate": 1}, _session("acme", "free")],
            "t.json: [1]: not a Tyk policy like the first entry",
        ),
    ],
)
def test_a_bad_tyk_export_is_one_line_that_never_quotes_a_key(export, error) -> None:
    with pytest.raises(RegistryFileError) as caught:
        load_registry(json.dumps(export).encode(), "json", "t.json", HASH)
    assert str(caught.value) == error
    assert_no_clear_key(str(caught.value))
