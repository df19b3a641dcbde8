"""The registry fixtures of tests/data/registry, the test hasher, and every clear credential
they hold (read from the fixtures themselves), to scan outputs for."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

from processors.parsers.base import CredentialHasher
from processors.registry.imports import load_registry_file
from processors.registry.imports_common import HASHED_PREFIX
from processors.registry.model import Change

DATA = Path(__file__).parents[2] / "data" / "registry"
HASH = CredentialHasher(b"test-secret")


def load(name: str) -> list[Change]:
    return load_registry_file(DATA / name, HASH)


def _clear_keys() -> list[str]:
    document = yaml.safe_load((DATA / "registry.yaml").read_text())
    keys = [item["key"] for item in document["credentials"] if "key" in item]
    with (DATA / "registry.csv").open(newline="") as rows:
        keys += [row["key"] for row in csv.DictReader(rows) if row["key"]]
    kong = json.loads((DATA / "kong-key-auths.json").read_text())["data"]
    keys += [item["key"] for item in kong] + [item["id"] for item in kong]
    keys += [item["key_id"] for item in json.loads((DATA / "tyk-keys.json").read_text())["keys"]]
    return sorted({key for key in keys if not key.startswith(HASHED_PREFIX)})


CLEAR_KEYS = _clear_keys()
"""Every credential the fixtures give in clear (Kong's credential ids too: Kong logs them)."""


def assert_no_clear_key(text: str | bytes) -> None:
    found = text.decode() if isinstance(text, bytes) else text
    leaked = [key for key in CLEAR_KEYS if key in found]
    assert not leaked, f"clear credentials in the output: {leaked}"
