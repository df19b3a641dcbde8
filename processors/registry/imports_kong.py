"""Kong Admin API exports: `GET /consumers` and a credential listing (`GET /key-auths`).

Both are pages `{"data": [...], "next": ...}` (a bare list of the same objects is taken too);
each page can be imported on its own.

Consumers: the registry id is what the Kong parser names a consumer (`username`, else
`custom_id`, else Kong's `id`); the other two become aliases, so credentials and logs that
name the consumer another way still find it. Tags `org:<id>` and `plan:<id>` set the
consumer's organisation and plan (those ids are the registry's; the organisation and plan
themselves come from a registry file or the HTTP API); other tags are kept as tags.

Credentials: Kong logs a credential as `authenticated_entity.id`, the credential's own `id`
(not the key), so that id is what is hashed; the clear `key` (or password, secret) is never
read. The credential's consumer is Kong's consumer `id`, found through the alias above.
The same shape comes from `/basic-auths`, `/jwts`, `/oauth2`, `/hmac-auths`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import msgspec

from processors.registry.imports_common import Hasher, convert, file_error
from processors.registry.model import Change, Consumer, Credential, change_of

ORG_TAG = "org:"
PLAN_TAG = "plan:"


class _Consumer(msgspec.Struct):
    id: str
    username: str | None = None
    custom_id: str | None = None
    tags: list[str] | None = None
    created_at: int | float | None = None


class _Reference(msgspec.Struct):
    id: str


class _Credential(msgspec.Struct):
    id: str
    consumer: _Reference
    created_at: int | float | None = None


def read(root: Any, name: str, hash_credential: Hasher) -> list[Change] | None:
    """The changes of a Kong export, or None when `root` is not one."""
    if isinstance(root, dict) and isinstance(root.get("data"), list):
        items, where = root["data"], "data"
    elif isinstance(root, list) and root:
        items, where = root, ""
    else:
        return None
    if not items:
        return []
    kind = _kind(items[0])
    if kind is None:
        return None
    changes = []
    for index, item in enumerate(items):
        at = f"{where}[{index}]"
        if _kind(item) != kind:
            raise file_error(
                name, f"not a Kong {kind} like the first entry: one export per file", at=at
            )
        if kind == "consumer":
            changes.append(change_of(_consumer(convert(item, _Consumer, name, at), name, at)))
        else:
            credential = convert(item, _Credential, name, at)
            changes.append(change_of(_credential(credential, hash_credential)))
    return changes


def _kind(item: Any) -> str | None:
    if not isinstance(item, dict) or "id" not in item:
        return None
    if isinstance(item.get("consumer"), dict):
        return "credential"
    if "username" in item or "custom_id" in item:
        return "consumer"
    return None


def _consumer(item: _Consumer, name: str, at: str) -> Consumer:
    names = list(dict.fromkeys(n for n in (item.username, item.custom_id, item.id) if n))
    if not names:
        raise file_error(name, "no username, custom_id nor id: name the consumer", at=at)
    tags, said = [], {ORG_TAG: "", PLAN_TAG: ""}
    for tag in item.tags or ():
        prefix = tag[: tag.find(":") + 1]
        if prefix not in said:
            tags.append(tag)
        elif said[prefix]:
            raise file_error(name, f"more than one {prefix} tag: keep one", at=f"{at}.tags")
        else:
            said[prefix] = tag[len(prefix) :]
    return Consumer(
        id=names[0],
        name=names[0],
        organisation_id=said[ORG_TAG],
        plan_id=said[PLAN_TAG],
        aliases=names[1:],
        tags=tags,
        created=_date(item.created_at),
    )


def _credential(item: _Credential, hash_credential: Hasher) -> Credential:
    return Credential(
        hash=hash_credential(item.id),
        consumer_id=item.consumer.id,
        created=_date(item.created_at),
    )


def _date(epoch_s: float | None) -> date | None:
    return datetime.fromtimestamp(epoch_s, UTC).date() if epoch_s else None
