"""The registry's own file: YAML (or the same in JSON) with one list per kind.

    plans: [{id, name, monthly_quota, rate_limit, price_per_unit, overage_price_per_unit}]
    organisations: [{id, name, tags, created}]
    consumers: [{id, name, organisation_id, plan_id, aliases, tags, created, first_call, churned}]
    applications: [{id, name, consumer_id, plan_id, tags, created}]
    credentials: [{key | hash, consumer_id, application_id, created, revoked}]

A credential's `key` is the clear credential, hashed at import ("sha:<hex>": already keyed);
`hash` is the keyed hash itself (what a dump writes). Errors name the YAML line.
"""

from __future__ import annotations

from typing import Any

import yaml

from processors.registry.imports_common import Hasher, credential_fields, file_error
from processors.registry.model import KINDS, Change, EntityError, change_of, entity_id, entity_of

SECTIONS = {f"{kind}s": kind for kind in KINDS}
"""Section name -> kind ("plans" -> "plan"), in file order."""


class _Map(dict):
    """A YAML mapping that remembers where it and each of its keys are (1-based lines)."""

    line: int
    key_lines: dict[str, int]


class _Loader(yaml.SafeLoader):
    pass


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: str, line: int) -> None:
        super().__init__(key)
        self.key, self.line = key, line


def _mapping(loader: _Loader, node: yaml.MappingNode) -> _Map:
    found = _Map(loader.construct_mapping(node, deep=True))
    found.line = node.start_mark.line + 1
    found.key_lines = {}
    for key, _ in node.value:
        if isinstance(key, yaml.ScalarNode):
            if key.value in found.key_lines:
                raise _DuplicateKey(key.value, key.start_mark.line + 1)
            found.key_lines[key.value] = key.start_mark.line + 1
    return found


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read_yaml(text: str, name: str) -> Any:
    """Parse YAML; errors give the line and the problem, never the text (it may hold keys)."""
    try:
        return yaml.load(text, Loader=_Loader)
    except _DuplicateKey as exc:
        raise file_error(name, f"{exc.key!r} is given twice: keep one", line=exc.line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = f" (column {mark.column + 1})" if mark else ""
        raise file_error(name, f"invalid YAML: {exc.problem}{column}", line=line) from None
    except yaml.YAMLError as exc:
        raise file_error(name, f"invalid YAML: {type(exc).__name__}") from None


def is_document(root: Any) -> bool:
    """Whether parsed JSON is a registry document rather than a gateway export."""
    return isinstance(root, dict) and bool(root.keys() & SECTIONS.keys())


def document_changes(doc: Any, name: str, hash_credential: Hasher) -> list[Change]:
    """The changes a registry document (parsed YAML or JSON) asks for, section by section."""
    if not is_document(doc):
        raise file_error(name, f"expected one or more of the sections {', '.join(SECTIONS)}")
    for section in doc:
        if section not in SECTIONS:
            raise file_error(
                name,
                f"unknown section {section!r}: the sections are {', '.join(SECTIONS)}",
                line=_line(doc, section),
            )
    changes: list[Change] = []
    for section, kind in SECTIONS.items():
        changes += _section(doc, section, kind, name, hash_credential)
    return changes


def _section(doc: dict, section: str, kind: str, name: str, hasher: Hasher) -> list[Change]:
    items = doc.get(section) or []
    if not isinstance(items, list):
        raise file_error(name, "expected a list of entries", line=_line(doc, section), at=section)
    seen: dict[str, int] = {}
    changes = []
    for index, item in enumerate(items):
        at = f"{section}[{index}]"
        if not isinstance(item, dict):
            raise file_error(name, "expected a mapping of fields", line=_line(doc, section), at=at)
        try:
            fields = credential_fields(item, hasher) if kind == "credential" else item
            entity = entity_of(kind, fields)
        except EntityError as exc:
            line = _line(item, exc.field.split(".")[0].split("[")[0])
            field = f"{at}.{exc.field}" if exc.field else at
            raise file_error(name, exc.message, line=line, at=field) from None
        key = entity_id(entity)
        if key in seen:
            other = f"{section}[{seen[key]}]"
            what = "the same credential as" if kind == "credential" else f"id {key!r} is also"
            raise file_error(name, f"{what} {other}: keep one", line=_line(item, ""), at=at)
        seen[key] = index
        changes.append(change_of(entity))
    return changes


def _line(container: Any, key: str) -> int | None:
    """The line of `key` in a YAML mapping, else of the mapping; None for JSON."""
    if not isinstance(container, _Map):
        return None
    return container.key_lines.get(key, container.line)
