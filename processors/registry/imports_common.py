"""What every registry import shares: its error, and how a credential in a file is keyed.

A credential is hashed with the same keyed hash the parsers use, the moment it is read: the
clear key is never stored, returned, nor put in an error message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec

from processors.registry.model import EntityError

Hasher = Callable[[str], str]
"""A `processors.parsers.base.CredentialHasher`: clear credential -> 32 hex characters."""
HASHED_PREFIX = "sha:"
"""A file value "sha:<32 hex>" is a credential already keyed by apim (a dump, another worker)."""
_HEX32 = re.compile("[0-9a-f]{32}")
T = TypeVar("T")


class RegistryFileError(ValueError):
    """A registry file that cannot be imported; one line: "<file>:<where>: what, how to fix"."""


def file_error(
    name: str, message: str, *, line: int | None = None, at: str = ""
) -> RegistryFileError:
    """The error for `name`, at a line (YAML, CSV) and/or a field path."""
    where = f"{name}:{line}" if line else name
    return RegistryFileError(f"{where}: {at}: {message}" if at else f"{where}: {message}")


def keyed_hash(value: object, hash_credential: Hasher) -> str:
    """A credential as a file gives it -> its keyed hash; `ValueError` (never quoting it)."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}: quote the key")
    if value.startswith(HASHED_PREFIX):
        digest = value[len(HASHED_PREFIX) :].lower()
        if not _HEX32.fullmatch(digest):
            raise ValueError(f"after {HASHED_PREFIX!r} give the 32 hex characters of a keyed hash")
        return digest
    if not value:
        raise ValueError("empty key: give the credential, or leave the row without one")
    return hash_credential(value)


def credential_fields(fields: Mapping[str, Any], hash_credential: Hasher) -> dict[str, Any]:
    """A credential's fields with its clear `key` (if given) replaced by its `hash`."""
    found = dict(fields)
    if "key" not in found:
        if "hash" not in found:
            raise EntityError("key", "missing: give the clear `key` (hashed at import) or `hash`")
        return found
    if "hash" in found:
        raise EntityError("key", "give `key` or `hash`, not both")
    try:
        found["hash"] = keyed_hash(found.pop("key"), hash_credential)
    except ValueError as exc:
        raise EntityError("key", str(exc)) from None
    return found


def convert(value: Any, cls: type[T], name: str, at: str) -> T:
    """A gateway export's JSON object -> `cls`; a type error names the field's path."""
    try:
        return msgspec.convert(value, cls)
    except msgspec.ValidationError as exc:
        what, _, path = str(exc).partition(" - at `$")
        message = what.replace("`", "")
        raise file_error(
            name, message[:1].lower() + message[1:], at=at + path.rstrip("`")
        ) from None
