"""Kong Admin API exports: /consumers and /key-auths, resolved the way Kong logs calls."""

from __future__ import annotations

import json
from datetime import date

import pytest
from registry_samples import DATA, HASH, assert_no_clear_key, load

from processors.parsers import kong
from processors.parsers.base import ParseContext
from processors.registry.imports import RegistryFileError, load_registry
from processors.registry.model import Consumer, Credential
from processors.registry.registry import Identity, Registry

ACME_MOBILE = "9a0c6b1e-4a43-4d55-9a1e-0f3f1e5b7c22"


def test_consumers_are_named_as_the_kong_parser_names_them_with_the_other_names_as_aliases() -> (
    None
):
    assert [change.entity for change in load("kong-consumers.json")] == [
        Consumer(
            id="acme-mobile",
            name="acme-mobile",
            organisation_id="acme",
            plan_id="pro",
            aliases=["crm-4200", ACME_MOBILE],
            tags=["mobile"],
            created=date(2023, 11, 2),
        ),
        Consumer(
            id="acme-web",
            name="acme-web",
            organisation_id="acme",
            plan_id="pro",
            aliases=["3b8e2f41-7c5d-4a96-b0e3-9d1f6a2c8e57"],
            created=date(2024, 1, 10),
        ),
        Consumer(
            id="globex-etl",
            name="globex-etl",
            organisation_id="globex",
            plan_id="enterprise",
            aliases=["e5d4c3b2-a1f0-4e9d-8c7b-6a5f4e3d2c1b"],
            tags=["batch"],
            created=date(2024, 2, 19),
        ),
        Consumer(
            id="jane-hobby",
            name="jane-hobby",
            aliases=["0f7e6d5c-4b3a-4291-8f0e-1d2c3b4a5968"],
            created=date(2024, 5, 1),
        ),
    ]


def test_credentials_hash_the_kong_credential_id_never_the_key() -> None:
    assert [change.entity for change in load("kong-key-auths.json")] == [
        Credential(
            hash=HASH("c62c1455-9b1d-4f2d-8797-509ba83b8ae8"),
            consumer_id=ACME_MOBILE,
            created=date(2023, 11, 2),
        ),
        Credential(
            hash=HASH("5d1e8f2a-3b4c-4d6e-9f70-8a1b2c3d4e5f"),
            consumer_id="3b8e2f41-7c5d-4a96-b0e3-9d1f6a2c8e57",
            created=date(2024, 1, 10),
        ),
        Credential(
            hash=HASH("a9b8c7d6-e5f4-4a3b-9c2d-1e0f9a8b7c6d"),
            consumer_id="e5d4c3b2-a1f0-4e9d-8c7b-6a5f4e3d2c1b",
            created=date(2024, 2, 20),
        ),
    ]


def _kong_event(credential_id: str, consumer: dict | None = None):
    record = {
        "started_at": 1718012745678,
        "request": {"method": "GET", "uri": "/v2/orders/8842"},
        "response": {"status": 200},
        "authenticated_entity": {"id": credential_id},
        **({"consumer": consumer} if consumer else {}),
    }
    [event] = kong.parse(json.dumps(record).encode(), ParseContext("kong.log:1", HASH))
    return event


def test_a_kong_log_line_resolves_through_the_imported_exports() -> None:
    registry = Registry(load("kong-key-auths.json") + load("kong-consumers.json"))
    event = _kong_event("c62c1455-9b1d-4f2d-8797-509ba83b8ae8")  # the credential alone
    assert registry.resolve(event.consumer, event.application, event.credential_hash) == (
        Identity("acme-mobile", "", "acme", "pro", True)
    )
    named = _kong_event(
        "a9b8c7d6-e5f4-4a3b-9c2d-1e0f9a8b7c6d",
        {"id": "e5d4c3b2-a1f0-4e9d-8c7b-6a5f4e3d2c1b", "custom_id": "globex-etl"},
    )
    assert registry.resolve(named.consumer, named.application, named.credential_hash) == (
        Identity("globex-etl", "", "globex", "enterprise", True)
    )


def test_a_bare_list_and_a_page_with_more_to_come_are_taken() -> None:
    page = json.loads((DATA / "kong-consumers.json").read_text())
    page["next"] = "/consumers?offset=WyJhY21lLXdlYiJd"
    from_page = load_registry(json.dumps(page).encode(), "json", "page.json", HASH)
    bare = load_registry(json.dumps(page["data"]).encode(), "json", "bare.json", HASH)
    assert from_page == bare == load("kong-consumers.json")
    assert load_registry(b'{"data": [], "next": null}', "json", "empty.json", HASH) == []


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (
            {
                "data": [
                    {"id": "1", "username": "a"},
                    {"id": "2", "consumer": {"id": "1"}, "key": "Rk4vN8qT2wXz6LmP0sJ3hY7cB5dF1gA9"},
                ]
            },
            "k.json: data[1]: not a Kong consumer like the first entry: one export per file",
        ),
        (
            {"data": [{"id": "1", "username": "a", "tags": ["org:acme", "org:globex"]}]},
            "k.json: data[0].tags: more than one org: tag: keep one",
        ),
        (
            {"data": [{"id": "", "username": None, "custom_id": ""}]},
            "k.json: data[0]: no username, custom_id nor id: name the consumer",
        ),
        (
            {
                "data": [
                    {"id": 7, "consumer": {"id": "1"}, "key": "Rk4vN8qT2wXz6LmP0sJ3hY7cB5dF1gA9"}
                ]
            },
            "k.json: data[0].id: expected str, got int",
        ),
        (
            {
                "data": [
                    {"id": "7", "consumer": {"id": None}, "key": "Rk4vN8qT2wXz6LmP0sJ3hY7cB5dF1gA9"}
                ]
            },
            "k.json: data[0].consumer.id: expected str, got null",
        ),
    ],
)
def test_a_bad_kong_export_is_one_line_naming_the_entry(data, error) -> None:
    with pytest.raises(RegistryFileError) as caught:
        load_registry(json.dumps(data).encode(), "json", "k.json", HASH)
    assert str(caught.value) == error
    assert_no_clear_key(str(caught.value))
