"""Who called, according to the registry: credential, consumer name, alias, unknown."""

from __future__ import annotations

import random

import msgspec
import pytest
from registry_samples import HASH, load

from processors.registry.model import (
    Application,
    Consumer,
    Credential,
    Plan,
    change_of,
    deletion,
)
from processors.registry.registry import Identity, Registry

IOS = HASH("ak_live_7Hq2LmX9vB4nR8sT1wZ6cY3d")
ANDROID = HASH("ak_live_Pz5Kd8Qf2Jr7Wn4Xb9Mc6Vt1")
WEB = HASH("ak_live_Ue3Go6Yh1Ai8Sl5Dk2Fj9Hn4")
REVOKED = HASH("ak_old_Rb7Nm2Qw5Et8Yu1Io4Pa6Sd3")
JANE = "3f9a1c27d84b56e0a1b2c3d4e5f60718"


@pytest.fixture
def registry() -> Registry:
    return Registry(load("registry.yaml"))


@pytest.mark.parametrize(
    ("consumer", "application", "credential", "identity"),
    [
        # the credential decides, whatever the gateway named
        ("unknown:581df3419360", "", IOS, Identity("acme-mobile", "acme-ios", "acme", "pro", True)),
        # an application's plan overrides its consumer's
        (
            "acme-mobile",
            "",
            ANDROID,
            Identity("acme-mobile", "acme-android", "acme", "enterprise", True),
        ),
        ("anonymous", "checkout", WEB, Identity("acme-web", "checkout", "acme", "pro", True)),
        ("x", "", JANE, Identity("jane-hobby", "", "", "free", True)),
        # no credential: the gateway's consumer name, or an alias (Kong custom_id, id)
        ("globex-etl", "", "", Identity("globex-etl", "", "globex", "enterprise", True)),
        ("crm-4200", "acme-ios", "", Identity("acme-mobile", "acme-ios", "acme", "pro", True)),
        (
            "9a0c6b1e-4a43-4d55-9a1e-0f3f1e5b7c22",
            "acme-android",
            "",
            Identity("acme-mobile", "acme-android", "acme", "enterprise", True),
        ),
        # an application of another consumer does not give its plan
        (
            "globex-etl",
            "acme-android",
            "",
            Identity("globex-etl", "acme-android", "globex", "enterprise", True),
        ),
        ("acme-web", "acme-android", "", Identity("acme-web", "acme-android", "acme", "pro", True)),
        # unknown: the gateway's names, kept
        (
            "unknown:0123456789ab",
            "",
            "0123456789abcdef0123456789abcdef",
            Identity("unknown:0123456789ab", "", "", "", False),
        ),
        ("initech", "tps-reports", "", Identity("initech", "tps-reports", "", "", False)),
        ("anonymous", "", "", Identity("anonymous", "", "", "", False)),
    ],
)
def test_resolve(registry: Registry, consumer, application, credential, identity) -> None:
    assert registry.resolve(consumer, application, credential) == identity


def test_a_revoked_credential_no_longer_names_its_consumer(registry: Registry) -> None:
    assert registry.resolve("unknown:768ba3e4834e", "", REVOKED) == Identity(
        "unknown:768ba3e4834e", "", "", "", False
    )
    # the gateway may still name the consumer itself
    assert registry.resolve("acme-web", "", REVOKED) == Identity(
        "acme-web", "", "acme", "pro", True
    )


def test_a_credential_of_a_consumer_not_yet_known_still_resolves_to_it() -> None:
    registry = Registry([change_of(Credential(hash=JANE, consumer_id="jane-hobby"))])
    assert registry.resolve("x", "", JANE) == Identity("jane-hobby", "", "", "", True)
    registry.apply(change_of(Consumer(id="jane-hobby", name="Jane", plan_id="free")))
    assert registry.resolve("x", "", JANE) == Identity("jane-hobby", "", "", "free", True)


