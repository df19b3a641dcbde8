"""Registry files in and out: import (YAML, CSV, gateway JSON exports) and the YAML dump.

`load_registry_file` picks the format from the extension (.yaml/.yml, .csv, .json); a JSON
file is recognised by its shape: the registry's own document, a Kong Admin API export or a
Tyk keys/policies export (see `imports_document`, `imports_csv`, `imports_kong`,
`imports_tyk`), and refused with a clear error when none fits. An import only adds or
replaces the entities it names (it never deletes). Credentials are hashed as they are read;
errors are one line, "<file>:<line>: <where>: what is wrong, how to fix", without values
of credentials.

`dump_registry` writes the registry document with credentials as `hash:` only, so that
loading a dump gives the same changes back.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path, PurePath
from typing import Any, Literal

import msgspec
import yaml

from processors.registry import imports_kong, imports_tyk
from processors.registry.imports_common import Hasher, RegistryFileError, file_error
from processors.registry.imports_csv import csv_changes
from processors.registry.imports_document import (
    SECTIONS,
    document_changes,
    is_document,
    read_yaml,
)
from processors.registry.model import Change, Entity
from processors.registry.registry import Registry

Format = Literal["yaml", "csv", "json"]
FORMATS: dict[str, Format] = {".yaml": "yaml", ".yml": "yaml", ".csv": "csv", ".json": "json"}
DUMP_HEADER = "# apim consumer registry; credentials are keyed hashes, never clear keys\n"
_GATEWAY_READERS = (imports_kong.read, imports_tyk.read)

__all__ = ["FORMATS", "RegistryFileError", "dump_registry", "load_registry", "load_registry_file"]


def format_of(file_name: str) -> Format:
    """The format a file's extension names; `RegistryFileError` for any other."""
    suffix = PurePath(file_name).suffix.lower()
    if suffix not in FORMATS:
        kind = f"type {suffix!r}" if suffix else "without an extension"
        raise file_error(file_name, f"unsupported file {kind}: name it .yaml, .yml, .csv or .json")
    return FORMATS[suffix]


def load_registry_file(path: Path, hash_credential: Hasher) -> list[Change]:
    """The changes a registry file asks for; `RegistryFileError` when it cannot be imported."""
    fmt = format_of(str(path))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise file_error(str(path), f"cannot read it: {exc.strerror}") from None
    return load_registry(data, fmt, str(path), hash_credential)


def load_registry(data: bytes, fmt: Format, name: str, hash_credential: Hasher) -> list[Change]:
    """The changes of a registry file's content; `name` is the file named in errors."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise file_error(name, f"not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    if fmt == "yaml":
        return document_changes(read_yaml(text, name), name, hash_credential)
    if fmt == "csv":
        return csv_changes(text, name, hash_credential)
    return _json_changes(_json(text, name), name, hash_credential)


def _json(text: str, name: str) -> Any:
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise file_error(name, f"invalid JSON: {exc}") from None


def _json_changes(root: Any, name: str, hash_credential: Hasher) -> list[Change]:
    if is_document(root):
        return document_changes(root, name, hash_credential)
    for read in _GATEWAY_READERS:
        changes = read(root, name, hash_credential)
        if changes is not None:
            return changes
    raise file_error(
        name,
        f"not a registry document ({', '.join(SECTIONS)}), a Kong /consumers or credential "
        "export, nor Tyk key sessions or policies",
    )


def dump_registry(changes: Iterable[Change]) -> str:
    """The registry the changes make, as a registry YAML file (fields at their default left out)."""
    registry = Registry(changes)
    document = {
        section: [_fields(entity) for entity in registry.entities(kind)]
        for section, kind in SECTIONS.items()
    }
    return DUMP_HEADER + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def _fields(entity: Entity) -> dict[str, Any]:
    values = msgspec.to_builtins(entity, builtin_types=(date,))
    return {
        field.name: values[field.name]
        for field in msgspec.structs.fields(entity)
        if not _is_default(field, getattr(entity, field.name))
    }


def _is_default(field: msgspec.structs.FieldInfo, value: Any) -> bool:
    if field.default is not msgspec.NODEFAULT:
        return value == field.default
    if field.default_factory is not msgspec.NODEFAULT:
        return value == field.default_factory()
    return False
