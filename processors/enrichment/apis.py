"""The API catalog: which API and version a request belongs to, and its endpoint template.

`ApiCatalog.load(file)` reads the catalog YAML (docs/apis.md is the user reference): the
APIs, the base path each is served under, the gateway services routed to it, how a request
tells its version (path segment, header, query parameter, or not at all) and one OpenAPI 3
document per version. Every problem in the catalog or its documents stops the load with one
line naming the file and the key path, e.g.
`apis.yaml: apis.0.version.from: expected one of path, header, query, none`.

`match` picks the API (its `gateway_apis` hold the event's `api`, else the longest
`base_path` prefixing the path on a segment boundary, the first in the file on a tie), then
the version, then the template in that version's document
(`processors.enrichment.openapi_paths`). Paths no template matches fall back to
`processors.normalize.endpoint_of`, so endpoint cardinality stays bounded either way.
Results are cached per (API, told version, method, path): gateways repeat paths.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from apim.config_errors import describe
from processors.enrichment.openapi_paths import (
    DocumentError,
    PathTemplates,
    load_templates,
    read_document,
)
from processors.normalize import endpoint_of

SpecState = Literal["matched", "unmatched", "none"]
VersionSource = Literal["path", "header", "query", "none"]
PATH_VERSION_PATTERN = "v[0-9]+"
TOLD_VERSION_PATTERN = "[0-9A-Za-z][0-9A-Za-z._-]{0,31}"
"""Default `pattern` for header and query versions: a bounded token, so that a client
sending random values cannot blow up the version dimension."""
CACHE_SIZE = 32768
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class CatalogError(ValueError):
    """A catalog that cannot be used; one line: `<file>: <key path>: what is wrong`."""


@dataclass(frozen=True, slots=True)
class EndpointMatch:
    api: str
    """Catalog API name; else the event's own `api` (gateway service name)."""
    version: str
    """Such as v2 or 2024-01-01; "" when unknown."""
    endpoint: str
    """Template relative to the base path and the path version: "/orders/{id}"."""
    operation_id: str
    """From the document; "" otherwise."""
    spec: SpecState
    """matched: a template matched; unmatched: the version has a document but no template
    matched (shown to the API owner); none: no document applies."""


def _version_text(value: Any) -> Any:
    """YAML reads `2` as a number and `1.10` as 1.1: take integers, refuse floats."""
    if isinstance(value, bool):
        raise ValueError("expected a version such as v2 or 2024-06-01")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise ValueError(f'write the version in quotes ("{value}"): YAML reads it as a number')
    return value


