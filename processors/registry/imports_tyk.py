"""Tyk exports: key sessions (-> consumers and credentials) and policies (-> plans).

Key sessions, in any of these shapes:
- the Dashboard's `GET /api/keys/detailed`: `{"keys": [{"key_id": …, "data": {session}}]}`;
- a map `{"keys": {"<key id>": {session}, …}}` or `{"<key id>": {session}, …}`;
- a list of session objects, each with its `key_id`.
The key id must be what Tyk logs as `api_key` (the clear key, or its hash when the gateway
has `hash_keys` on, which is then also what it lists): it is hashed with apim's keyed hash
and never kept. A key's consumer is its `alias` (as in the Tyk parser) and its plan the
first of `apply_policies` (else `apply_policy_id`); keys of one alias must share that plan,
their tags are merged and the consumer's `created` is the earliest `date_created`. A key
without an alias names nobody: it is not imported (its calls show as `unknown:<hash>`).
Tyk's `org_id` is the Tyk tenant, not the customer, so it is not an organisation.

Policies (`GET /tyk/policies` list, the Dashboard's `{"Data": [...]}`, or a policies.json
map `{"<id>": {policy}}`): plan id = the map key, else `id`, else `_id` (what
`apply_policies` refers to); `quota_max` per `quota_renewal_rate` seconds becomes a monthly
quota (a month of 30 days, Tyk's "monthly"; -1: unlimited; no renewal: `quota_max` as is);
`rate` per `per` seconds becomes the rate limit ("1000/min").
"""

from __future__ import annotations

from datetime import date
from typing import Any

import msgspec

from processors.registry.imports_common import Hasher, convert, file_error
from processors.registry.model import Change, Consumer, Credential, Plan, change_of

MONTH_S = 30 * 86400
_UNITS = {1: "s", 60: "min", 3600: "h", 86400: "day"}
_SESSION_FIELDS = frozenset({"alias", "apply_policies", "apply_policy_id", "allowance"})
_ZERO_TIME = "0001-01-01"
"""Go's zero time: Tyk's "no date"."""

Entry = tuple[str, str, Any]
"""(where in the file, the map key or "", the object)."""


class _Session(msgspec.Struct):
    alias: str = ""
    apply_policies: list[str] | None = None
    apply_policy_id: str = ""
    tags: list[str] | None = None
    date_created: str = ""
    key_id: str = ""


class _Policy(msgspec.Struct):
    id: str = ""
    db_id: str = msgspec.field(default="", name="_id")
    name: str = ""
    rate: float = 0
    per: float = 0
    quota_max: int = -1
    quota_renewal_rate: int = 0


def read(root: Any, name: str, hash_credential: Hasher) -> list[Change] | None:
    """The changes of a Tyk export, or None when `root` is not one."""
    found = _entries(root, name)
    if found is None:
        return None
    shape, entries = found
    if shape == "policy":
        return [change_of(_plan(entry, name)) for entry in entries]
    return _keys(entries, name, hash_credential)


def _entries(root: Any, name: str) -> tuple[str, list[Entry]] | None:
    if isinstance(root, dict) and "keys" in root:
        return "session", _key_entries(root["keys"], name)
    if isinstance(root, dict) and isinstance(root.get("Data"), list):
        entries = [(f"Data[{i}]", "", item) for i, item in enumerate(root["Data"])]
    elif isinstance(root, list):
        entries = [(f"[{i}]", "", item) for i, item in enumerate(root)]
    elif isinstance(root, dict) and root and all(isinstance(v, dict) for v in root.values()):
        entries = _map_entries(root)
    else:
        return None
    shape = _shape(entries[0][2]) if entries else None
    if shape is None:
        return None
    for at, _, item in entries:
        if _shape(item) != shape:
            raise file_error(name, f"not a Tyk {shape} like the first entry", at=at)
    return shape, entries


def _key_entries(keys: Any, name: str) -> list[Entry]:
    if isinstance(keys, dict):
        entries = _map_entries(keys, "keys ")
    elif isinstance(keys, list):
        if keys and all(isinstance(key, str) for key in keys):
            message = "key ids without their sessions: export GET /api/keys/detailed (Dashboard)"
            raise file_error(name, message, at="keys")
        entries = [(f"keys[{index}]", "", item) for index, item in enumerate(keys)]
    else:
        raise file_error(name, "expected a list or a map of key sessions", at="keys")
    for at, _, item in entries:
        if not isinstance(item, dict):
            raise file_error(name, "expected a key session object", at=at)
    return entries


