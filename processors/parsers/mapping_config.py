"""The YAML file of a declarative mapping: its schema, and one-line errors for bad files.

`parse_config(content, path)` checks the content of a mapping file (docs/mapping.md is the
user reference) and returns a `MappingConfig`, or raises `MappingError` with ONE line
naming the file and every problem with its key path, e.g.
`haproxy.yaml: fields.latency_ms.unit: expected one of ms, s, us, ns, duration`.

Checked here, before any log line is read: the keys and their types, the choices (input,
units, time formats, time zones, unescape styles), that the regex compiles and has every
group the fields name, that JSON paths have no empty key, and that the request is mapped
either as one `request` field or as `method` and `path`. Constants (`value:`) are checked
by `processors.parsers.mapping` with the conversions of `processors.parsers.fields`.

A field is given as a source (a JSON path or a regex group), a list of sources tried in
order, or a mapping of options: `source` or `value`, plus `null_values` and the options of
its kind (`format` and `timezone` for event_time, `unit` for latencies, `unescape` for text).

Not supported: keys containing dots in JSON paths, list indexes in `records`, constants as
fallbacks in a list of sources.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from apim.config_errors import describe
from processors.parsers.fields import DURATION, EPOCH_UNITS, LATENCY_UNITS, UNESCAPES, json_type

INPUTS = ("json", "regex")
TIME_FORMATS = (*EPOCH_UNITS, "iso8601", "strptime:<format>")
LATENCY_CHOICES = (*LATENCY_UNITS, DURATION)
DEFAULT_NULL_VALUES = ("-", "")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_SAMPLE_TIME = datetime(2024, 6, 10, 9, 45, 45, 678000, tzinfo=UTC)


class MappingError(ValueError):
    """A mapping file that cannot be used; the message is one line naming file and keys."""


class _Spec(BaseModel):
    """Where a field's value comes from: sources tried in order, or a constant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: tuple[str, ...] = ()
    value: Any = None
    null_values: tuple[Any, ...] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str | list):
            return {"source": data}
        if not isinstance(data, dict):
            raise ValueError("expected a source, a list of sources, or a mapping of options")
        return data

    @field_validator("source", mode="before")
    @classmethod
    def _one_or_many(cls, source: Any) -> Any:
        return (source,) if isinstance(source, str) else source

    @field_validator("source")
    @classmethod
    def _no_empty_source(cls, source: tuple[str, ...]) -> tuple[str, ...]:
        if not all(s.strip() for s in source):
            raise ValueError("empty source")
        return source

    @field_validator("value")
    @classmethod
    def _scalar_value(cls, value: Any) -> Any:
        if value is not None and not _is_scalar(value):
            raise ValueError("expected a string or a number")
        return value

    @field_validator("null_values")
    @classmethod
    def _scalar_nulls(cls, nulls: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
        return _scalars(nulls) if nulls is not None else None

    @model_validator(mode="after")
    def _source_or_value(self) -> _Spec:
        if bool(self.source) == (self.value is not None):
            raise ValueError("give either source or value")
        return self


class TextSpec(_Spec):
    unescape: str | None = None

    @field_validator("unescape")
    @classmethod
    def _known_unescape(cls, unescape: str | None) -> str | None:
        return _one_of(unescape, UNESCAPES) if unescape is not None else None


class TimeSpec(_Spec):
    format: str = "iso8601"
    timezone: str | None = None

    @field_validator("format")
    @classmethod
    def _known_format(cls, fmt: str) -> str:
        if fmt.startswith("strptime:") and fmt != "strptime:":
            _check_strptime(fmt.removeprefix("strptime:"))
            return fmt
        return _one_of(fmt, TIME_FORMATS[:-1], shown=TIME_FORMATS)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str | None) -> str | None:
        if zone is not None:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {zone!r} (use an IANA name)") from None
        return zone

    @model_validator(mode="after")
    def _zone_for_text_times(self) -> TimeSpec:
        if self.timezone is not None and self.format in EPOCH_UNITS:
            raise ValueError("timezone is only used with iso8601 and strptime formats")
        return self


class LatencySpec(_Spec):
    unit: str

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, unit: str) -> str:
        return _one_of(unit, LATENCY_CHOICES)


class NumberSpec(_Spec):
    pass


