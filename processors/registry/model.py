"""The registry's entities and the `Change` that carries one of them on the registry topic.

Entities are msgspec Structs; on the wire (the compacted Kafka topic, the HTTP API) they are
JSON with dates as ISO strings ("2024-03-01"). A `Change` replaces the whole entity stored
under its key `"<kind>:<id>"` (a credential's id is its hash), or deletes it (`entity` None),
so applying the latest change per key, in any order of keys, gives the current registry.

Credentials are stored only as keyed hashes (`processors.parsers.base.CredentialHasher`,
32 lower-case hex characters): the same hash the parsers put in `credential_hash`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

import msgspec

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
HASH_PATTERN = "^[0-9a-f]{32}$"
RATE_LIMIT_PATTERN = r"^([0-9]+(\.[0-9]+)?/[0-9]*(s|min|h|day))?$"
"""`<requests>/<unit>` or `<requests>/<n><unit>`: "100/s", "6000/min", "500/10s", "" for none."""


class Plan(msgspec.Struct, kw_only=True, frozen=True):
    id: NonEmpty
    name: NonEmpty
    monthly_quota: NonNegativeInt | None = None
    """Calls included per month; None: unlimited."""
    rate_limit: Annotated[str, msgspec.Meta(pattern=RATE_LIMIT_PATTERN)] = ""
    price_per_unit: NonNegative = 0.0
    overage_price_per_unit: NonNegative | None = None
    """Price of a call over the quota; None: calls over the quota are blocked."""


class Organisation(msgspec.Struct, kw_only=True, frozen=True):
    id: NonEmpty
    name: NonEmpty
    tags: list[str] = []
    created: date | None = None


class Consumer(msgspec.Struct, kw_only=True, frozen=True):
    id: NonEmpty
    name: NonEmpty
    organisation_id: str = ""
    plan_id: str = ""
    aliases: list[str] = []
    """The gateways' other names for it (Kong custom_id or consumer id, a Tyk alias …)."""
    tags: list[str] = []
    created: date | None = None
    first_call: date | None = None
    churned: date | None = None


class Application(msgspec.Struct, kw_only=True, frozen=True):
    id: NonEmpty
    name: NonEmpty
    consumer_id: NonEmpty
    plan_id: str = ""
    """Overrides the consumer's plan for calls made by this application."""
    tags: list[str] = []
    created: date | None = None


class Credential(msgspec.Struct, kw_only=True, frozen=True):
    hash: Annotated[str, msgspec.Meta(pattern=HASH_PATTERN)]
    consumer_id: NonEmpty
    application_id: str = ""
    created: date | None = None
    revoked: date | None = None


Entity = Plan | Organisation | Consumer | Application | Credential
KINDS: dict[str, type[Entity]] = {
    "plan": Plan,
    "organisation": Organisation,
    "consumer": Consumer,
    "application": Application,
    "credential": Credential,
}
"""Kind name -> entity type, in the order a registry file lists them."""
KIND_OF: dict[type[Entity], str] = {cls: kind for kind, cls in KINDS.items()}


def entity_id(entity: Entity) -> str:
    """The id of an entity in its kind: its `id`, or a credential's hash."""
    return entity.hash if isinstance(entity, Credential) else entity.id


class Change(msgspec.Struct, kw_only=True, frozen=True):
    kind: str
    id: str
    entity: Entity | None = None
    """The entity stored under this key from now on; None: deleted."""

    @property
    def key(self) -> str:
        """The registry topic's message key (compaction keeps the latest per key)."""
        return f"{self.kind}:{self.id}"


def change_of(entity: Entity) -> Change:
    """The change that stores `entity`."""
    return Change(kind=KIND_OF[type(entity)], id=entity_id(entity), entity=entity)


def deletion(kind: str, id: str) -> Change:
    """The change that deletes the entity `kind:id`."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: expected one of {', '.join(KINDS)}")
    return Change(kind=kind, id=id)


class _WireChange(msgspec.Struct):
    kind: str
    id: str
    entity: msgspec.Raw = msgspec.Raw(b"null")


_WIRE = msgspec.json.Decoder(_WireChange)
_ENCODER = msgspec.json.Encoder()


def encode_change(change: Change) -> bytes:
    """The JSON value of a registry topic message."""
    return _ENCODER.encode(change)


def decode_change(data: bytes) -> Change:
    """A registry topic message -> `Change`; `ValueError` if it is not a valid one."""
    try:
        wire = _WIRE.decode(data)
        cls = KINDS.get(wire.kind)
        if cls is None:
            raise ValueError(f"invalid registry change: unknown kind {wire.kind!r}")
        entity = msgspec.json.decode(wire.entity, type=cls | None)
    except msgspec.DecodeError as exc:  # ValidationError is one
        raise ValueError(f"invalid registry change: {exc}") from None
    if entity is not None and entity_id(entity) != wire.id:
        raise ValueError(f"invalid registry change: key {wire.kind}:{wire.id} holds another id")
    return Change(kind=wire.kind, id=wire.id, entity=entity)


class EntityError(ValueError):
    """An entity that does not validate; `field` names where ("" for the whole object)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


_HINTS = {
    "rate_limit": 'write it as "<n>/s", "<n>/min", "<n>/h" or "<n>/day" (or "<n>/<k>s")',
    "hash": "give the 32 lower-case hex characters apim hashes credentials to, "
    "or the clear key as `key`",
    "created": "write dates as YYYY-MM-DD",
    "first_call": "write dates as YYYY-MM-DD",
    "churned": "write dates as YYYY-MM-DD",
    "revoked": "write dates as YYYY-MM-DD",
}
_MSGSPEC_ERROR = re.compile(r"(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?", re.DOTALL)
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`")


def entity_of(kind: str, fields: Mapping[str, Any]) -> Entity:
    """Validate the fields of one entity of `kind`; `EntityError` names the field at fault."""
    cls = KINDS[kind]
    known = cls.__struct_fields__
    for name in fields:
        if name not in known:
            raise EntityError(str(name), _unknown_field(str(name), kind, known))
    try:
        return msgspec.convert(dict(fields), cls)
    except msgspec.ValidationError as exc:
        raise _entity_error(str(exc)) from None


def _unknown_field(name: str, kind: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown field; {guess}a {kind} has {', '.join(known)}"


def _entity_error(text: str) -> EntityError:
    missing = _MISSING.fullmatch(text)
    if missing:
        return EntityError(missing["field"], "missing: add it")
    found = _MSGSPEC_ERROR.fullmatch(text)
    what, path = (found["what"], found["path"] or "") if found else (text, "")
    path = path.removeprefix(".")
    top = re.match(r"[A-Za-z_]*", path)[0]
    what = "invalid value" if "matching regex" in what else what.replace("`", "")
    what = "empty: give a value" if what == "Expected str of length >= 1" else what
    hint = _HINTS.get(top) or ("quote the value" if what.startswith("Expected str, got") else "")
    message = what[:1].lower() + what[1:]
    return EntityError(path, f"{message}; {hint}" if hint else message)
