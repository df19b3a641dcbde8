"""Shared by the parsers of JSON logs: a decoded record as a typed Struct, or why it is not one.

A parser decodes a whole line with a typed msgspec decoder (the fast path). When a line
holds several records and one of them does not fit, it decodes the line untyped and checks
each record alone with `convert`, so a bad record costs only itself; the `Rejected` then
carries that record re-encoded by `encode`.

Reasons name the field first, in msgspec's words:
'Expected `int`, got `str` - at `$.response.status`' -> 'response.status: expected int, got str'.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from processors.parsers.values import FieldError

T = TypeVar("T")


def convert(item: Any, record_type: type[T]) -> T:
    """`item` (decoded JSON) as `record_type`; `FieldError` naming the bad field otherwise."""
    if not isinstance(item, dict):
        raise FieldError(f"record: expected object, got {json_type(item)}")
    try:
        return msgspec.convert(item, record_type)
    except msgspec.ValidationError as exc:
        raise FieldError(validation_reason(exc)) from None


def validation_reason(exc: msgspec.ValidationError) -> str:
    """msgspec's message, field first."""
    message, _, where = str(exc).partition(" - at ")
    path = where.strip("`").removeprefix("$").removeprefix(".")
    message = message.replace("`", "")
    if message.startswith("Object missing required field "):
        field = message.removeprefix("Object missing required field ")
        path = f"{path}.{field}" if path else field
        message = "missing required field"
    message = message[:1].lower() + message[1:]
    return f"{path}: {message}" if path else message


def line_reason(exc: msgspec.ValidationError, line: bytes) -> str:
    """Why a typed decoder refused a whole line; "invalid JSON: …" if it is not even JSON.

    msgspec judges the first value before reading on, so a text log line ("203.0.113.7 - …")
    fails as "expected object, got float"; decoding it untyped tells the real reason.
    """
    if " - at " not in str(exc):  # the root value itself is wrong
        try:
            msgspec.json.decode(line)
        except (msgspec.DecodeError, UnicodeDecodeError) as invalid:
            return f"invalid JSON: {invalid}"
    return validation_reason(exc)


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type ("object", "array", "str", "null", ...)."""
    if value is None:
        return "null"
    return {dict: "object", list: "array"}.get(type(value), type(value).__name__)


def encode(item: Any) -> bytes:
    """A decoded record back to JSON, for the `Rejected` that carries it."""
    try:
        return msgspec.json.encode(item)
    except (TypeError, ValueError):  # cannot happen for decoded JSON; never lose the reject
        return repr(item).encode("utf-8", "backslashreplace")