def test_a_credential_naming_a_consumer_by_alias_finds_it() -> None:
    kong_id = "9a0c6b1e-4a43-4d55-9a1e-0f3f1e5b7c22"
    registry = Registry(
        [
            change_of(Credential(hash=IOS, consumer_id=kong_id)),
            change_of(Consumer(id="acme-mobile", name="Acme", plan_id="pro", aliases=[kong_id])),
        ]
    )
    assert registry.resolve("", "", IOS) == Identity("acme-mobile", "", "", "pro", True)


def test_changes_apply_in_any_order_and_twice_to_the_same_registry() -> None:
    changes = load("registry.yaml")
    expected = Registry(changes).snapshot()
    shuffled = changes * 2
    random.Random(5).shuffle(shuffled)
    assert Registry(shuffled).snapshot() == expected
    assert [c.key for c in expected] == [
        "plan:enterprise",
        "plan:free",
        "plan:pro",
        "organisation:acme",
        "organisation:globex",
        "consumer:acme-mobile",
        "consumer:acme-web",
        "consumer:globex-etl",
        "consumer:jane-hobby",
        "application:acme-android",
        "application:acme-ios",
        "application:globex-warehouse-sync",
        *sorted(f"credential:{c.id}" for c in changes if c.kind == "credential"),
    ]


def test_a_change_takes_effect_at_once(registry: Registry) -> None:
    registry.apply(change_of(Plan(id="gold", name="Gold")))
    consumer = registry.get("consumer", "acme-web")
    registry.apply(change_of(msgspec.structs.replace(consumer, plan_id="gold")))
    assert registry.resolve("", "", WEB) == Identity("acme-web", "", "acme", "gold", True)
    registry.apply(
        change_of(Application(id="acme-ios", name="iOS", consumer_id="acme-mobile", plan_id="gold"))
    )
    assert registry.resolve("", "", IOS).plan == "gold"


def test_deleting_removes_an_entity_and_its_aliases(registry: Registry) -> None:
    registry.apply(deletion("consumer", "acme-mobile"))
    registry.apply(deletion("consumer", "acme-mobile"))  # idempotent
    registry.apply(deletion("plan", "no-such-plan"))
    assert registry.get("consumer", "acme-mobile") is None
    assert registry.resolve("crm-4200", "", "") == Identity("crm-4200", "", "", "", False)
    # its credentials still name it, without its organisation and plan
    assert registry.resolve("", "", IOS) == Identity("acme-mobile", "acme-ios", "", "", True)
    registry.apply(deletion("credential", IOS))
    assert registry.resolve("", "", IOS) == Identity("", "", "", "", False)


def test_replacing_a_consumer_moves_its_aliases(registry: Registry) -> None:
    consumer = registry.get("consumer", "acme-mobile")
    registry.apply(change_of(msgspec.structs.replace(consumer, aliases=["crm-4201"])))
    assert registry.resolve("crm-4200", "", "").known is False
    assert registry.resolve("crm-4201", "", "").consumer == "acme-mobile"


def test_an_alias_two_consumers_claim_goes_to_the_least_id_and_an_id_wins_over_an_alias() -> None:
    registry = Registry(
        [
            change_of(Consumer(id="zeta", name="Z", aliases=["shared", "alpha"])),
            change_of(Consumer(id="beta", name="B", aliases=["shared"])),
            change_of(Consumer(id="alpha", name="A")),
        ]
    )
    assert registry.resolve("shared", "", "").consumer == "beta"
    assert registry.resolve("alpha", "", "").consumer == "alpha"
    registry.apply(deletion("consumer", "beta"))
    assert registry.resolve("shared", "", "").consumer == "zeta"


def test_get_and_entities_read_by_kind(registry: Registry) -> None:
    assert registry.get("plan", "pro") == Plan(
        id="pro",
        name="Pro",
        monthly_quota=1_000_000,
        rate_limit="6000/min",
        price_per_unit=0.0004,
        overage_price_per_unit=0.0006,
    )
    assert registry.get("user", "x") is None
    assert [p.id for p in registry.entities("plan")] == ["enterprise", "free", "pro"]
    with pytest.raises(ValueError) as caught:
        registry.apply(msgspec.structs.replace(deletion("plan", "x"), kind="user"))
    expected = (
        "unknown kind 'user': expected one of plan, organisation, consumer, application, credential"
    )
    assert str(caught.value) == expected
