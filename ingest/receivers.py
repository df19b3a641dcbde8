"""Running the network receivers (HTTP, syslog) of one process until told to stop.

They share one `Outbox` (one Kafka producer, one spool). On stop they stop listening
first, then everything already taken is delivered: the HTTP requests in progress get their
answer once their records are durable (aiohttp waits up to 60 s for them), and the outbox
ships what is left, waiting for Kafka or spool room as long as it takes, like `apim ingest`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from ingest.outbox import Outbox


class Receiver(Protocol):
    async def start(self) -> object: ...

    async def close(self) -> None: ...


async def serve(outbox: Outbox, receivers: Sequence[Receiver], stop: asyncio.Event) -> None:
    """Run `receivers` (built on `outbox`) until `stop` is set, then deliver and close."""
    outbox.start()
    started: list[Receiver] = []
    try:
        for receiver in receivers:
            await receiver.start()
            started.append(receiver)
        await stop.wait()
    finally:
        for receiver in started:
            await receiver.close()
        await outbox.close()
