"""Declarative mappings: onboard a custom gateway with a YAML file instead of a parser.

`load_mapping(path)` reads a mapping (schema: docs/mapping.md, checks: `mapping_config`)
and returns a parser honouring the parser contract (`processors.parsers.base`); it is
what `--format mapping:<file>` runs. `validate_mapping(path)` only checks the file. Both
raise `MappingError` with one line naming the file and the bad keys; nothing is raised
while parsing lines.

Input is `json` (an object, an array of objects, or an envelope holding the array: framing
in `json_framing`, paths in `mapping_paths`) or `regex` (a Python pattern with named groups
that must match the whole line). Each `AccessEvent` field reads the first of its sources
that is not null (JSON null, a missing key, a group that did not match, or one of
`null_values`, by default "-" and ""), or a constant, and converts it to the event's unit
with the value rules every parser follows (`fields`).

Decisions a caller may need:
- `event_time`, `status`, and `request` (one "GET /x HTTP/1.1" field) or `method` and
  `path` are required in every record; a record without them is rejected;
- the `credential` is hashed with `ctx.hash_credential` into `credential_hash` and never
  copied; `consumer` falls back to "unknown:<hash prefix>" (`apim.event.unknown_consumer`),
  then "anonymous";
- with no `gateway_latency_ms` source, it is `latency_ms - upstream_latency_ms` (at least
  0) when both are known, as for nginx;
- a rejection reason names the source that failed ("properties.responseCode: 42 not in
  100-599"); a missing required field names all its sources ("time, ts: missing");
- parsers are cached by file content (and path): an edited file is reloaded.

Not supported: computed fields other than the gateway latency, several records per text
line, multi-line records.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import UTC
from functools import lru_cache, partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apim.event import AccessEvent, unknown_consumer
from processors.parsers import fields
from processors.parsers.addresses import first_forwarded
from processors.parsers.base import ParseContext, Parser, ParseResult, Rejected
from processors.parsers.fields import BadValue
from processors.parsers.json_framing import JsonRecords
from processors.parsers.mapping_config import (
    LatencySpec,
    MappingConfig,
    MappingError,
    TextSpec,
    TimeSpec,
    parse_config,
)
from processors.parsers.mapping_paths import RecordPaths

__all__ = ["MappingError", "load_mapping", "validate_mapping"]

_SIZES = ("bytes_in", "bytes_out")
_TEXT_AFTER: dict[str, Callable[[str, str], Any]] = {
    "request": fields.request_line,
    "method": fields.method,
    "path": fields.path,
    "client_ip": lambda _, text: first_forwarded(text),
}
_REQUIRED = ("event_time", "request", "method", "path", "status")

Getter = Callable[[Any], Any]
Convert = Callable[[str, Any], Any]
"""A field's conversion: (the source's name, the value read) -> the event's value."""


