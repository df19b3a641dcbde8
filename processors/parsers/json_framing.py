"""JSON records in a line: one object, an array of them, or an array inside an envelope.

`JsonRecords` is a whole parser for gateways that write a JSON object per line, or a JSON
array of them when their logger batches (Kong http-log / kafka-log, APISIX loggers, a
mapping's `input: json`), or an object holding the array (`records`: Azure Event Hub's
`{"records": [...]}`). Fast path: the line is decoded straight into the typed msgspec
Struct. Only when a record does not fit, or a record of an array is refused, is the line
decoded again without a schema so that each record is judged alone: a bad record gives a
`Rejected` whose `record` is that element re-encoded as JSON (`encode`), and the other
records still become events. Records of an array get a "#<index>" `source` suffix. A line
that is not JSON at all is rejected as "invalid JSON: <the typed decoder's reason>".

Reasons (`validation_reason`) name the field first, in msgspec's words:
'Expected `int`, got `str` - at `$.response.status`' -> 'response.status: expected int, got str'.
`convert` and `decode_record` give the same reasons for parsers that frame lines their own
way (AWS, nginx JSON, Tyk); `line_reason` says why a typed decoder refused a whole line.

Not supported: a line whose JSON itself is invalid (truncated, not UTF-8, lone surrogates,
nested beyond msgspec's depth) is rejected as a whole, since its records cannot be told
apart; NDJSON is split into lines before a parser sees it, so several objects on one line
are invalid JSON; list indexes in the `records` path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import msgspec

from apim.event import AccessEvent
from processors.parsers.base import ParseContext, ParseResult, Rejected
from processors.parsers.fields import BadValue, json_type

T = TypeVar("T")
R = TypeVar("R")
ToEvent = Callable[[R, ParseContext, str], AccessEvent]
"""Build the event of one record (its source is given), or raise `BadValue`."""
DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)
"""What decoding a line that is not valid JSON raises (`msgspec.ValidationError` included)."""


class JsonRecords(Generic[R]):
    """A parser for lines holding JSON records of `record_type` (a msgspec Struct)."""

    def __init__(
        self,
        record_type: type[R],
        to_event: ToEvent[R],
        *,
        unsupported: Callable[[dict[str, Any]], str] | None = None,
        records: str | None = None,
        records_optional: bool = False,
        from_object: ToEvent[dict[str, Any]] | None = None,
    ) -> None:
        """`records` is the dotted path of the array in an envelope object; with
        `records_optional`, an object without it is a record itself and arrays are read too.
        `unsupported(obj)` may name a known foreign shape of a record that failed typing.
        `from_object` builds the event of an untyped record (default: `record_type` of it,
        then `to_event`)."""
        self._to_event = to_event
        self._unsupported = unsupported
        self._from_object = from_object or self._typed_event
        self._type = record_type
        self._keys = tuple(records.split(".")) if records else ()
        self._optional = records_optional
        root: Any = _envelope(self._keys, record_type) if records else record_type
        self._decoder = msgspec.json.Decoder(root if records else root | list[root])

    def parse(self, line: bytes, ctx: ParseContext) -> list[ParseResult]:
        """One result per record in the line; never raises."""
        if not line or line.isspace():
            return [Rejected("empty line", line)]
        try:
            decoded = self._decoder.decode(line)
        except msgspec.ValidationError:
            return self._parse_untyped(line, ctx)  # the slow path says which record is bad
        except DECODE_ERRORS as exc:
            return [Rejected(f"invalid JSON: {exc}", line)]
        if self._keys:
            decoded = _records_in(decoded, len(self._keys))
        elif type(decoded) is not list:
            try:
                return [self._to_event(decoded, ctx, ctx.source)]
            except BadValue as exc:
                return [Rejected(str(exc), line)]
        if not decoded:
            return self._parse_untyped(line, ctx)
        try:
            return [self._to_event(rec, ctx, f"{ctx.source}#{i}") for i, rec in enumerate(decoded)]
        except BadValue:
            return self._parse_untyped(line, ctx)  # so that one bad record costs only itself

    def _parse_untyped(self, line: bytes, ctx: ParseContext) -> list[ParseResult]:
        """Decode without a schema, then judge each record alone."""
        framed = self._frame(line)
        if isinstance(framed, str):
            return [Rejected(framed, line)]
        items, indexed = framed
        if not indexed:
            return [self._result(items[0], ctx, ctx.source, line)]
        return [
            self._result(item, ctx, f"{ctx.source}#{i}", encode(item))
            for i, item in enumerate(items)
        ]

    def _frame(self, line: bytes) -> tuple[list[Any], bool] | str:
        """(records, from an array?) of a line, or why it holds none."""
        try:
            raw = msgspec.json.decode(line)
        except DECODE_ERRORS as exc:
            return f"invalid JSON: {exc}"
        if self._keys and (not self._optional or (isinstance(raw, dict) and self._keys[0] in raw)):
            return self._enveloped(raw)
        if isinstance(raw, dict):
            return [raw], False
        if isinstance(raw, list):
            return (raw, True) if raw else "empty JSON array"
        return f"expected a JSON object or array, got {json_type(raw)}"

    def _enveloped(self, raw: Any) -> tuple[list[Any], bool] | str:
        where = ".".join(self._keys)
        if not isinstance(raw, dict):
            return f"expected a JSON object with {where!r}, got {json_type(raw)}"
        node = raw
        for depth, key in enumerate(self._keys):
            if not isinstance(node, dict):
                above = ".".join(self._keys[:depth])
                return f"{where}: expected object at {above!r}, got {json_type(node)}"
            node = node.get(key)
            if node is None:
                return f"{where}: missing"
        if not isinstance(node, list):
            return f"{where}: expected array, got {json_type(node)}"
        return (node, True) if node else f"{where}: empty array"

    def _result(self, item: Any, ctx: ParseContext, source: str, record: bytes) -> ParseResult:
        if not isinstance(item, dict):
            return Rejected(f"record: expected object, got {json_type(item)}", record)
        reason = self._unsupported(item) if self._unsupported else ""
        if reason:
            return Rejected(reason, record)
        try:
            return self._from_object(item, ctx, source)
        except msgspec.ValidationError as exc:
            return Rejected(validation_reason(exc), record)
        except BadValue as exc:
            return Rejected(str(exc), record)

    def _typed_event(self, item: dict[str, Any], ctx: ParseContext, source: str) -> AccessEvent:
        return self._to_event(msgspec.convert(item, self._type), ctx, source)


def _envelope(keys: tuple[str, ...], record: Any) -> Any:
    """The Struct holding the records array at `keys`, e.g. {"records": [...]}; attribute "k0"."""
    inner: Any = list[record] | None
    for key in reversed(keys[1:]):
        inner = (
            msgspec.defstruct("Envelope", [("k0", inner, None)], rename={"k0": key}, gc=False)
            | None
        )
    return msgspec.defstruct("Envelope", [("k0", inner, None)], rename={"k0": keys[0]}, gc=False)


def _records_in(envelope: Any, depth: int) -> Any:
    """The records array of a typed envelope, or None."""
    node = envelope
    for _ in range(depth):
        node = node.k0
        if node is None:
            return None
    return node


def convert(item: Any, record_type: type[T], *, where: str = "", strict: bool = True) -> T:
    """`item` (decoded JSON, found at `where`) as `record_type`; `strict=False` reads numbers
    from text. Raises `BadValue` naming the bad field."""
    if not isinstance(item, dict):
        raise BadValue(f"{where or 'record'}: expected object, got {json_type(item)}")
    try:
        return msgspec.convert(item, record_type, strict=strict)
    except msgspec.ValidationError as exc:
        raise BadValue(validation_reason(exc, where)) from None


def decode_record(decode: Callable[[bytes | str], T], line: bytes | str) -> T:
    """`decode(line)` (a typed msgspec decoder) for a line holding one JSON value; `BadValue`
    saying why the line is not one."""
    try:
        return decode(line)
    except msgspec.ValidationError as exc:
        raise BadValue(line_reason(exc, line)) from None
    except DECODE_ERRORS as exc:
        raise BadValue(f"invalid JSON: {exc}") from None


def validation_reason(exc: msgspec.ValidationError, prefix: str = "") -> str:
    """msgspec's message, field first; `prefix` is the path of the decoded object, if nested."""
    message, _, where = str(exc).partition(" - at ")
    where = where.strip("`").removeprefix("$.").lstrip("$")
    path = f"{prefix}.{where}" if prefix and where else prefix or where
    message = message.replace("`", "")
    if message.startswith("Object missing required field "):
        field = message.removeprefix("Object missing required field ")
        path = f"{path}.{field}" if path else field
        message = "missing required field"
    message = message[:1].lower() + message[1:]
    return f"{path}: {message}" if path else message


def line_reason(exc: msgspec.ValidationError, line: bytes | str) -> str:
    """Why a typed decoder refused a whole line; "invalid JSON: …" if it is not even JSON.

    msgspec judges the first value before reading on, so a text log line ("203.0.113.7 - …")
    fails as "expected object, got float"; decoding it untyped tells the real reason.
    """
    if " - at " not in str(exc):  # the root value itself is wrong
        try:
            msgspec.json.decode(line)
        except DECODE_ERRORS as invalid:
            return f"invalid JSON: {invalid}"
    return validation_reason(exc)


def encode(item: Any) -> bytes:
    """A decoded record back to JSON, for the `Rejected` that carries it."""
    try:
        return msgspec.json.encode(item)
    except (TypeError, ValueError):  # cannot happen for decoded JSON; never lose the reject
        return repr(item).encode("utf-8", "backslashreplace")
