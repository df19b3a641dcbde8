"""The registry HTTP API as a running service, and the registry's return after a restart.

`RegistryService` keeps a `Registry` current from the registry topic and serves the HTTP API
over it; every change made through the API is published to the topic (which every worker
follows) and applied here at once, so a client reads its own writes. `apim up` runs it in
its process; `apim registry serve` runs it alone (production).

`reseed` gives a memory-only broker its registry back: when the topic is empty, the
registry saved in the warehouse is published again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from apim import logs
from apim.net import is_loopback
from processors.registry.http_api import registry_app
from processors.registry.model import Change, decode_change
from processors.registry.registry import Registry
from processors.registry.topic import (
    Update,
    ensure_registry_topic,
    follow,
    publish,
    read_all,
)
from warehouse import Warehouse
from warehouse.registry_store import load_registry

log = logs.get(__name__)


async def reseed(url: str, topic: str, wh: Warehouse) -> int:
    """Publish the warehouse's registry to an empty registry topic; returns the changes sent."""
    await ensure_registry_topic(url, topic)
    updates, _ = await read_all(url, topic)
    if updates:
        return 0
    stored = await asyncio.to_thread(load_registry, wh)
    changes = [decode_change(entity.encode()) for _, _, entity in stored]
    if changes:
        await publish(url, topic, changes)
        log.info("registry re-published from the warehouse", changes=len(changes))
    return len(changes)


class RegistryService:
    def __init__(
        self,
        kafka_url: str,
        topic: str,
        hash_credential: Callable[[str], str],
        host: str,
        port: int,
        token: str | None,
    ) -> None:
        if not token and not is_loopback(host):
            raise ValueError(
                f"refusing to serve the registry API on {host} without a token: set "
                "APIM_REGISTRY_TOKEN, or listen on a loopback address"
            )
        self.kafka_url = kafka_url
        self.topic = topic
        self.registry = Registry()
        self._hash = hash_credential
        self._host, self._port, self._token = host, port, token
        self._runner: web.AppRunner | None = None
        self._follower: asyncio.Task | None = None
        self.url = ""

    async def start(self) -> str:
        """Load the registry, follow the topic, serve the API; returns its URL."""
        await ensure_registry_topic(self.kafka_url, self.topic)
        updates, start = await read_all(self.kafka_url, self.topic)
        self._apply(updates)
        self._follower = asyncio.create_task(
            follow(self.kafka_url, self.topic, start, self._apply_async)
        )
        app = registry_app(self.registry, self._publish, self._token, self._hash)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        try:
            await site.start()
        except OSError as exc:
            await self.stop()
            raise OSError(
                f"registry API address {self._host}:{self._port} is not available "
                f"({(exc.strerror or str(exc)).split(' (')[0]}): stop what uses it or set "
                "APIM_REGISTRY_PORT"
            ) from None
        port = site._server.sockets[0].getsockname()[1]  # the chosen one when port is 0
        self.url = f"http://{self._host}:{port}/v1/registry"
        log.info("registry API serving", url=self.url)
        return self.url

    async def stop(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            await asyncio.gather(self._follower, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    async def _publish(self, changes: list[Change]) -> None:
        await publish(self.kafka_url, self.topic, changes)
        self._apply(changes)

    async def _apply_async(self, updates: list[Update]) -> None:
        self._apply(updates)

    def _apply(self, updates: list[Update]) -> None:
        for update in updates:
            if isinstance(update, Change):
                self.registry.apply(update)
