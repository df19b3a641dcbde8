"""Registry files: the YAML document (and the same in JSON), the dump, the round trip,
one-line errors, and no clear credential in anything an import produces."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from registry_samples import CLEAR_KEYS, DATA, HASH, assert_no_clear_key, load

from processors.registry.imports import (
    RegistryFileError,
    dump_registry,
    load_registry,
    load_registry_file,
)
from processors.registry.model import (
    Application,
    Consumer,
    Credential,
    Organisation,
    Plan,
    change_of,
    encode_change,
)
from processors.registry.registry import Registry

FIXTURES = [
    "registry.yaml",
    "registry.csv",
    "kong-consumers.json",
    "kong-key-auths.json",
    "tyk-keys.json",
    "tyk-policies.json",
]


def by_key(changes):
    return sorted(changes, key=lambda c: c.key)


def test_the_yaml_registry_gives_every_entity_with_keys_hashed() -> None:
    changes = load("registry.yaml")
    assert [c.key for c in changes][:12] == [
        "plan:free",
        "plan:pro",
        "plan:enterprise",
        "organisation:acme",
        "organisation:globex",
        "consumer:acme-mobile",
        "consumer:acme-web",
        "consumer:globex-etl",
        "consumer:jane-hobby",
        "application:acme-ios",
        "application:acme-android",
        "application:globex-warehouse-sync",
    ]
    assert [c.entity for c in changes if c.kind == "credential"] == [
        Credential(
            hash=HASH("ak_live_7Hq2LmX9vB4nR8sT1wZ6cY3d"),
            consumer_id="acme-mobile",
            application_id="acme-ios",
            created=date(2023, 11, 2),
        ),
        Credential(
            hash=HASH("ak_live_Pz5Kd8Qf2Jr7Wn4Xb9Mc6Vt1"),
            consumer_id="acme-mobile",
            application_id="acme-android",
        ),
        Credential(hash=HASH("ak_live_Ue3Go6Yh1Ai8Sl5Dk2Fj9Hn4"), consumer_id="acme-web"),
        Credential(
            hash=HASH("ak_old_Rb7Nm2Qw5Et8Yu1Io4Pa6Sd3"),
            consumer_id="acme-web",
            created=date(2024, 1, 10),
            revoked=date(2024, 6, 30),
        ),
        Credential(
            hash=HASH("gx_prod_Cv9Bn3Mk6Lj1Hg4Fd7Sa2Qw8"),
            consumer_id="globex-etl",
            application_id="globex-warehouse-sync",
        ),
        Credential(hash="3f9a1c27d84b56e0a1b2c3d4e5f60718", consumer_id="jane-hobby"),
        Credential(hash="0a1b2c3d4e5f60718293a4b5c6d7e8f9", consumer_id="jane-hobby"),
    ]
    assert changes[5].entity == Consumer(
        id="acme-mobile",
        name="Acme mobile apps",
        organisation_id="acme",
        plan_id="pro",
        aliases=["crm-4200", "9a0c6b1e-4a43-4d55-9a1e-0f3f1e5b7c22"],
        tags=["mobile"],
        created=date(2023, 11, 2),
        first_call=date(2023, 11, 5),
    )


def test_yaml_round_trips_through_the_dump(tmp_path: Path) -> None:
    changes = load("registry.yaml")
    dump = dump_registry(changes)
    (tmp_path / "dump.yaml").write_text(dump)
    again = load_registry_file(tmp_path / "dump.yaml", HASH)
    assert by_key(again) == by_key(changes)
    assert dump_registry(again) == dump


def test_the_dump_leaves_defaults_out_and_writes_hashes_only() -> None:
    changes = [
        change_of(Plan(id="free", name="Free", monthly_quota=10_000, rate_limit="10/s")),
        change_of(Organisation(id="acme", name="Acme Corp", created=date(2023, 11, 2))),
        change_of(Consumer(id="acme-web", name="Acme web", organisation_id="acme", tags=["eu"])),
        change_of(Application(id="shop", name="Shop", consumer_id="acme-web", plan_id="free")),
        change_of(
            Credential(hash=HASH("ak_live_Ue3Go6Yh1Ai8Sl5Dk2Fj9Hn4"), consumer_id="acme-web")
        ),
    ]
    assert dump_registry(changes) == (
        "# apim consumer registry; credentials are keyed hashes, never clear keys\n"
        "plans:\n"
        "- id: free\n"
        "  name: Free\n"
        "  monthly_quota: 10000\n"
        "  rate_limit: 10/s\n"
        "organisations:\n"
        "- id: acme\n"
        "  name: Acme Corp\n"
        "  created: 2023-11-02\n"
        "consumers:\n"
        "- id: acme-web\n"
        "  name: Acme web\n"
        "  organisation_id: acme\n"
        "  tags:\n"
        "  - eu\n"
        "applications:\n"
        "- id: shop\n"
        "  name: Shop\n"
        "  consumer_id: acme-web\n"
        "  plan_id: free\n"
        "credentials:\n"
        f"- hash: {HASH('ak_live_Ue3Go6Yh1Ai8Sl5Dk2Fj9Hn4')}\n"
        "  consumer_id: acme-web\n"
    )


def test_an_empty_registry_dumps_to_a_file_that_loads_as_empty() -> None:
    dump = dump_registry([])
    assert dump.endswith(
        "plans: []\norganisations: []\nconsumers: []\napplications: []\ncredentials: []\n"
    )
    assert load_registry(dump.encode(), "yaml", "empty.yaml", HASH) == []


_ids = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1)
_hashes = st.text("0123456789abcdef", min_size=32, max_size=32)


@settings(max_examples=200, deadline=None)
@given(
    consumers=st.lists(st.tuples(_ids, _ids, st.lists(_ids, max_size=3)), max_size=5),
    hashes=st.lists(_hashes, max_size=5),
    quota=st.none() | st.integers(0, 2**62),
    price=st.floats(0, 1e6, allow_nan=False),
)
def test_any_registry_round_trips_through_the_dump(consumers, hashes, quota, price) -> None:
    changes = [change_of(Plan(id="p", name="P", monthly_quota=quota, price_per_unit=price))]
    changes += [change_of(Consumer(id=i, name=n, tags=t)) for i, n, t in consumers]
    changes += [change_of(Credential(hash=h, consumer_id="c")) for h in hashes]
    expected = Registry(changes).snapshot()
    again = load_registry(dump_registry(changes).encode(), "yaml", "dump.yaml", HASH)
    assert by_key(again) == by_key(expected)


def test_the_registry_document_in_json_reads_like_the_yaml() -> None:
    document = yaml.safe_load((DATA / "registry.yaml").read_text())
    data = json.dumps(document, default=str).encode()
    assert load_registry(data, "json", "registry.json", HASH) == load("registry.yaml")


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        (
            "r.yaml",
            "",
            "r.yaml: expected one or more of the sections plans, organisations, consumers, applications, credentials",
        ),
        (
            "r.yaml",
            "plans: []\norganizations: []\n",
            "r.yaml:2: unknown section 'organizations': the sections are plans, organisations, consumers, applications, credentials",
        ),
        ("r.yaml", "plans:\n  id: pro\n", "r.yaml:1: plans: expected a list of entries"),
        ("r.yaml", "plans:\n  - pro\n", "r.yaml:1: plans[0]: expected a mapping of fields"),
        (
            "r.yaml",
            "plans:\n  - id: pro\n    name: Pro\n    rate_limit: 100 per second\n",
            'r.yaml:4: plans[0].rate_limit: invalid value; write it as "<n>/s", "<n>/min", "<n>/h" or "<n>/day" (or "<n>/<k>s")',
        ),
        (
            "r.yaml",
            "consumers:\n  - id: a\n    name: A\n    created: 2024-01-01T10:00:00Z\n",
            "r.yaml:4: consumers[0].created: expected date | null, got datetime; write dates as YYYY-MM-DD",
        ),
        (
            "r.yaml",
            "consumers:\n  - id: a\n    name: A\n  - id: b\n    name: B\n  - id: a\n    name: C\n",
            "r.yaml:6: consumers[2]: id 'a' is also consumers[0]: keep one",
        ),
        (
            "r.yaml",
            "consumers:\n  - id: a\n    name: A\n    plan_id: free\n    plan_id: pro\n",
            "r.yaml:5: 'plan_id' is given twice: keep one",
        ),
        (
            "r.yaml",
            "consumers:\n  - id: 4200\n    name: A\n",
            "r.yaml:2: consumers[0].id: expected str, got int; quote the value",
        ),
        (
            "r.yaml",
            "consumers:\n  - id: a\n    nmae: A\n",
            "r.yaml:3: consumers[0].nmae: unknown field; did you mean 'name'? a consumer has id, name, organisation_id, plan_id, aliases, tags, created, first_call, churned",
        ),
        (
            "r.yaml",
            "plans: [\n",
            "r.yaml:2: invalid YAML: expected the node content, but found '<stream end>' (column 1)",
        ),
        (
            "r.json",
            '{"plans": [}',
            "r.json: invalid JSON: JSON is malformed: invalid character (byte 11)",
        ),
        (
            "r.json",
            '{"consumers": [{"id": "a"}]}',
            "r.json: consumers[0].name: missing: add it",
        ),
        ("r.yaml", b"plans: [\xff]\n", "r.yaml: not UTF-8 text (byte 8): save it as UTF-8"),
        (
            "r.json",
            '{"items": []}',
            "r.json: not a registry document (plans, organisations, consumers, applications, credentials), a Kong /consumers or credential export, nor Tyk key sessions or policies",
        ),
    ],
)
def test_a_bad_file_is_one_line_naming_where_and_how_to_fix(name, content, error) -> None:
    data = content if isinstance(content, bytes) else content.encode()
    with pytest.raises(RegistryFileError) as caught:
        load_registry(data, "yaml" if name.endswith(".yaml") else "json", name, HASH)
    assert str(caught.value) == error


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("r.txt", "r.txt: unsupported file type '.txt': name it .yaml, .yml, .csv or .json"),
        (
            "registry",
            "registry: unsupported file without an extension: name it .yaml, .yml, .csv or .json",
        ),
    ],
)
def test_the_extension_names_the_format(tmp_path: Path, name: str, error: str) -> None:
    (tmp_path / name).write_text("plans: []\n")
    with pytest.raises(RegistryFileError) as caught:
        load_registry_file(tmp_path / name, HASH)
    assert str(caught.value) == f"{tmp_path}/{error}"


@pytest.mark.parametrize(
    ("credential", "error"),
    [
        (
            "    key: 12345678\n",
            "r.yaml:3: credentials[0].key: expected a string, got int: quote the key",
        ),
        (
            "    key: ''\n",
            "r.yaml:3: credentials[0].key: empty key: give the credential, or leave the row without one",
        ),
        (
            "    key: sha:ak_live_7Hq2LmX9vB4nR8sT1wZ6cY3d\n",
            "r.yaml:3: credentials[0].key: after 'sha:' give the 32 hex characters of a keyed hash",
        ),
        (
            "    key: ak_live_7Hq2LmX9vB4nR8sT1wZ6cY3d\n    hash: 3f9a1c27d84b56e0a1b2c3d4e5f60718\n",
            "r.yaml:3: credentials[0].key: give `key` or `hash`, not both",
        ),
        (
            "    application_id: ios\n",
            "r.yaml:2: credentials[0].key: missing: give the clear `key` (hashed at import) or `hash`",
        ),
        (
            "    key: ak_live_7Hq2LmX9vB4nR8sT1wZ6cY3d\n  - consumer_id: a\n    key: ak_live_7Hq2LmX9vB4nR8sT1wZ6cY3d\n",
            "r.yaml:4: credentials[1]: the same credential as credentials[0]: keep one",
        ),
        (
            "    key: ak_live_7Hq2LmX9vB4nR8sT1wZ6cY3d: x\n",
            "r.yaml:3: invalid YAML: mapping values are not allowed here (column 42)",
        ),
        (
            "    key: 'ak_live_7Hq2LmX9vB4nR8sT1wZ6cY3d\n",
            "r.yaml:4: invalid YAML: found unexpected end of stream (column 1)",
        ),
    ],
)
def test_credential_errors_never_quote_the_key(credential: str, error: str) -> None:
    content = f"credentials:\n  - consumer_id: a\n{credential}".encode()
    with pytest.raises(RegistryFileError) as caught:
        load_registry(content, "yaml", "r.yaml", HASH)
    assert str(caught.value) == error
    assert_no_clear_key(str(caught.value))


def test_an_unreadable_file_is_a_registry_file_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryFileError) as caught:
        load_registry_file(tmp_path / "missing.yaml", HASH)
    assert (
        str(caught.value)
        == f"{tmp_path / 'missing.yaml'}: cannot read it: No such file or directory"
    )


def test_no_clear_key_of_the_fixtures_is_in_changes_dumps_or_snapshots() -> None:
    assert len(CLEAR_KEYS) == 15
    changes = [change for name in FIXTURES for change in load(name)]
    assert len(changes) == 49
    for change in changes:
        assert_no_clear_key(encode_change(change))
        assert_no_clear_key(repr(change))
    registry = Registry(changes)
    assert_no_clear_key(dump_registry(changes))
    assert_no_clear_key(repr(registry.snapshot()))
    assert_no_clear_key(repr(vars(registry)))
