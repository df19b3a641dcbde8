"""Dotted paths into the JSON records of a mapping, and the Struct that decodes only them.

A path is dotted keys, `request.headers.user-agent`; a key of digits also indexes a list,
`tries.0.ip`. A path that meets null, a missing key or a list index out of range reads as
unknown; one that meets a value that is not an object (or array, for an index) raises
`BadValue` naming the path and that key.

`RecordPaths(paths).record_type` is a msgspec Struct built from the mapping's own paths, so
that the fast path (`json_framing.JsonRecords`) materialises only the keys the mapping
reads; a subtree read whole or through a list index is decoded as plain JSON. The same
compiled `JsonPath` reads a record decoded that way or as plain JSON (the slow path).

Not supported: keys containing dots.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any

import msgspec

from processors.parsers.fields import BadValue, json_type


class JsonPath:
    """A compiled dotted path into a record (a plain dict or a `RecordPaths` Struct)."""

    __slots__ = ("_fast", "_steps", "text")

    def __init__(self, text: str, steps: tuple[tuple[str, str | None, int | None], ...]) -> None:
        self.text = text
        self._steps = steps  # (key, Struct attribute or None, list index or None)
        attrs = [attr for _, attr, _ in steps]
        self._fast = operator.attrgetter(".".join(attrs)) if all(attrs) else None

    def __call__(self, record: Any) -> Any:
        if self._fast is not None:
            try:
                return self._fast(record)  # Structs all the way down
            except AttributeError:
                pass  # a null on the way, or a plain dict (the untyped path)
        return self._walk(record)

    def _walk(self, record: Any) -> Any:
        node = record
        for depth, (key, attr, index) in enumerate(self._steps):
            if attr is not None and isinstance(node, msgspec.Struct):
                node = getattr(node, attr)
            elif isinstance(node, dict):
                node = node.get(key)
            elif isinstance(node, list) and index is not None:
                node = node[index] if index < len(node) else None
            else:
                expected = "object" if index is None else "object or array"
                where = ".".join(step[0] for step in self._steps[:depth])
                raise BadValue(
                    f"{self.text}: expected {expected} at {where!r}, got {json_type(node)}"
                )
            if node is None:
                return None
        return node


class RecordPaths:
    """The paths a mapping reads from each record: their Struct, and their compiled readers."""

    def __init__(self, paths: Iterable[str]) -> None:
        self._root = _Node()
        for text in paths:
            self._root.add(text.split("."))
        self.record_type = _struct(self._root)

    def path(self, text: str) -> JsonPath:
        """The compiled path; `text` must be one of the paths given at construction."""
        steps, node, typed = [], self._root, True
        for key in text.split("."):
            attr = f"k{list(node.children).index(key)}" if typed else None
            steps.append((key, attr, int(key) if _is_index(key) else None))
            node = node.children[key]
            typed = node.typed()
        return JsonPath(text, tuple(steps))


class _Node:
    """A key of the paths read from a record, with the keys read below it."""

    __slots__ = ("children", "whole")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.whole = False  # some path reads this value itself

    def add(self, keys: list[str]) -> None:
        node = self
        for key in keys:
            node = node.children.setdefault(key, _Node())
        node.whole = True

    def typed(self) -> bool:
        """Decode into a Struct? Not when read whole or indexed (it may be a list)."""
        return bool(self.children) and not self.whole and not any(map(_is_index, self.children))


def _struct(node: _Node) -> type:
    fields = [
        (f"k{i}", (_struct(child) | None) if child.typed() else Any, None)
        for i, child in enumerate(node.children.values())
    ]
    rename = {f"k{i}": key for i, key in enumerate(node.children)}
    return msgspec.defstruct("Record", fields, rename=rename, gc=False)


def _is_index(key: str) -> bool:
    return key.isascii() and key.isdigit()
