"""The registry's HTTP API: read, change and import the registry while the pipeline runs.

    GET    /v1/registry/<kind>s             every entity of the kind, by id (JSON array)
    POST   /v1/registry/<kind>s             store the entity in the body (its id in it)
    GET    /v1/registry/<kind>s/<id>        one entity (a credential's id is its hash)
    PUT    /v1/registry/<kind>s/<id>        store the entity in the body under that id
    DELETE /v1/registry/<kind>s/<id>        delete it
    POST   /v1/registry/import              a registry file (YAML, CSV, Kong or Tyk JSON):
                                            a multipart upload (format from the file name)
                                            or the raw body (format from Content-Type)
    GET    /v1/registry/export              the registry as a registry YAML file

Kinds: plan, organisation, consumer, application, credential. A credential may be given as
`{"key": "<clear key>", "consumer_id": …}`: it is hashed at once and only the hash is kept
and returned. Changes are handed to `publish` (the registry topic) and the answer comes once
it returns; the registry served here sees them when they are applied to it. Errors are JSON
`{"error": "<one line>"}`: 400 invalid body or file, 401 without the bearer token (when one
is set; compared in constant time), 404 unknown kind or entity, 413 body too large, 415
unknown body format, 503 publishing failed.
"""

from __future__ import annotations

import asyncio
import hmac
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import PurePath
from typing import Any

import msgspec
from aiohttp import BodyPartReader, web

from apim import logs
from processors.registry.imports import (
    Format,
    RegistryFileError,
    dump_registry,
    format_of,
    load_registry,
)
from processors.registry.imports_common import Hasher, credential_fields
from processors.registry.model import (
    KINDS,
    Change,
    Entity,
    EntityError,
    change_of,
    deletion,
    entity_id,
    entity_of,
)
from processors.registry.registry import Registry

