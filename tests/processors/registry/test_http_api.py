"""The registry HTTP API over real HTTP on loopback: reads, changes, imports, refusals, and
no clear credential in any answer."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
from aiohttp.test_utils import TestClient, TestServer
from registry_samples import DATA, HASH, assert_no_clear_key, load

from processors.registry.http_api import registry_app
from processors.registry.imports import dump_registry
from processors.registry.model import Change, change_of, deletion
from processors.registry.registry import Identity, Registry

TOKEN = "registry-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WEB_KEY = "ak_live_Ue3Go6Yh1Ai8Sl5Dk2Fj9Hn4"
NEW_KEY = "ak_live_Nw8Ke5Yq2Zr9Xs6Tu3Vw0Ab7C"


@dataclass
class Api:
    client: TestClient
    registry: Registry
    published: list[list[Change]]
    answers: list[str] = field(default_factory=list)

    async def call(self, method: str, path: str, **kwargs) -> tuple[int, object]:
        """(status, JSON body, or the text when not JSON); every answer is kept to scan."""
        async with self.client.request(method, path, **kwargs) as response:
            text = await response.text()
        self.answers.append(text)
        try:
            return response.status, json.loads(text)
        except json.JSONDecodeError:
            return response.status, text


@contextlib.asynccontextmanager
async def serving(
    registry: Registry | None = None, *, fail: bool = False, headers=AUTH, **options
) -> AsyncIterator[Api]:
    """The API on 127.0.0.1; its `publish` applies the changes to the registry and records
    them (what the pipeline does through the registry topic), or fails like Kafka down."""
    registry = registry if registry is not None else Registry()
    published: list[list[Change]] = []

    async def publish(changes: list[Change]) -> None:
        if fail:
            raise ConnectionError("registry topic unreachable")
        for change in changes:
            registry.apply(change)
        published.append(changes)

    app = registry_app(registry, publish, TOKEN, HASH, **options)
    async with TestServer(app, host="127.0.0.1") as server:
        assert server.host == "127.0.0.1"
        async with TestClient(server, headers=headers) as client:
            api = Api(client, registry, published)
            yield api
    for answer in api.answers:
        assert_no_clear_key(answer)


def test_the_bearer_token_is_required_on_every_path() -> None:
    async def scenario() -> None:
        async with serving(headers={}) as api:
            for headers, challenge in [
                ({}, 'Bearer realm="apim"'),
                ({"Authorization": "Bearer wrong"}, 'Bearer realm="apim", error="invalid_token"'),
                ({"Authorization": f"Basic {TOKEN}"}, 'Bearer realm="apim", error="invalid_token"'),
            ]:
                for path in ("/v1/registry/plans", "/v1/nothing"):
                    async with api.client.get(path, headers=headers) as response:
                        assert response.status == 401
                        assert response.headers["WWW-Authenticate"] == challenge
                        assert await response.json() == {"error": "missing or wrong bearer token"}
            assert await api.call("GET", "/v1/registry/plans", headers=AUTH) == (200, [])

    asyncio.run(scenario())


def test_without_a_token_the_api_is_open() -> None:
    async def scenario() -> None:
        registry = Registry(load("tyk-policies.json"))
        app = registry_app(registry, _never_called, None, HASH)
        async with (
            TestServer(app, host="127.0.0.1") as server,
            TestClient(server) as client,
            client.get("/v1/registry/plans/pol-free") as response,
        ):
            assert (response.status, await response.json()) == (
                200,
                {
                    "id": "pol-free",
                    "name": "Free",
                    "monthly_quota": 10000,
                    "rate_limit": "10/s",
                    "price_per_unit": 0.0,
                    "overage_price_per_unit": None,
                },
            )

    asyncio.run(scenario())


async def _never_called(changes: list[Change]) -> None:
    raise AssertionError("nothing to publish")


def test_a_raw_yaml_import_is_published_then_served() -> None:
    async def scenario() -> None:
        async with serving() as api:
            body = (DATA / "registry.yaml").read_bytes()
            status, answer = await api.call(
                "POST",
                "/v1/registry/import",
                data=body,
                headers={"Content-Type": "application/yaml"},
            )
            assert (status, answer) == (
                200,
                {
                    "changes": 19,
                    "kinds": {
                        "plan": 3,
                        "organisation": 2,
                        "consumer": 4,
                        "application": 3,
                        "credential": 7,
                    },
                },
            )
            assert api.published == [load("registry.yaml")]
            assert await api.call("GET", "/v1/registry/organisations") == (
                200,
                [
                    {
                        "id": "acme",
                        "name": "Acme Corp",
                        "tags": ["retail", "eu"],
                        "created": "2023-11-02",
                    },
                    {
                        "id": "globex",
                        "name": "Globex Corporation",
                        "tags": ["logistics", "us"],
                        "created": "2024-02-19",
                    },
                ],
            )
            assert await api.call("GET", "/v1/registry/applications/acme-android") == (
                200,
                {
                    "id": "acme-android",
                    "name": "Acme for Android",
                    "consumer_id": "acme-mobile",
                    "plan_id": "enterprise",
                    "tags": ["beta"],
                    "created": None,
                },
            )
            status, credentials = await api.call("GET", "/v1/registry/credentials")
            assert status == 200
            assert [c["hash"] for c in credentials] == sorted(
                change.id for change in load("registry.yaml") if change.kind == "credential"
            )
            status, export = await api.call("GET", "/v1/registry/export")
            assert (status, export) == (200, dump_registry(api.registry.snapshot()))

    asyncio.run(scenario())


def test_uploaded_files_take_their_format_from_their_name() -> None:
    async def scenario() -> None:
        async with serving() as api:
            for name, expected in [
                (
                    "registry.csv",
                    {
                        "changes": 14,
                        "kinds": {
                            "organisation": 2,
                            "consumer": 4,
                            "application": 3,
                            "credential": 5,
                        },
                    },
                ),
                ("tyk-policies.json", {"changes": 4, "kinds": {"plan": 4}}),
                ("tyk-keys.json", {"changes": 5, "kinds": {"consumer": 2, "credential": 3}}),
                ("kong-consumers.json", {"changes": 4, "kinds": {"consumer": 4}}),
                ("kong-key-auths.json", {"changes": 3, "kinds": {"credential": 3}}),
            ]:
                form = aiohttp.FormData()
                form.add_field("file", (DATA / name).read_bytes(), filename=f"exports/{name}")
                assert await api.call("POST", "/v1/registry/import", data=form) == (200, expected)
                assert api.published[-1] == load(name)
            # an import replaces the consumers it names: acme-mobile is Kong's now
            kong_credential = HASH("c62c1455-9b1d-4f2d-8797-509ba83b8ae8")
            assert api.registry.resolve("", "", kong_credential) == Identity(
                "acme-mobile", "", "acme", "pro", True
            )
            tyk_credential = HASH(
                json.loads((DATA / "tyk-keys.json").read_text())["keys"][0]["key_id"]
            )
            assert api.registry.resolve("", "", tyk_credential) == Identity(
                "acme-mobile", "", "acme", "pro", True
            )

    asyncio.run(scenario())


def test_entities_are_stored_read_and_deleted_one_by_one() -> None:
    async def scenario() -> None:
        async with serving() as api:
            plan = {
                "name": "Gold",
                "monthly_quota": 5_000_000,
                "rate_limit": "200/s",
                "price_per_unit": 0.0002,
            }
            status, stored = await api.call("PUT", "/v1/registry/plans/gold", json=plan)
            assert (status, stored) == (200, {"id": "gold", **plan, "overage_price_per_unit": None})
            consumer = {"id": "initech", "name": "Initech", "plan_id": "gold", "aliases": ["ini"]}
            status, stored = await api.call("POST", "/v1/registry/consumers", json=consumer)
            assert status == 200 and stored["plan_id"] == "gold"
            assert api.registry.resolve("ini", "", "").plan == "gold"
            assert await api.call("GET", "/v1/registry/consumers/initech") == (200, stored)
            assert await api.call("DELETE", "/v1/registry/consumers/initech") == (
                200,
                {"deleted": "consumer:initech"},
            )
            assert api.published[-1] == [deletion("consumer", "initech")]
            assert await api.call("GET", "/v1/registry/consumers/initech") == (
                404,
                {"error": "no such consumer"},
            )
            assert await api.call("DELETE", "/v1/registry/consumers/initech") == (
                404,
                {"error": "no such consumer"},
            )
            assert len(api.published) == 3

    asyncio.run(scenario())


def test_a_credential_given_by_its_clear_key_is_hashed_at_once() -> None:
    async def scenario() -> None:
        async with serving(Registry(load("registry.yaml"))) as api:
            body = {"key": NEW_KEY, "consumer_id": "acme-web", "created": "2024-07-01"}
            status, stored = await api.call("POST", "/v1/registry/credentials", json=body)
            expected = {
                "hash": HASH(NEW_KEY),
                "consumer_id": "acme-web",
                "application_id": "",
                "created": "2024-07-01",
                "revoked": None,
            }
            assert (status, stored) == (200, expected)
            assert api.published[-1] == [change_of(api.registry.get("credential", HASH(NEW_KEY)))]
            # PUT under its hash: with the key, or with the other fields only (revoking it)
            path = f"/v1/registry/credentials/{HASH(NEW_KEY)}"
            assert await api.call("PUT", path, json=body) == (200, expected)
            revoke = {"consumer_id": "acme-web", "revoked": "2024-08-01"}
            assert await api.call("PUT", path, json=revoke) == (
                200,
                {**expected, "created": None, "revoked": "2024-08-01"},
            )
            assert api.registry.resolve("unknown:x", "", HASH(NEW_KEY)).known is False
            assert await api.call(
                "PUT", path, json={"key": WEB_KEY, "consumer_id": "acme-web"}
            ) == (
                400,
                {
                    "error": "body: the credential is not the one in the path: POST it to /v1/registry/credentials"
                },
            )
            assert len(api.published) == 3

    asyncio.run(scenario())


def test_refusals_are_one_line_json_errors() -> None:
    async def scenario() -> None:
        async with serving(max_body_bytes=4096) as api:
            cases = [
                (
                    "GET",
                    "/v1/registry/users",
                    {},
                    404,
                    "unknown registry path: the kinds are plans, organisations, consumers, applications, credentials",
                ),
                (
                    "PUT",
                    "/v1/registry/plans/gold",
                    {"data": b"{not json"},
                    400,
                    "body: invalid JSON: JSON is malformed: object keys must be strings (byte 1)",
                ),
                (
                    "PUT",
                    "/v1/registry/plans/gold",
                    {"json": ["Gold"]},
                    400,
                    "body: expected a JSON object of the entity's fields",
                ),
                (
                    "PUT",
                    "/v1/registry/plans/gold",
                    {"json": {"name": "Gold", "quota": 5}},
                    400,
                    "body: quota: unknown field; a plan has id, name, monthly_quota, rate_limit, price_per_unit, overage_price_per_unit",
                ),
                (
                    "PUT",
                    "/v1/registry/plans/gold",
                    {"json": {"id": "silver", "name": "S"}},
                    400,
                    "body: id 'silver' is not the path's 'gold': make them equal",
                ),
                (
                    "POST",
                    "/v1/registry/consumers",
                    {"json": {"name": "No id"}},
                    400,
                    "body: id: missing: add it",
                ),
                (
                    "POST",
                    "/v1/registry/credentials",
                    {"json": {"key": 42, "consumer_id": "a"}},
                    400,
                    "body: key: expected a string, got int: quote the key",
                ),
                (
                    "POST",
                    "/v1/registry/credentials",
                    {"json": {"kye": WEB_KEY, "consumer_id": "a"}},
                    400,
                    "body: key: missing: give the clear `key` (hashed at import) or `hash`",
                ),
                (
                    "POST",
                    "/v1/registry/import",
                    {"data": b"a,b", "headers": {"Content-Type": "text/plain"}},
                    415,
                    "Content-Type 'text/plain' is not a registry file: send application/yaml, text/csv or application/json, or upload the file (multipart/form-data)",
                ),
                (
                    "POST",
                    "/v1/registry/import",
                    {
                        "data": f"credentials:\n  - key: {WEB_KEY}\n    consumer: acme-web\n".encode(),
                        "headers": {"Content-Type": "application/yaml"},
                    },
                    400,
                    "body:3: credentials[0].consumer: unknown field; did you mean 'consumer_id'? a credential has hash, consumer_id, application_id, created, revoked",
                ),
                (
                    "POST",
                    "/v1/registry/import",
                    {"data": _form("keys.txt", b"x")},
                    400,
                    "keys.txt: unsupported file type '.txt': name it .yaml, .yml, .csv or .json",
                ),
                (
                    "POST",
                    "/v1/registry/import",
                    {"data": _form("big.csv", b"consumer\n" + b"a\n" * 3000)},
                    413,
                    "file larger than 4096 bytes",
                ),
                (
                    "PUT",
                    "/v1/registry/plans/gold",
                    {
                        "data": b"{" + b" " * 5000 + b"}",
                        "headers": {"Content-Type": "application/json"},
                    },
                    413,
                    "Maximum request body size 4096 exceeded.",
                ),
                ("PATCH", "/v1/registry/plans/gold", {"json": {}}, 405, "Method Not Allowed"),
                ("GET", "/v2/registry/plans", {}, 404, "Not Found"),
            ]
            for method, path, kwargs, status, error in cases:
                assert await api.call(method, path, **kwargs) == (status, {"error": error}), (
                    method,
                    path,
                )
            assert api.published == []

    asyncio.run(scenario())


def _form(name: str, content: bytes) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", content, filename=name)
    return form


def test_when_publishing_fails_the_answer_is_503_and_nothing_changes() -> None:
    async def scenario() -> None:
        async with serving(Registry(load("registry.yaml")), fail=True) as api:
            before = api.registry.snapshot()
            for method, path, kwargs in [
                (
                    "POST",
                    "/v1/registry/credentials",
                    {"json": {"key": NEW_KEY, "consumer_id": "acme-web"}},
                ),
                ("DELETE", "/v1/registry/plans/pro", {}),
                (
                    "POST",
                    "/v1/registry/import",
                    {"data": _form("kong.json", (DATA / "kong-key-auths.json").read_bytes())},
                ),
            ]:
                assert await api.call(method, path, **kwargs) == (
                    503,
                    {"error": "the changes were not published: registry topic unreachable"},
                )
            assert api.registry.snapshot() == before

    asyncio.run(scenario())


def test_no_answer_ever_holds_a_clear_key() -> None:
    async def scenario() -> None:
        async with serving() as api:
            for name in ("registry.yaml", "registry.csv", "kong-key-auths.json", "tyk-keys.json"):
                await api.call(
                    "POST", "/v1/registry/import", data=_form(name, (DATA / name).read_bytes())
                )
            for kind in ("consumers", "applications", "credentials"):
                await api.call("GET", f"/v1/registry/{kind}")
            await api.call("GET", "/v1/registry/export")
            await api.call("GET", f"/v1/registry/credentials/{WEB_KEY}")  # a key where a hash goes
            await api.call("DELETE", f"/v1/registry/credentials/{WEB_KEY}")
            assert len(api.answers) == 10
        # `serving` scanned every answer on exit

    asyncio.run(scenario())