Version = Annotated[str, BeforeValidator(_version_text)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _VersionRule(_Strict):
    source: VersionSource = Field("none", alias="from")
    pattern: str | None = None
    header: str | None = None
    query: str | None = None
    default: Version = ""


class _ApiEntry(_Strict):
    name: str
    base_path: str = "/"
    gateway_apis: tuple[str, ...] = ()
    version: _VersionRule = _VersionRule()
    specs: dict[Version, str] = {}


class _CatalogFile(_Strict):
    apis: tuple[_ApiEntry, ...]


@dataclass(frozen=True, slots=True, eq=False)
class _Api:
    """A checked catalog entry, ready for matching."""

    name: str
    base: str
    """Base path without its trailing slash: "" for /."""
    source: VersionSource
    pattern: re.Pattern[str]
    key: str
    """Header (lower-case) or query parameter carrying the version."""
    default: str
    specs: Mapping[str, PathTemplates]

    def told_version(self, query: str, headers: Mapping[str, str]) -> str | None:
        """The version the request states in a header or query parameter, if valid."""
        if self.source == "header":
            value = headers.get(self.key)
            if value is None:
                value = next((v for k, v in headers.items() if k.lower() == self.key), None)
        elif self.source == "query" and query:
            value = _query_value(query, self.key)
        else:
            return None
        value = value.strip() if value else ""
        return value if self.pattern.fullmatch(value) else None


class ApiCatalog:
    """The APIs of the catalog file; `match` is a pure function of its arguments."""

    def __init__(self, apis: tuple[_Api, ...], gateway_apis: Mapping[str, _Api]) -> None:
        self._by_gateway = gateway_apis
        self._by_base = sorted(apis, key=lambda a: len(a.base), reverse=True)
        self._match = lru_cache(maxsize=CACHE_SIZE)(self._match_uncached)

    @classmethod
    def empty(cls) -> ApiCatalog:
        """No APIs: every request gets the fallback endpoint and spec "none"."""
        return cls((), {})

    @classmethod
    def load(cls, path: Path) -> ApiCatalog:
        """The catalog in `path` (YAML); document paths are relative to its folder."""
        try:
            data = read_document(path)
        except OSError as exc:
            raise CatalogError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except DocumentError as exc:
            raise CatalogError(f"{path}: {exc}") from None
        if not isinstance(data, dict):
            raise CatalogError(f"{path}: expected a mapping with an apis list")
        try:
            entries = _CatalogFile.model_validate(data).apis
        except ValidationError as exc:
            problems = "; ".join(describe(e, _CatalogFile) for e in exc.errors())
            raise CatalogError(f"{path}: {problems}") from None
        problems = _problems(entries)
        templates, spec_problems = _load_specs(entries, path.parent)
        if problems or spec_problems:
            raise CatalogError(f"{path}: {'; '.join(problems + spec_problems)}")
        apis = tuple(_compiled(entry, templates) for entry in entries)
        routes = {
            name: api
            for api, entry in zip(apis, entries, strict=True)
            for name in entry.gateway_apis
        }
        return cls(apis, routes)

    def match(
        self,
        api: str,
        method: str,
        path: str,
        query: str = "",
        headers: Mapping[str, str] = _NO_HEADERS,
    ) -> EndpointMatch:
        """API, version and endpoint template of one request (`api`: the event's gateway
        service name; `query` without "?"; `headers` with lower-case names)."""
        entry = self._by_gateway.get(api) or self._by_base_path(path)
        if entry is None:
            return EndpointMatch(api, "", endpoint_of(path), "", "none")
        return self._match(entry, entry.told_version(query, headers), method, path)

    def _by_base_path(self, path: str) -> _Api | None:
        return next((entry for entry in self._by_base if _under(path, entry.base)), None)

    @staticmethod
    def _match_uncached(entry: _Api, told: str | None, method: str, path: str) -> EndpointMatch:
        base = entry.base
        rest = path[len(base) :] if _under(path, base) else path
        rest = rest or "/"
        version, after_version = told or entry.default, rest
        if entry.source == "path":
            first, _, tail = rest[1:].partition("/")
            if entry.pattern.fullmatch(first):
                version, after_version = first, "/" + tail
        templates = entry.specs.get(version)
        if templates is None:
            return EndpointMatch(entry.name, version, endpoint_of(after_version), "", "none")
        prefix = templates.prefix
        local = (rest[len(prefix) :] or "/") if prefix and _under(rest, prefix) else after_version
        found = templates.find(local, method)
        if found is None:
            return EndpointMatch(entry.name, version, endpoint_of(local), "", "unmatched")
        return EndpointMatch(entry.name, version, found[0], found[1], "matched")


def _query_value(query: str, name: str) -> str | None:
    """The first value of parameter `name`, decoded as a form would be."""
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if unquote_plus(key) == name:
            return unquote_plus(value)
    return None


def _under(path: str, prefix: str) -> bool:
    return path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/")


def _problems(entries: tuple[_ApiEntry, ...]) -> list[str]:
    """What the schema cannot say: uniqueness, and how the version keys fit together."""
    problems: list[str] = []
    names: dict[str, int] = {}
    routes: dict[str, int] = {}
    for i, entry in enumerate(entries):
        at = f"apis.{i}"
        if not entry.name.strip():
            problems.append(f"{at}.name: must not be empty")
        elif entry.name in names:
            problems.append(
                f"{at}.name: {entry.name!r} is already used by apis.{names[entry.name]}"
            )
        names.setdefault(entry.name, i)
        for gateway_api in entry.gateway_apis:
            if gateway_api in routes:
                problems.append(
                    f"{at}.gateway_apis: {gateway_api!r} is already routed to "
                    f"apis.{routes[gateway_api]}; route each gateway API to one API"
                )
            routes.setdefault(gateway_api, i)
        if not entry.base_path.startswith("/") or any(c in entry.base_path for c in "?#{}"):
            problems.append(
                f"{at}.base_path: expected a path starting with / (no query, no "
                f"{{parameters}}), got {entry.base_path!r}"
            )
        problems += _version_problems(at, entry)
    return problems


def _version_problems(at: str, entry: _ApiEntry) -> list[str]:
    rule, problems = entry.version, []
    if "" in entry.specs:
        problems.append(
            f"{at}.specs: empty version key; give the API a version.default and use it as the key"
        )
    for key in ("header", "query"):
        given = getattr(rule, key) is not None
        if rule.source == key and not given:
            problems.append(f"{at}.version.{key}: required with from: {key}")
        elif rule.source != key and given:
            problems.append(f"{at}.version.{key}: only used with from: {key}")
    if rule.source == "none":
        if rule.pattern is not None:
            problems.append(f"{at}.version.pattern: only used with from: path, header or query")
        problems += [
            f"{at}.specs.{version}: never used: with from: none every request has "
            f"version.default ({rule.default or 'empty'})"
            for version in entry.specs
            if version and version != rule.default
        ]
        return problems
    try:
        pattern = re.compile(_pattern(rule))
    except re.error as exc:
        return [*problems, f"{at}.version.pattern: invalid regex: {exc}"]
    problems += [
        f"{at}.specs.{version}: never used: the version does not match version.pattern "
        f"{pattern.pattern!r}"
        for version in entry.specs
        if version and not pattern.fullmatch(version)
    ]
    return problems


def _pattern(rule: _VersionRule) -> str:
    if rule.pattern is not None:
        return rule.pattern
    return PATH_VERSION_PATTERN if rule.source == "path" else TOLD_VERSION_PATTERN


def _load_specs(
    entries: tuple[_ApiEntry, ...], folder: Path
) -> tuple[dict[str, PathTemplates], list[str]]:
    """Each document named in the catalog, loaded once, by its catalog text; and the problems."""
    templates: dict[str, PathTemplates] = {}
    problems: list[str] = []
    for i, entry in enumerate(entries):
        for version, name in entry.specs.items():
            if name in templates:
                continue
            try:
                templates[name] = load_templates(folder / name)
            except FileNotFoundError:
                problems.append(
                    f"apis.{i}.specs.{version}: {name}: no such file "
                    "(document paths are relative to the catalog's folder)"
                )
            except OSError as exc:
                problems.append(f"apis.{i}.specs.{version}: {name}: cannot read: {exc.strerror}")
            except DocumentError as exc:
                problems.append(f"apis.{i}.specs.{version}: {name}: {exc}")
    return templates, problems


def _compiled(entry: _ApiEntry, templates: Mapping[str, PathTemplates]) -> _Api:
    rule = entry.version
    return _Api(
        name=entry.name,
        base=entry.base_path.rstrip("/"),
        source=rule.source,
        pattern=re.compile(_pattern(rule)),
        key=(rule.header or "").lower() if rule.source == "header" else rule.query or "",
        default=rule.default,
        specs={version: templates[name] for version, name in entry.specs.items()},
    )
