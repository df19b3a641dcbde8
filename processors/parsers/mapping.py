"""Declarative mappings: onboard a custom gateway with a YAML file instead of a parser.

`load_mapping(path)` reads a mapping (schema: docs/mapping.md, checks: `mapping_config`)
and returns a parser honouring the parser contract (`processors.parsers.base`); it is
what `--format mapping:<file>` runs. `validate_mapping(path)` only checks the file. Both
raise `MappingError` with one line naming the file and the bad keys; nothing is raised
while parsing lines.

Input is `json` (an object, an array of objects, or an envelope holding the array: see
`mapping_json`) or `regex` (a Python pattern with named groups that must match the whole
line). Each `AccessEvent` field reads the first of its sources that is not null (JSON
null, a missing key, a group that did not match, or one of `null_values`, by default "-"
and ""), or a constant, and converts it to the event's unit (`mapping_values`).

Decisions a caller may need:
- `event_time`, `status`, and `request` (one "GET /x HTTP/1.1" field) or `method` and
  `path` are required in every record; a record without them is rejected;
- the `credential` is hashed with `ctx.hash_credential` into `credential_hash` and never
  copied; `consumer` falls back to "cred:<hash>", then "anonymous";
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

import msgspec

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers import mapping_values as values
from processors.parsers.base import ParseContext, Parser, ParseResult, Rejected
from processors.parsers.mapping_config import (
    LatencySpec,
    MappingConfig,
    MappingError,
    TextSpec,
    TimeSpec,
    parse_config,
)
from processors.parsers.mapping_json import Framed, JsonFraming

__all__ = ["MappingError", "load_mapping", "validate_mapping"]

_SIZES = ("bytes_in", "bytes_out")
_TEXT_AFTER: dict[str, Callable[[str], Any]] = {
    "request": values.request_line,
    "method": values.method,
    "path": values.path,
    "client_ip": values.client_ip,
}
_REQUIRED = ("event_time", "request", "method", "path", "status")

Getter = Callable[[Any], Any]


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
        return _JsonMapping(config, path).parse
    return _RegexMapping(config, path).parse


class BadRecord(Exception):
    """A record that cannot become an event; the message is the `Rejected` reason."""


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
        except BadRecord as exc:
            return [Rejected(str(exc), line)]


class _JsonMapping:
    def __init__(self, config: MappingConfig, path: str) -> None:
        sources = [source for _, spec in config.fields.mapped() for source in spec.source]
        self._framing = JsonFraming(sources, config.records)
        self._events = _Events(config, path, self._framing.path)

    def parse(self, line: bytes, ctx: ParseContext) -> list[ParseResult]:
        if not line.strip():
            return [Rejected("empty line", line)]
        framed = self._framing.typed(line)
        if framed is not None:
            try:
                return [self._events.event(r, ctx, s) for r, s in _sourced(framed, ctx)]
            except BadRecord:
                pass  # the untyped path says which record is bad and keeps the others
        untyped = self._framing.untyped(line)
        if isinstance(untyped, str):
            return [Rejected(untyped, line)]
        return [
            self._result(item, ctx, source, msgspec.json.encode(item) if untyped.indexed else line)
            for item, source in _sourced(untyped, ctx)
        ]

    def _result(self, item: Any, ctx: ParseContext, source: str, record: bytes) -> ParseResult:
        if not isinstance(item, dict):
            return Rejected(f"record: expected object, got {values.json_type(item)}", record)
        try:
            return self._events.event(item, ctx, source)
        except BadRecord as exc:
            return Rejected(str(exc), record)


def _sourced(framed: Framed, ctx: ParseContext) -> list[tuple[Any, str]]:
    if not framed.indexed:
        return [(framed.records[0], ctx.source)]
    return [(record, f"{ctx.source}#{i}") for i, record in enumerate(framed.records)]


class _Events:
    """Builds the `AccessEvent` of one record (a JSON object or a regex match)."""

    def __init__(self, config: MappingConfig, path: str, getter: Callable[[str], Getter]) -> None:
        self._gateway = config.name
        self._fields = {
            name: _Field(name, spec, config.null_values, getter, path)
            for name, spec in config.fields.mapped()
        }
        self._derive_gateway_latency = "gateway_latency_ms" not in self._fields

    def event(self, record: Any, ctx: ParseContext, source: str) -> AccessEvent:
        v = {name: field.get(record) for name, field in self._fields.items()}
        method, path = v.pop("request") if "request" in v else (v.pop("method"), v.pop("path"))
        credential = v.pop("credential", "")
        credential_hash = ctx.hash_credential(credential) if credential else ""
        consumer = v.pop("consumer", "") or (
            f"cred:{credential_hash}" if credential_hash else ANONYMOUS
        )
        latency, upstream = v.get("latency_ms"), v.get("upstream_latency_ms")
        if self._derive_gateway_latency and latency is not None and upstream is not None:
            v["gateway_latency_ms"] = max(0.0, round(latency - upstream, 3))
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
                self._constant = self._convert(spec.value)
            except values.BadValue as exc:
                raise MappingError(f"{path}: fields.{name}.value: {exc}") from None

    def get(self, record: Any) -> Any:
        for source, getter in self._sources:
            try:
                raw = getter(record)
                if not self._is_null(raw):
                    return self._convert(raw)
            except values.BadValue as exc:
                raise BadRecord(f"{source}: {exc}") from None
        if self._missing:
            raise BadRecord(self._missing)
        return self._constant


def _converter(name: str, spec: Any, is_null: Callable[[Any], bool]) -> Callable[[Any], Any]:
    """The conversion from a logged value to the event's unit for field `name`."""
    if isinstance(spec, TimeSpec):
        return _time_converter(spec)
    if isinstance(spec, LatencySpec):
        return partial(values.latency_ms, unit=spec.unit, is_null=is_null)
    if name == "status":
        return values.status
    if name in _SIZES:
        return values.size
    text = partial(values.text, unescape=spec.unescape)
    after = _TEXT_AFTER.get(name)
    return text if after is None else lambda raw: after(text(raw))


def _time_converter(spec: TimeSpec) -> Callable[[Any], Any]:
    if spec.format in values.EPOCH_UNITS:
        return partial(values.epoch_time, fmt=spec.format)
    if spec.format == "iso8601":
        parse = values.iso8601
    else:
        parse = values.strptime(spec.format.removeprefix("strptime:"))
    zone = ZoneInfo(spec.timezone) if spec.timezone else UTC
    return partial(values.text_time, parse=parse, zone=zone)


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