def load_mapping(path: Path) -> Parser:
    """The parser a mapping file describes (cached until the file's content changes)."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise MappingError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return _load(content, str(path))


def validate_mapping(path: Path) -> None:
    """Raise `MappingError` if the mapping file cannot be used."""
    load_mapping(path)


@lru_cache(maxsize=64)
def _load(content: bytes, path: str) -> Parser:
    config = parse_config(content, path)
    if config.input == "json":
        return _json_parser(config, path)
    return _RegexMapping(config, path).parse


def _json_parser(config: MappingConfig, path: str) -> Parser:
    paths = RecordPaths(source for _, spec in config.fields.mapped() for source in spec.source)
    events = _Events(config, path, paths.path)
    records = JsonRecords(
        paths.record_type, events.event, records=config.records, from_object=events.event
    )
    return records.parse


class _RegexMapping:
    def __init__(self, config: MappingConfig, path: str) -> None:
        assert config.pattern is not None  # checked by parse_config
        self._pattern = config.pattern
        self._events = _Events(config, path, operator.itemgetter)

    def parse(self, line: bytes, ctx: ParseContext) -> list[ParseResult]:
        text = line.rstrip(b"\r\n").decode("utf-8", "replace")
        if not text.strip():
            return [Rejected("empty line", line)]
        match = self._pattern.fullmatch(text)
        if match is None:
            return [Rejected("line does not match the mapping's pattern", line)]
        try:
            return [self._events.event(match, ctx, ctx.source)]
        except BadValue as exc:
            return [Rejected(str(exc), line)]


class _Events:
    """Builds the `AccessEvent` of one record (a JSON record or a regex match)."""

    def __init__(self, config: MappingConfig, path: str, getter: Callable[[str], Getter]) -> None:
        self._gateway = config.name
        self._fields = {
            name: _Field(name, spec, config.null_values, getter, path)
            for name, spec in config.fields.mapped()
        }
        self._derive_gateway_latency = "gateway_latency_ms" not in self._fields

    def event(self, record: Any, ctx: ParseContext, source: str) -> AccessEvent:
        """The event, or `BadValue` naming the source that failed."""
        v = {name: field.get(record) for name, field in self._fields.items()}
        method, path = v.pop("request") if "request" in v else (v.pop("method"), v.pop("path"))
        credential = v.pop("credential", "")
        credential_hash = ctx.hash_credential(credential) if credential else ""
        consumer = v.pop("consumer", "") or unknown_consumer(credential_hash)
        if self._derive_gateway_latency:
            v["gateway_latency_ms"] = fields.remainder_ms(
                v.get("latency_ms"), v.get("upstream_latency_ms")
            )
        return AccessEvent(
            gateway=self._gateway,
            method=method,
            path=path,
            consumer=consumer,
            credential_hash=credential_hash,
            source=source,
            **v,
        )


class _Field:
    """One mapped field: its sources in order (or a constant) and its conversion."""

    __slots__ = ("_constant", "_convert", "_is_null", "_missing", "_sources")

    def __init__(
        self,
        name: str,
        spec: Any,
        default_nulls: tuple[Any, ...],
        getter: Callable[[str], Getter],
        path: str,
    ) -> None:
        nulls = spec.null_values if spec.null_values is not None else default_nulls
        self._is_null = _Nulls(nulls)
        self._convert = _converter(name, spec, self._is_null)
        self._sources = tuple((source, getter(source)) for source in spec.source)
        required = name in _REQUIRED and spec.value is None
        self._missing = f"{', '.join(spec.source)}: missing" if required else ""
        self._constant: Any = "" if isinstance(spec, TextSpec) else None
        if spec.value is not None:
            try:
                self._constant = self._convert(f"fields.{name}.value", spec.value)
            except BadValue as exc:
                raise MappingError(f"{path}: {exc}") from None

    def get(self, record: Any) -> Any:
        for source, getter in self._sources:
            raw = getter(record)
            if not self._is_null(raw):
                return self._convert(source, raw)
        if self._missing:
            raise BadValue(self._missing)
        return self._constant


def _converter(name: str, spec: Any, is_null: Callable[[Any], bool]) -> Convert:
    """The conversion from a logged value to the event's unit for field `name`."""
    if isinstance(spec, TimeSpec):
        return _time_converter(spec)
    if isinstance(spec, LatencySpec):
        return partial(fields.latency_ms, unit=spec.unit, is_null=is_null)
    if name == "status":
        return fields.status
    if name in _SIZES:
        return fields.size
    text = partial(fields.any_text, escapes=spec.unescape)
    after = _TEXT_AFTER.get(name)
    return text if after is None else lambda source, raw: after(source, text(source, raw))


def _time_converter(spec: TimeSpec) -> Convert:
    if spec.format in fields.EPOCH_UNITS:
        return partial(fields.epoch_time, unit=spec.format)
    if spec.format == "iso8601":
        parse = fields.iso8601
    else:
        parse = fields.strptime(spec.format.removeprefix("strptime:"))
    zone = ZoneInfo(spec.timezone) if spec.timezone else UTC
    return partial(fields.text_time, parse=parse, zone=zone)


class _Nulls:
    """Is a logged value unknown? JSON null, an empty array, or one of the null values."""

    __slots__ = ("_values",)

    def __init__(self, nulls: tuple[Any, ...]) -> None:
        self._values = frozenset(nulls)  # "-" and -1 never equal; -1 and -1.0 do

    def __call__(self, raw: Any) -> bool:
        kind = type(raw)
        if kind is str or kind is int or kind is float:  # not bool: True == 1
            return raw in self._values
        return raw is None or (kind is list and not raw)
