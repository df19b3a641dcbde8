"""JSON input for declarative mappings: a line -> its records, and dotted paths into them.

A line is one JSON object, or an array of objects (batching loggers: Kong with
`max_batch_size` > 1, APISIX by default), or, when the mapping names `records`, an object
holding the array at that path (Azure Event Hub's `{"records": [...]}`). Records of an array
are "indexed": their event `source` gets "#<index>" and a bad one is rejected alone.

A path is dotted keys, `request.headers.user-agent`; a key of digits also indexes a list,
`tries.0.ip`. A path that meets null, a missing key or a list index out of range reads as
unknown; one that meets a value that is not an object (or array, for an index) is an error
naming that key.

Fast path: the line is decoded into msgspec Structs built from the mapping's own paths, so
only the keys the mapping reads are materialised; a subtree read whole or through a list
index is decoded as plain JSON. When that fails (wrong shapes, invalid JSON, empty arrays)
`untyped` decodes plain JSON and says what is wrong with the line.

Not supported: keys containing dots; JSON with lone surrogates or invalid UTF-8 (the whole
line is rejected, its records cannot be told apart).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from processors.parsers.mapping_values import BadValue, json_type

_DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


@dataclass(frozen=True, slots=True)
class Framed:
    records: list[Any]
    indexed: bool
    """The records came from an array: sources get "#<index>", each is rejected alone."""


class JsonPath:
    """A compiled dotted path into a record (a plain dict or one of our Structs)."""

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
                raise BadValue(f"expected {expected} at {where!r}, got {json_type(node)}")
            if node is None:
                return None
        return node


class JsonFraming:
    """Splits JSON lines into records for a mapping that reads `paths` from each record."""

    def __init__(self, paths: Iterable[str], records: str | None) -> None:
        self._root = _Node()
        for text in paths:
            self._root.add(text.split("."))
        record = _struct(self._root)
        self._records: JsonPath | None = None
        if records is None:
            self._decoder = msgspec.json.Decoder(record | list[record])
        else:
            keys = records.split(".")
            self._decoder = msgspec.json.Decoder(_envelope(keys, record))
            self._records = JsonPath(records, tuple((key, "k0", None) for key in keys))

    def path(self, text: str) -> JsonPath:
        """The compiled path; `text` must be one of the paths given at construction."""
        steps, node, typed = [], self._root, True
        for key in text.split("."):
            attr = f"k{list(node.children).index(key)}" if typed else None
            steps.append((key, attr, int(key) if _is_index(key) else None))
            node = node.children[key]
            typed = node.typed()
        return JsonPath(text, tuple(steps))

    def typed(self, line: bytes) -> Framed | None:
        """The records as Structs, or None when `untyped` must look at the line."""
        try:
            decoded = self._decoder.decode(line)
        except _DECODE_ERRORS:
            return None
        if self._records is not None:
            items = self._records(decoded)
            return Framed(items, True) if items else None
        if isinstance(decoded, list):
            return Framed(decoded, True) if decoded else None
        return Framed([decoded], False)

    def untyped(self, line: bytes) -> Framed | str:
        """The records as plain JSON values (maybe not objects), or why the line has none."""
        try:
            raw = msgspec.json.decode(line)
        except _DECODE_ERRORS as exc:
            return f"invalid JSON: {exc}"
        if self._records is None:
            if isinstance(raw, dict):
                return Framed([raw], False)
            if isinstance(raw, list):
                return Framed(raw, True) if raw else "empty JSON array"
            return f"expected a JSON object or array, got {json_type(raw)}"
        return self._enveloped(raw)

    def _enveloped(self, raw: Any) -> Framed | str:
        assert self._records is not None
        where = self._records.text
        if not isinstance(raw, dict):
            return f"expected a JSON object with {where!r}, got {json_type(raw)}"
        try:
            items = self._records(raw)
        except BadValue as exc:
            return f"{where}: {exc}"
        if items is None:
            return f"{where}: missing"
        if not isinstance(items, list):
            return f"{where}: expected array, got {json_type(items)}"
        return Framed(items, True) if items else f"{where}: empty array"


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


def _envelope(keys: list[str], record: type) -> type:
    """The Struct holding the records array at `keys`, e.g. {"records": [...]}."""
    inner: Any = list[record] | None
    for key in reversed(keys[1:]):
        inner = (
            msgspec.defstruct("Envelope", [("k0", inner, None)], rename={"k0": key}, gc=False)
            | None
        )
    return msgspec.defstruct("Envelope", [("k0", inner, None)], rename={"k0": keys[0]}, gc=False)


def _is_index(key: str) -> bool:
    return key.isascii() and key.isdigit()
