"""The registry CSV: one row per credential, consumer fields repeated on every row."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from registry_samples import HASH, assert_no_clear_key, load

from processors.registry.imports import RegistryFileError, load_registry
from processors.registry.model import Application, Consumer, Credential, Organisation
from processors.registry.registry import Registry

HEADER = "organisation,consumer,application,plan,key,tags,created\n"


def test_the_csv_gives_organisations_consumers_applications_and_hashed_credentials() -> None:
    assert [change.entity for change in load("registry.csv")] == [
        Organisation(id="acme", name="acme"),
        Organisation(id="globex", name="globex"),
        Consumer(
            id="acme-mobile",
            name="acme-mobile",
            organisation_id="acme",
            plan_id="pro",
            tags=["mobile"],
            created=date(2023, 11, 2),
        ),
        Consumer(
            id="acme-web",
            name="acme-web",
            organisation_id="acme",
            plan_id="pro",
            created=date(2024, 1, 10),
        ),
        Consumer(
            id="globex-etl",
            name="globex-etl",
            organisation_id="globex",
            plan_id="enterprise",
            created=date(2024, 2, 19),
        ),
        Consumer(id="jane-hobby", name="jane-hobby", plan_id="free", created=date(2024, 5, 1)),
        Application(id="acme-ios", name="acme-ios", consumer_id="acme-mobile"),
        Application(id="acme-android", name="acme-android", consumer_id="acme-mobile"),
        Application(
            id="globex-warehouse-sync", name="globex-warehouse-sync", consumer_id="globex-etl"
        ),
        Credential(
            hash=HASH("ak_live_7Hq2LmX9vB4nR8sT1wZ6cY3d"),
            consumer_id="acme-mobile",
            application_id="acme-ios",
        ),
        Credential(
            hash=HASH("ak_live_Pz5Kd8Qf2Jr7Wn4Xb9Mc6Vt1"),
            consumer_id="acme-mobile",
            application_id="acme-android",
        ),
        Credential(hash=HASH("ak_live_Ue3Go6Yh1Ai8Sl5Dk2Fj9Hn4"), consumer_id="acme-web"),
        Credential(
            hash=HASH("gx_prod_Cv9Bn3Mk6Lj1Hg4Fd7Sa2Qw8"),
            consumer_id="globex-etl",
            application_id="globex-warehouse-sync",
        ),
        Credential(hash="3f9a1c27d84b56e0a1b2c3d4e5f60718", consumer_id="jane-hobby"),
    ]


def test_the_csv_and_the_yaml_resolve_every_credential_alike_but_for_application_plans() -> None:
    from_csv = Registry(load("registry.csv"))
    from_yaml = Registry(load("registry.yaml"))
    credentials = [change.id for change in load("registry.csv") if change.kind == "credential"]
    android = HASH("ak_live_Pz5Kd8Qf2Jr7Wn4Xb9Mc6Vt1")
    assert len(credentials) == 5 and android in credentials
    for credential in credentials:
        yaml_identity = from_yaml.resolve("", "", credential)
        if credential == android:  # a plan of its own in the YAML, which a CSV cannot say
            assert yaml_identity.plan == "enterprise"
            yaml_identity = replace(yaml_identity, plan="pro")
        assert from_csv.resolve("", "", credential) == yaml_identity


def test_columns_come_in_any_order_and_only_consumer_is_required() -> None:
    text = "Key, Consumer \r\nak_live_7Hq2LmX9vB4nR8sT1wZ6cY3d,acme-mobile\r\n,,\r\n,acme-web\r\n"
    changes = load_registry(("\ufeff" + text).encode(), "csv", "r.csv", HASH)
    assert [change.entity for change in changes] == [
        Consumer(id="acme-mobile", name="acme-mobile"),
        Consumer(id="acme-web", name="acme-web"),
        Credential(hash=HASH("ak_live_7Hq2LmX9vB4nR8sT1wZ6cY3d"), consumer_id="acme-mobile"),
    ]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("consumer;key\na;b\n", "r.csv:1: separate the columns with commas, not semicolons"),
        (
            "consumer,e-mail\n",
            "r.csv:1: unknown column 'e-mail': the columns are organisation, consumer, application, plan, key, tags, created",
        ),
        ("consumer,key,key\n", "r.csv:1: column 'key' is given twice: keep one"),
        ("organisation,key\n", "r.csv:1: no consumer column: the header names at least `consumer`"),
        (
            HEADER + "acme,,ios,pro,k1,,\n",
            "r.csv:2: column consumer: empty: every row names its consumer",
        ),
        (
            HEADER + "acme,a,,pro,,,\nacme,a,,free,,,\n",
            "r.csv:3: column plan: consumer 'a' has 'pro' on line 2: give every row of a consumer the same organisation, plan, tags, created",
        ),
        (
            HEADER + "acme,a,ios,,,,\nacme,b,ios,,,,\n",
            "r.csv:3: column application: application 'ios' belongs to consumer 'a' on line 2: an application has one consumer",
        ),
        (
            HEADER
            + ",a,,,ak_live_7Hq2LmX9vB4nR8sT1wZ6cY3d,,\n,b,,,ak_live_7Hq2LmX9vB4nR8sT1wZ6cY3d,,\n",
            "r.csv:3: column key: the same key is on line 2: keep one",
        ),
        (
            HEADER + ",a,,,sha:ak_live_7Hq2LmX9vB4nR8sT1wZ6cY3d,,\n",
            "r.csv:2: column key: after 'sha:' give the 32 hex characters of a keyed hash",
        ),
        (
            HEADER + ",a,,,ak_live_7Hq2LmX9vB4nR8sT1wZ6cY3d,,2024-13-01\n",
            "r.csv:2: column created: invalid RFC3339 encoded date; write dates as YYYY-MM-DD",
        ),
        (
            HEADER + ",a,,,ak_live_7Hq2LmX9vB4nR8sT1wZ6cY3d,eu,2024-01-01,extra\n",
            "r.csv:2: 8 values for 7 columns: quote values holding commas",
        ),
        (
            HEADER + ',a,,,"ak_live_7Hq2LmX9vB4nR8sT1wZ6cY3d\n',
            "r.csv:2: invalid CSV: unexpected end of data",
        ),
    ],
)
def test_a_bad_csv_is_one_line_naming_the_line_and_column(text: str, error: str) -> None:
    with pytest.raises(RegistryFileError) as caught:
        load_registry(text.encode(), "csv", "r.csv", HASH)
    assert str(caught.value) == error
    assert_no_clear_key(str(caught.value))
