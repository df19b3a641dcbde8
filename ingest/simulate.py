"""Feed the traffic simulator into Kafka: an optional stretch of history, then live traffic."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from apim import logs
from ingest.kafka import LineSender, Shipper
from ingest.simulator import TrafficSimulator

log = logs.get(__name__)
SOURCE = "simulator"


async def simulate(
    kafka_url: str,
    topic: str,
    stop: asyncio.Event,
    *,
    rate: float = 20.0,
    history_hours: float = 0.0,
    seed: int = 42,
) -> int:
    """Send simulated Kong lines until `stop` is set; return how many were sent."""
    now = datetime.now(UTC)
    simulator = TrafficSimulator(seed=seed, start=now - timedelta(hours=history_hours))
    shipper = Shipper(kafka_url)
    sender = LineSender(shipper, topic, "kong", SOURCE)
    line_number = 0
    try:
        if history_hours > 0:
            for line in simulator.records(now - timedelta(hours=history_hours), now, rate):
                line_number += 1
                await sender.add(line_number, line)
                if stop.is_set():
                    break
            await sender.flush()
            log.info("simulated history sent", hours=history_hours, lines=line_number)
        tick_end = now
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):  # one tick a second until stopped
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            current = datetime.now(UTC)
            seconds = (current - tick_end).total_seconds()
            for line in simulator.tick(current, seconds, rate):
                line_number += 1
                await sender.add(line_number, line)
            await sender.flush()
            tick_end = current
        await sender.flush()
    finally:
        await shipper.close()
    return sender.sent_lines
