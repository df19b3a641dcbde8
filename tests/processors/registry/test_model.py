"""Registry entities on the wire (the registry topic's JSON) and their validation errors."""

from __future__ import annotations

from datetime import date

import pytest

from processors.registry.model import (
    Application,
    Change,
    Consumer,
    Credential,
    EntityError,
    Organisation,
    Plan,
    change_of,
    decode_change,
    deletion,
    encode_change,
    entity_of,
)

HASH = "581df341936081288aab10245d6587d8"
ENTITIES = [
    Plan(
        id="pro",
        name="Pro",
        monthly_quota=1_000_000,
        rate_limit="6000/min",
        price_per_unit=0.0004,
        overage_price_per_unit=0.0006,
    ),
    Organisation(id="acme", name="Acme Corp", tags=["retail"], created=date(2023, 11, 2)),
    Consumer(
        id="acme-mobile",
        name="Acme mobile apps",
        organisation_id="acme",
        plan_id="pro",
        aliases=["crm-4200"],
        created=date(2023, 11, 2),
        first_call=date(2023, 11, 5),
        churned=date(2025, 1, 31),
    ),
    Application(id="acme-ios", name="Acme for iOS", consumer_id="acme-mobile", plan_id="free"),
    Credential(hash=HASH, consumer_id="acme-mobile", revoked=date(2024, 6, 30)),
]


def test_a_consumer_change_is_json_with_iso_dates_under_its_key() -> None:
    change = change_of(ENTITIES[2])
    assert change.key == "consumer:acme-mobile"
    assert encode_change(change) == (
        b'{"kind":"consumer","id":"acme-mobile","entity":{"id":"acme-mobile",'
        b'"name":"Acme mobile apps","organisation_id":"acme","plan_id":"pro",'
        b'"aliases":["crm-4200"],"tags":[],"created":"2023-11-02","first_call":"2023-11-05",'
        b'"churned":"2025-01-31"}}'
    )


@pytest.mark.parametrize("entity", ENTITIES, ids=lambda e: type(e).__name__)
def test_every_kind_round_trips_through_json(entity) -> None:
    change = change_of(entity)
    assert decode_change(encode_change(change)) == change


def test_a_credential_is_keyed_by_its_hash_and_a_deletion_has_no_entity() -> None:
    assert change_of(ENTITIES[4]).key == f"credential:{HASH}"
    gone = deletion("credential", HASH)
    assert encode_change(gone) == f'{{"kind":"credential","id":"{HASH}","entity":null}}'.encode()
    assert decode_change(encode_change(gone)) == Change(kind="credential", id=HASH)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (b'{"kind":"user","id":"x","entity":null}', "invalid registry change: unknown kind 'user'"),
        (
            b'{"kind":"plan","id":"pro","entity":{"id":"gold","name":"Gold"}}',
            "invalid registry change: key plan:pro holds another id",
        ),
        (
            b'{"kind":"credential","id":"x","entity":{"hash":"x","consumer_id":"a"}}',
            "invalid registry change: Expected `str` matching regex '^[0-9a-f]{32}$' - at `$.hash`",
        ),
        (b'{"kind":"plan"', "invalid registry change: Input data was truncated"),
    ],
)
def test_an_invalid_topic_message_is_a_value_error(message: bytes, error: str) -> None:
    with pytest.raises(ValueError) as caught:
        decode_change(message)
    assert str(caught.value) == error


def test_deleting_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError) as caught:
        deletion("user", "x")
    expected = (
        "unknown kind 'user': expected one of plan, organisation, consumer, application, credential"
    )
    assert str(caught.value) == expected


@pytest.mark.parametrize(
    ("kind", "fields", "field", "message"),
    [
        (
            "plan",
            {"id": "p", "name": "P", "monthly_qouta": 3},
            "monthly_qouta",
            "unknown field; did you mean 'monthly_quota'? a plan has id, name, monthly_quota, "
            "rate_limit, price_per_unit, overage_price_per_unit",
        ),
        ("plan", {"id": "p"}, "name", "missing: add it"),
        (
            "plan",
            {"id": "p", "name": "P", "monthly_quota": -1},
            "monthly_quota",
            "expected int >= 0",
        ),
        (
            "plan",
            {"id": "p", "name": "P", "rate_limit": "100 per second"},
            "rate_limit",
            'invalid value; write it as "<n>/s", "<n>/min", "<n>/h" or "<n>/day" (or "<n>/<k>s")',
        ),
        (
            "plan",
            {"id": "p", "name": "P", "price_per_unit": "cheap"},
            "price_per_unit",
            "expected float, got str",
        ),
        ("consumer", {"id": 4200, "name": "x"}, "id", "expected str, got int; quote the value"),
        (
            "consumer",
            {"id": "a", "name": "x", "tags": ["a", 3]},
            "tags[1]",
            "expected str, got int; quote the value",
        ),
        (
            "consumer",
            {"id": "a", "name": "x", "created": "02/11/2023"},
            "created",
            "invalid RFC3339 encoded date; write dates as YYYY-MM-DD",
        ),
        ("organisation", {"id": "", "name": "x"}, "id", "empty: give a value"),
        (
            "credential",
            {"hash": "XYZ", "consumer_id": "a"},
            "hash",
            "invalid value; give the 32 lower-case hex characters apim hashes credentials to, "
            "or the clear key as `key`",
        ),
    ],
)
def test_entity_errors_name_the_field_and_the_fix(kind, fields, field, message) -> None:
    with pytest.raises(EntityError) as caught:
        entity_of(kind, fields)
    assert (caught.value.field, caught.value.message) == (field, message)


def test_valid_fields_give_the_entity_with_dates_parsed() -> None:
    fields = {"id": "acme", "name": "Acme Corp", "tags": ["retail"], "created": "2023-11-02"}
    assert entity_of("organisation", fields) == ENTITIES[1]
