"""JSON framing shared by the JSON gateway parsers: one record, or an array of records, a line.

`JsonRecords(record_type, to_event)` is a whole parser for gateways that write a JSON object
per line, or a JSON array of them when their logger batches (APISIX http/kafka-logger,
Kong http-log/kafka-log). The line is decoded straight into the typed msgspec Struct
(fast path); only when a record does not fit is it decoded again without a schema, so that
each record is judged alone: a bad record gives a `Rejected` whose `record` is that element
re-encoded as JSON, and the other records in the array still become events (their `source`
gets a "#<index>" suffix). `to_event` raises `convert.BadValue` to reject a record.

Also here: `validation_reason`, which turns msgspec's error into the house reason format
("response.status: expected int, got str"), and `json_type`, the JSON name of a value.

Not supported: a line whose JSON itself is invalid (truncated, not UTF-8, lone surrogates)
is rejected as a whole, since its records cannot be told apart; NDJSON is split into lines
before a parser sees it, so several objects on one line are invalid JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import msgspec

from apim.event import AccessEvent
from processors.parsers.base import ParseContext, ParseResult, Rejected
from processors.parsers.convert import BadValue

R = TypeVar("R", bound=msgspec.Struct)
ToEvent = Callable[[R, ParseContext, str], AccessEvent]
"""Build the event of one typed record (its source is given), or raise `BadValue`."""


class JsonRecords(Generic[R]):
    """A parser for lines holding one JSON record of `record_type`, or an array of them."""

    def __init__(
        self,
        record_type: type[R],
        to_event: ToEvent[R],
        unsupported: Callable[[dict[str, Any]], str] | None = None,
    ) -> None:
        """`unsupported(obj)` may name a known foreign shape of a record that failed typing."""
        self._type = record_type
        self._to_event = to_event
        self._unsupported = unsupported
        self._decoder = msgspec.json.Decoder(record_type | list[record_type])  # type: ignore[valid-type]

    def parse(self, line: bytes, ctx: ParseContext) -> list[ParseResult]:
        """One result per record in the line; never raises."""
        if not line.strip():
            return [Rejected("empty line", line)]
        try:
            decoded = self._decoder.decode(line)
        except msgspec.ValidationError:
            return self._parse_untyped(line, ctx)  # slower path that can say which record is bad
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            return [Rejected(f"invalid JSON: {exc}", line)]
        if not isinstance(decoded, list):
            try:
                return [self._to_event(decoded, ctx, ctx.source)]
            except BadValue as exc:
                return [Rejected(str(exc), line)]
        if not decoded:
            return [Rejected("empty JSON array", line)]
        try:
            return [self._to_event(rec, ctx, f"{ctx.source}#{i}") for i, rec in enumerate(decoded)]
        except BadValue:
            return self._parse_untyped(line, ctx)

    def _parse_untyped(self, line: bytes, ctx: ParseContext) -> list[ParseResult]:
        """Decode without a schema, then check each record alone so one bad one costs only itself."""
        try:
            raw = msgspec.json.decode(line)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            return [Rejected(f"invalid JSON: {exc}", line)]
        if isinstance(raw, dict):
            return [self._from_raw(raw, ctx, ctx.source, line)]
        if not isinstance(raw, list):
            return [Rejected(f"expected a JSON object or array, got {json_type(raw)}", line)]
        if not raw:
            return [Rejected("empty JSON array", line)]
        return [
            self._from_raw(item, ctx, f"{ctx.source}#{i}", msgspec.json.encode(item))
            for i, item in enumerate(raw)
        ]

    def _from_raw(self, item: Any, ctx: ParseContext, source: str, record: bytes) -> ParseResult:
        if not isinstance(item, dict):
            return Rejected(f"record: expected object, got {json_type(item)}", record)
        reason = self._unsupported(item) if self._unsupported else ""
        if reason:
            return Rejected(reason, record)
        try:
            return self._to_event(msgspec.convert(item, self._type), ctx, source)
        except msgspec.ValidationError as exc:
            return Rejected(validation_reason(exc), record)
        except BadValue as exc:
            return Rejected(str(exc), record)


def validation_reason(exc: msgspec.ValidationError, prefix: str = "") -> str:
    """msgspec's message, field first; `prefix` is the path of the decoded object, if nested.

    'Expected `int`, got `str` - at `$.response.status`'
    -> 'response.status: expected int, got str'
    """
    message, _, where = str(exc).partition(" - at ")
    path = ".".join(p for p in (prefix, where.strip("`").removeprefix("$.").lstrip("$")) if p)
    message = message.replace("`", "")
    if message.startswith("Object missing required field "):
        field = message.removeprefix("Object missing required field ")
        path = f"{path}.{field}" if path else field
        message = "missing required field"
    message = message[:1].lower() + message[1:]
    return f"{path}: {message}" if path else message


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type ("object", "array", "null", "str", "int" …)."""
    if value is None:
        return "null"
    return {dict: "object", list: "array"}.get(type(value), type(value).__name__)
