"""The in-memory registry every worker keeps, and who an event's caller is according to it.

It is fed `Change`s (from the compacted registry topic, an import, the HTTP API) and answers
`resolve` for every event, so lookups are a few dict reads. Changes replace whole entities
and may come in any order of keys (a credential before its consumer): references are only
followed when resolving, never checked on apply.

Identities are the registry's ids (stable keys for aggregates; names are display labels).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from processors.registry.model import (
    KINDS,
    Application,
    Change,
    Consumer,
    Credential,
    Entity,
    change_of,
)


@dataclass(frozen=True, slots=True)
class Identity:
    consumer: str
    application: str
    organisation: str
    plan: str
    known: bool
    """True when the registry knows the caller (by credential, consumer name or alias)."""


class Registry:
    def __init__(self, changes: Iterable[Change] = ()) -> None:
        self._consumers: dict[str, Consumer] = {}
        self._applications: dict[str, Application] = {}
        self._credentials: dict[str, Credential] = {}
        self._tables: dict[str, dict[str, Any]] = {
            "plan": {},
            "organisation": {},
            "consumer": self._consumers,
            "application": self._applications,
            "credential": self._credentials,
        }
        self._aliases: dict[str, set[str]] = {}
        """Alias -> the consumers that claim it (normally one)."""
        for change in changes:
            self.apply(change)

    def apply(self, change: Change) -> None:
        """Store or delete one entity; applying the same change again changes nothing."""
        table = self._tables.get(change.kind)
        if table is None:
            raise ValueError(f"unknown kind {change.kind!r}: expected one of {', '.join(KINDS)}")
        old = table.pop(change.id, None)
        if isinstance(old, Consumer):
            self._unalias(old)
        if change.entity is not None:
            table[change.id] = change.entity
            if isinstance(change.entity, Consumer):
                self._alias(change.entity)

    def get(self, kind: str, id: str) -> Entity | None:
        """The entity `kind:id`, or None (an unknown kind has none)."""
        return self._tables.get(kind, {}).get(id)

    def entities(self, kind: str) -> list[Entity]:
        """Every entity of a kind, by id."""
        table = self._tables[kind]
        return [table[id] for id in sorted(table)]

    def snapshot(self) -> list[Change]:
        """Every live entity as a change, kinds in file order, then by id: to export or reseed."""
        return [change_of(entity) for kind in KINDS for entity in self.entities(kind)]

    def resolve(self, consumer: str, application: str, credential_hash: str) -> Identity:
        """Who called: by credential (unless revoked), else by the gateway's consumer name or
        one of its aliases; else the gateway's names, unknown to the registry."""
        credential = self._credentials.get(credential_hash) if credential_hash else None
        if credential is not None and credential.revoked is None:
            found = self._consumer_named(credential.consumer_id)
            consumer_id = found.id if found else credential.consumer_id
            return self._identity(consumer_id, found, credential.application_id or application)
        found = self._consumer_named(consumer)
        if found is not None:
            return self._identity(found.id, found, application)
        return Identity(consumer, application, "", "", False)

    def _identity(self, consumer_id: str, consumer: Consumer | None, application: str) -> Identity:
        """The plan is the application's when it has one and belongs to this consumer."""
        plan = consumer.plan_id if consumer else ""
        app = self._applications.get(application)
        if app is not None and app.plan_id and self._owner(app) == consumer_id:
            plan = app.plan_id
        organisation = consumer.organisation_id if consumer else ""
        return Identity(consumer_id, application, organisation, plan, True)

    def _owner(self, app: Application) -> str:
        found = self._consumer_named(app.consumer_id)
        return found.id if found else app.consumer_id

    def _consumer_named(self, name: str) -> Consumer | None:
        """The consumer with this id, else the one with this alias (the least id on a tie)."""
        found = self._consumers.get(name)
        if found is None and name in self._aliases:
            found = self._consumers[min(self._aliases[name])]
        return found

    def _alias(self, consumer: Consumer) -> None:
        for alias in consumer.aliases:
            self._aliases.setdefault(alias, set()).add(consumer.id)

    def _unalias(self, consumer: Consumer) -> None:
        for alias in consumer.aliases:
            owners = self._aliases.get(alias)
            if owners is not None:
                owners.discard(consumer.id)
                if not owners:
                    del self._aliases[alias]