def _map_entries(found: dict[str, Any], prefix: str = "") -> list[Entry]:
    """A map's entries; where: a policy's id, but a key's position (the key is secret)."""
    policies = not prefix and _shape(next(iter(found.values()), None)) == "policy"
    return [
        (f"[{key!r}]" if policies else f"{prefix}entry {index + 1}", key, item)
        for index, (key, item) in enumerate(found.items())
    ]


def _shape(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("data"), dict) and "key_id" in item:
        return "session"
    if item.keys() & _SESSION_FIELDS:
        return "session"
    if "name" in item and ("rate" in item or "quota_max" in item):
        return "policy"
    return None


def _keys(entries: list[Entry], name: str, hash_credential: Hasher) -> list[Change]:
    consumers: dict[str, tuple[Consumer, str]] = {}
    credentials: dict[str, Credential] = {}
    for at, key_id, item in entries:
        if isinstance(item.get("data"), dict):  # the Dashboard's {"key_id", "data"} wrapper
            at, key_id, item = f"{at}.data", str(item.get("key_id") or ""), item["data"]
        session = convert(item, _Session, name, at)
        key = key_id or session.key_id
        if not key:
            raise file_error(name, "no key id: export the keys with their ids", at=at)
        if not session.alias:
            continue
        created = _date(session.date_created, name, at)
        consumer = _consumer(session, created, consumers.get(session.alias), name, at)
        consumers[session.alias] = consumer
        digest = hash_credential(key)
        credentials[digest] = Credential(hash=digest, consumer_id=session.alias, created=created)
    entities = [consumer for consumer, _ in consumers.values()] + list(credentials.values())
    return [change_of(entity) for entity in entities]


def _consumer(
    session: _Session,
    created: date | None,
    before: tuple[Consumer, str] | None,
    name: str,
    at: str,
) -> tuple[Consumer, str]:
    """The alias's consumer with this key's session added."""
    plan = (session.apply_policies or [session.apply_policy_id])[0]
    tags = session.tags or []
    if before is None:
        alias = session.alias
        return Consumer(id=alias, name=alias, plan_id=plan, tags=tags, created=created), at
    first, first_at = before
    if plan != first.plan_id:
        message = (
            f"alias {session.alias!r} has policy {first.plan_id!r} at {first_at}: "
            "give keys of different policies their own alias"
        )
        raise file_error(name, message, at=f"{at}.apply_policies")
    dates = [d for d in (first.created, created) if d]
    merged = msgspec.structs.replace(
        first,
        tags=list(dict.fromkeys([*first.tags, *tags])),
        created=min(dates) if dates else None,
    )
    return merged, first_at


def _plan(entry: Entry, name: str) -> Plan:
    at, key, item = entry
    policy = convert(item, _Policy, name, at)
    plan_id = key or policy.id or policy.db_id
    if not plan_id:
        raise file_error(name, "no id nor _id: export the policies with their ids", at=at)
    return Plan(
        id=plan_id,
        name=policy.name or plan_id,
        monthly_quota=_monthly(policy.quota_max, policy.quota_renewal_rate),
        rate_limit=_rate_limit(policy.rate, policy.per),
    )


def _monthly(quota_max: int, renewal_s: int) -> int | None:
    if quota_max < 0:
        return None
    if renewal_s <= 0:
        return quota_max
    return round(quota_max * MONTH_S / renewal_s)


def _rate_limit(rate: float, per_s: float) -> str:
    if rate <= 0 or per_s <= 0:
        return ""
    if per_s != int(per_s):
        return f"{_number(rate / per_s)}/s"
    per = int(per_s)
    return f"{_number(rate)}/{_UNITS.get(per) or f'{per}s'}"


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.6f}".rstrip("0")


def _date(text: str, name: str, at: str) -> date | None:
    if not text or text.startswith(_ZERO_TIME):
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise file_error(name, "not an RFC 3339 time", at=f"{at}.date_created") from None
