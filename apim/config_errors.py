"""One pydantic validation error as one short line, for the config files users write (log
mappings, the API catalog): `key.path: what is wrong`, unknown keys with the allowed ones."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel

_TYPE_ERRORS = {
    "string_type": "expected a string",
    "tuple_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
}


def describe(error: Any, root: type[BaseModel]) -> str:
    """`error` (one of `ValidationError.errors()`) of a document validated as `root`."""
    where = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "missing":
        message = "required"
    elif kind == "extra_forbidden":
        message = f"unknown key; expected one of {', '.join(_keys_at(root, error['loc']))}"
    elif kind == "literal_error":
        expected = error["ctx"]["expected"].replace(" or ", ", ").replace("'", "")
        message = f"expected one of {expected}"
    elif kind == "value_error":
        message = str(error["ctx"]["error"])
    else:
        message = _TYPE_ERRORS.get(kind) or error["msg"][:1].lower() + error["msg"][1:]
    return f"{where}: {message}" if where else message


def _keys_at(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed where the unknown key at `loc` was found."""
    model = root
    for part in loc[:-1]:
        if isinstance(part, int):  # an item of a list
            continue
        annotation = model.model_fields[part].annotation
        model = next(
            t
            for t in (annotation, *typing.get_args(annotation))
            if isinstance(t, type) and issubclass(t, BaseModel)
        )
    return [field.alias or name for name, field in model.model_fields.items()]
