"""One OpenAPI 3 document → a fast matcher from request paths to its path templates.

`load_templates(file)` reads the document (JSON or YAML), validates it with
openapi-spec-validator (relative `$ref`s resolve against the file) and compiles its `paths`
into a segment trie. `PathTemplates.find("/orders/8842", "GET")` then returns the template
and operation id, `("/orders/{id}", "getOrder")`, in about a microsecond per segment.

Matching follows OpenAPI: a literal segment beats a templated one (`/orders/search` before
`/orders/{id}`), a segment mixing text and parameters (`{id}.{format}`, `{name}:run`) comes
between the two, and the search backtracks when a more specific branch dead-ends. Trailing
slashes are ignored. Paths are matched relative to `prefix`, the path of the first
`servers[].url` (variables replaced by their defaults); path- and operation-level `servers`
are not used.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from jsonschema.exceptions import ValidationError
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import ValidatorDetectError
from referencing.exceptions import Unresolvable

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_PARAM = re.compile(r"(\{[^{}/]+\})")
_MAX_MESSAGE = 200


class DocumentError(ValueError):
    """A document that cannot be used; one line, without the file name (the caller adds it)."""


class _TextKeysLoader(yaml.SafeLoader):
    """YAML as JSON-minded documents mean it: keys stay text (`200:`, `on:`), dates too."""


def _text_keys_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[str, Any]:
    loader.flatten_mapping(node)
    return {
        loader.construct_scalar(key): loader.construct_object(value, deep=True)
        for key, value in node.value
    }


_TextKeysLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _text_keys_mapping)
_TextKeysLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_document(file: Path) -> Any:
    """The JSON (`.json`) or YAML content of `file`; mapping keys and dates are kept as text.

    Raises OSError when the file cannot be read, DocumentError when it does not parse."""
    text = file.read_text(encoding="utf-8")
    if file.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise DocumentError(
                f"invalid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from None
    try:
        return yaml.load(text, Loader=_TextKeysLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise DocumentError(f"invalid YAML: {where}{' '.join(problem.split())}") from None


@dataclass(slots=True, eq=False)
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    mixed: list[tuple[re.Pattern[str], _Node]] = field(default_factory=list)
    param: _Node | None = None
    template: str | None = None
    operations: dict[str, str] = field(default_factory=dict)
    """Upper-case method → operationId ("" when the operation has none)."""


@dataclass(frozen=True, slots=True)
class PathTemplates:
    prefix: str
    """Path of the first server URL, "/v2"; "" when it has none."""
    root: _Node

    def find(self, path: str, method: str) -> tuple[str, str] | None:
        """(template, operationId) for `path` relative to `prefix`; operationId is "" when the
        template does not declare `method`. None when no template matches."""
        trimmed = path.strip("/")
        node = _find(self.root, trimmed.split("/") if trimmed else [], 0)
        if node is None:
            return None
        return node.template or "", node.operations.get(method.upper(), "")


def _find(node: _Node, segments: list[str], i: int) -> _Node | None:
    if i == len(segments):
        return node if node.template is not None else None
    segment = segments[i]
    literal = node.literals.get(segment)
    if literal is not None and (found := _find(literal, segments, i + 1)):
        return found
    if not segment:
        return None
    for pattern, child in node.mixed:
        if pattern.fullmatch(segment) and (found := _find(child, segments, i + 1)):
            return found
    return node.param and _find(node.param, segments, i + 1)


def load_templates(file: Path) -> PathTemplates:
    """The checked, compiled OpenAPI 3 document in `file`.

    Raises OSError when a file cannot be read, DocumentError (one line) when the document is
    not valid OpenAPI 3."""
    spec = read_document(file)
    if not isinstance(spec, dict):
        raise DocumentError("not an OpenAPI document: expected a mapping with an openapi key")
    if "swagger" in spec:
        raise DocumentError(
            "Swagger 2.0 is not supported: convert it to OpenAPI 3 (e.g. with swagger2openapi)"
        )
    version = spec.get("openapi")
    if version is None:
        raise DocumentError("not an OpenAPI document: no openapi key (expected openapi: 3.x.y)")
    if not isinstance(version, str):
        raise DocumentError(f'openapi: write the version in quotes ("{version}")')
    _validate(spec, file, version)
    root = _Node()
    for template, item in (spec.get("paths") or {}).items():
        _add(root, template, _operations(_resolved(item, spec, file)))
    return PathTemplates(_server_path(spec), root)


def _validate(spec: dict[str, Any], file: Path, version: str) -> None:
    try:
        validate(spec, base_uri=file.resolve().as_uri())
    except ValidatorDetectError:
        raise DocumentError(f"OpenAPI {version} is not supported: use 3.0, 3.1 or 3.2") from None
    except Unresolvable as exc:
        raise DocumentError(f"$ref {exc.ref!r} cannot be resolved") from None
    except ValidationError as exc:
        where = f"{exc.json_path}: " if exc.absolute_path else ""
        message = " ".join(exc.message.split())
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 1] + "…"
        raise DocumentError(f"invalid OpenAPI {version}: {where}{message}") from None


def _resolved(item: Any, spec: dict[str, Any], file: Path) -> dict[str, Any]:
    """A path item, following its `$ref` (same document or a relative file) once."""
    if not isinstance(item, dict) or "$ref" not in item:
        return item if isinstance(item, dict) else {}
    target, _, pointer = str(item["$ref"]).partition("#")
    document = read_document(file.parent / unquote(target)) if target else spec
    for key in filter(None, pointer.split("/")):
        document = document[unquote(key).replace("~1", "/").replace("~0", "~")]
    return document


def _operations(item: dict[str, Any]) -> dict[str, str]:
    return {
        method.upper(): str((item[method] or {}).get("operationId") or "")
        for method in METHODS
        if method in item
    }


def _add(root: _Node, template: str, operations: dict[str, str]) -> None:
    """Insert `template`; a second template with the same shape (`/a/` after `/a`) only adds
    the operations the first one lacks."""
    node = root
    for segment in filter(None, template.split("/")):
        node = _child(node, segment)
    if node.template is None:
        node.template = template
    for method, operation_id in operations.items():
        node.operations.setdefault(method, operation_id)


def _child(node: _Node, segment: str) -> _Node:
    if not _PARAM.search(segment):
        return node.literals.setdefault(segment, _Node())
    if _PARAM.fullmatch(segment):
        node.param = node.param or _Node()
        return node.param
    shape = re.compile(
        "".join(
            "[^/]+?" if _PARAM.fullmatch(part) else re.escape(part)
            for part in _PARAM.split(segment)
        )
    )
    for pattern, child in node.mixed:
        if pattern.pattern == shape.pattern:
            return child
    node.mixed.append((shape, _Node()))
    return node.mixed[-1][1]


def _server_path(spec: dict[str, Any]) -> str:
    servers = spec.get("servers") or [{}]
    server = servers[0]
    url = str(server.get("url") or "")
    for name, variable in (server.get("variables") or {}).items():
        url = url.replace("{" + name + "}", str(variable.get("default", "")))
    path = urlsplit(url).path.strip("/")
    return "/" + path if path else ""