log = logs.get(__name__)
Publish = Callable[[list[Change]], Awaitable[None]]
MAX_BODY_BYTES = 64 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
PLURALS = {f"{kind}s": kind for kind in KINDS}
CONTENT_TYPES: dict[str, Format] = {
    "application/yaml": "yaml",
    "application/x-yaml": "yaml",
    "text/yaml": "yaml",
    "text/x-yaml": "yaml",
    "text/csv": "csv",
    "application/json": "json",
}
_JSON = msgspec.json.Encoder()
_POST_IT = "POST it to /v1/registry/credentials"


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def registry_app(
    registry: Registry,
    publish: Publish,
    token: str | None,
    hash_credential: Hasher,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> web.Application:
    """The API over `registry`; `publish` is awaited with the changes of each request."""
    api = _Api(registry, publish, hash_credential, max_body_bytes)
    app = web.Application(
        middlewares=[_errors, *([_bearer(token)] if token else [])],
        client_max_size=max_body_bytes,
    )
    app.router.add_get("/v1/registry/export", api.export)
    app.router.add_post("/v1/registry/import", api.import_file)
    app.router.add_get("/v1/registry/{kinds}", api.list_kind)
    app.router.add_post("/v1/registry/{kinds}", api.post_entity)
    app.router.add_get("/v1/registry/{kinds}/{id:.+}", api.get_entity)
    app.router.add_put("/v1/registry/{kinds}/{id:.+}", api.put_entity)
    app.router.add_delete("/v1/registry/{kinds}/{id:.+}", api.delete_entity)
    return app


class _Api:
    def __init__(
        self, registry: Registry, publish: Publish, hasher: Hasher, max_body_bytes: int
    ) -> None:
        self._registry = registry
        self._publish_changes = publish
        self._hasher = hasher
        self._max_body_bytes = max_body_bytes

    async def list_kind(self, request: web.Request) -> web.Response:
        return _json(self._registry.entities(_kind(request)))

    async def get_entity(self, request: web.Request) -> web.Response:
        kind = _kind(request)
        entity = self._registry.get(kind, request.match_info["id"])
        if entity is None:
            raise _Refused(404, f"no such {kind}")
        return _json(entity)

    async def post_entity(self, request: web.Request) -> web.Response:
        entity = self._entity(_kind(request), await _json_object(request), None)
        await self._publish([change_of(entity)])
        return _json(entity)

    async def put_entity(self, request: web.Request) -> web.Response:
        kind, id = _kind(request), request.match_info["id"]
        entity = self._entity(kind, await _json_object(request), id)
        await self._publish([change_of(entity)])
        return _json(entity)

    async def delete_entity(self, request: web.Request) -> web.Response:
        kind, id = _kind(request), request.match_info["id"]
        if self._registry.get(kind, id) is None:
            raise _Refused(404, f"no such {kind}")
        change = deletion(kind, id)
        await self._publish([change])
        return _json({"deleted": change.key})

    async def import_file(self, request: web.Request) -> web.Response:
        data, fmt, name = await self._upload(request)
        try:
            changes = await asyncio.to_thread(load_registry, data, fmt, name, self._hasher)
        except RegistryFileError as exc:
            raise _Refused(400, str(exc)) from None
        if changes:
            await self._publish(changes)
        counts = Counter(change.kind for change in changes)
        kinds = {kind: counts[kind] for kind in KINDS if counts[kind]}
        return _json({"changes": len(changes), "kinds": kinds})

    async def export(self, request: web.Request) -> web.Response:
        return web.Response(
            text=dump_registry(self._registry.snapshot()), content_type="application/yaml"
        )

    def _entity(self, kind: str, fields: dict[str, Any], path_id: str | None) -> Entity:
        """The entity a body gives; under `path_id` when the body gives no id (nor key)."""
        id_field = "hash" if kind == "credential" else "id"
        if path_id is not None and "key" not in fields:
            fields.setdefault(id_field, path_id)
        try:
            if kind == "credential":
                fields = credential_fields(fields, self._hasher)
            entity = entity_of(kind, fields)
        except EntityError as exc:
            raise _Refused(400, f"body: {exc}") from None
        found = entity_id(entity)
        if path_id is not None and found != path_id:
            if kind == "credential":  # never quote a hash a clear key may have been sent for
                raise _Refused(400, f"body: the credential is not the one in the path: {_POST_IT}")
            raise _Refused(
                400, f"body: id {found!r} is not the path's {path_id!r}: make them equal"
            )
        return entity

    async def _publish(self, changes: list[Change]) -> None:
        try:
            await self._publish_changes(changes)
        except Exception as exc:  # the registry topic is down: the client retries
            log.warning("registry changes not published", changes=len(changes), error=str(exc))
            raise _Refused(503, f"the changes were not published: {exc}") from None

    async def _upload(self, request: web.Request) -> tuple[bytes, Format, str]:
        """The file in a request: (content, format, name for errors)."""
        if request.content_type == "multipart/form-data":
            async for part in await request.multipart():
                if isinstance(part, BodyPartReader) and part.filename:
                    name = PurePath(part.filename).name
                    fmt = _format_of(name)
                    return await self._read_part(part), fmt, name
            raise _Refused(400, "no file in the upload: send it as a file field")
        fmt = CONTENT_TYPES.get(request.content_type)
        if fmt is None:
            raise _Refused(
                415,
                f"Content-Type {request.content_type!r} is not a registry file: send "
                "application/yaml, text/csv or application/json, or upload the file "
                "(multipart/form-data)",
            )
        return await request.read(), fmt, "body"

    async def _read_part(self, part: BodyPartReader) -> bytes:
        chunks, size = [], 0
        while chunk := await part.read_chunk(CHUNK_BYTES):
            size += len(chunk)
            if size > self._max_body_bytes:
                raise _Refused(413, f"file larger than {self._max_body_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def _format_of(name: str) -> Format:
    try:
        return format_of(name)
    except RegistryFileError as exc:
        raise _Refused(400, str(exc)) from None


def _kind(request: web.Request) -> str:
    kind = PLURALS.get(request.match_info["kinds"])
    if kind is None:
        raise _Refused(404, f"unknown registry path: the kinds are {', '.join(PLURALS)}")
    return kind


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        found = msgspec.json.decode(await request.read())
    except msgspec.DecodeError as exc:
        raise _Refused(400, f"body: invalid JSON: {exc}") from None
    if not isinstance(found, dict):
        raise _Refused(400, "body: expected a JSON object of the entity's fields")
    return found


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=_JSON.encode(value), status=status, content_type="application/json")


@web.middleware
async def _errors(request: web.Request, handler: Callable) -> web.StreamResponse:
    """Every refusal as `{"error": "<one line>"}`, aiohttp's own (404, 405, 413) too."""
    try:
        return await handler(request)
    except _Refused as exc:
        return _json({"error": str(exc)}, exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _json({"error": exc.reason if exc.status != 413 else exc.text}, exc.status)


def _bearer(token: str) -> Callable:
    expected = token.encode()

    @web.middleware
    async def check(request: web.Request, handler: Callable) -> web.StreamResponse:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected):
            return await handler(request)
        challenge = 'Bearer realm="apim"'
        if "Authorization" in request.headers:
            challenge += ', error="invalid_token"'
        response = _json({"error": "missing or wrong bearer token"}, 401)
        response.headers["WWW-Authenticate"] = challenge
        return response

    return check