class Fields(BaseModel):
    """Every `AccessEvent` field a mapping can fill; `credential` is hashed, never stored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_time: TimeSpec
    request: TextSpec | None = None
    method: TextSpec | None = None
    path: TextSpec | None = None
    status: NumberSpec
    latency_ms: LatencySpec | None = None
    upstream_latency_ms: LatencySpec | None = None
    gateway_latency_ms: LatencySpec | None = None
    bytes_in: NumberSpec | None = None
    bytes_out: NumberSpec | None = None
    request_id: TextSpec | None = None
    api: TextSpec | None = None
    route: TextSpec | None = None
    client_ip: TextSpec | None = None
    user_agent: TextSpec | None = None
    consumer: TextSpec | None = None
    application: TextSpec | None = None
    credential: TextSpec | None = None

    def mapped(self) -> Iterable[tuple[str, _Spec]]:
        """(field name, spec) of every mapped field, in declaration order."""
        for name in type(self).model_fields:
            spec = getattr(self, name)
            if spec is not None:
                yield name, spec


class MappingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    """The gateway label stored in `AccessEvent.gateway`."""
    input: str
    pattern: re.Pattern[str] | None = None
    records: str | None = None
    null_values: tuple[Any, ...] = DEFAULT_NULL_VALUES
    fields: Fields

    @field_validator("name")
    @classmethod
    def _label(cls, name: str) -> str:
        if not _NAME.fullmatch(name):
            raise ValueError("expected lower-case letters, digits, '-' or '_' (e.g. haproxy)")
        return name

    @field_validator("input")
    @classmethod
    def _known_input(cls, kind: str) -> str:
        return _one_of(kind, INPUTS)

    @field_validator("pattern", mode="before")
    @classmethod
    def _compile(cls, pattern: Any) -> Any:
        if not isinstance(pattern, str):
            return pattern
        try:
            return re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regex: {exc}") from None

    @field_validator("null_values")
    @classmethod
    def _scalar_nulls(cls, nulls: tuple[Any, ...]) -> tuple[Any, ...]:
        return _scalars(nulls)


def parse_config(content: bytes, path: str) -> MappingConfig:
    """The checked mapping in `content` (read from `path`), or `MappingError` naming both."""
    try:
        data = yaml.safe_load(content)
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: invalid YAML: {_yaml_problem(exc)}") from None
    if not isinstance(data, dict):
        kind = json_type(data).replace("object", "mapping").replace("array", "list")
        raise MappingError(f"{path}: expected a mapping with name, input and fields, got {kind}")
    try:
        config = MappingConfig.model_validate(data)
    except ValidationError as exc:
        raise MappingError(
            f"{path}: {'; '.join(describe(e, MappingConfig) for e in exc.errors())}"
        ) from None
    problems = _problems(config)
    if problems:
        raise MappingError(f"{path}: {'; '.join(problems)}")
    return config


def _problems(config: MappingConfig) -> list[str]:
    """What the schema cannot say: how fields, input, pattern and records fit together."""
    fields, problems = config.fields, []
    if fields.request is not None and (fields.method is not None or fields.path is not None):
        problems.append("fields.request: give either request, or method and path")
    if fields.request is None:
        problems += [
            f"fields.{name}: required (or give fields.request)"
            for name in ("method", "path")
            if getattr(fields, name) is None
        ]
    if config.input == "regex":
        problems += _regex_problems(config)
    else:
        problems += _json_problems(config)
    return problems


def _regex_problems(config: MappingConfig) -> list[str]:
    if config.records is not None:
        return ["records: only used with input: json"]
    if config.pattern is None:
        return ["pattern: required with input: regex"]
    groups = config.pattern.groupindex
    return [
        f"fields.{name}.source: no group {source!r} in pattern"
        for name, spec in config.fields.mapped()
        for source in spec.source
        if source not in groups
    ]


def _json_problems(config: MappingConfig) -> list[str]:
    problems = []
    if config.pattern is not None:
        problems.append("pattern: only used with input: regex")
    if config.records is not None:
        keys = config.records.split(".")
        if "" in keys:
            problems.append(f"records: empty key in {config.records!r}")
        elif any(key.isdecimal() for key in keys):
            problems.append(f"records: list indexes are not supported in {config.records!r}")
    problems += [
        f"fields.{name}.source: empty key in {source!r}"
        for name, spec in config.fields.mapped()
        for source in spec.source
        if "" in source.split(".")
    ]
    return problems


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return where + " ".join(problem.split())


def _check_strptime(fmt: str) -> None:
    try:
        datetime.strptime(_SAMPLE_TIME.strftime(fmt), fmt)
    except ValueError as exc:
        raise ValueError(f"invalid strptime format {fmt!r}: {exc}") from None


def _one_of(value: str, choices: Iterable[str], shown: Iterable[str] | None = None) -> str:
    if value not in choices:
        raise ValueError(f"expected one of {', '.join(shown or choices)}")
    return value


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _scalars(items: tuple[Any, ...]) -> tuple[Any, ...]:
    if not all(_is_scalar(item) for item in items):
        raise ValueError("expected strings or numbers")
    return items
