"""Feed the traffic simulator into Kafka: an optional stretch of history, then live traffic.

Lines are counted in the `ingest` stage metrics (`apim.metrics`), served by `apim up`.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from apim import logs, metrics
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
    received = metrics.EVENTS_RECEIVED.labels(stage=metrics.INGEST)
    sent = metrics.RunningTotal(metrics.EVENTS_SENT.labels(stage=metrics.INGEST))
    line_number = 0
    try:
        if history_hours > 0:
            for line in simulator.records(now - timedelta(hours=history_hours), now, rate):
                line_number += 1
                received.inc()
                await sender.add(line_number, line)
                sent.update(sender.sent_lines)
                if stop.is_set():
                    break
            await sender.flush()
            sent.update(sender.sent_lines)
            log.info("simulated history sent", hours=history_hours, lines=line_number)
        tick_end = now
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):  # one tick a second until stopped
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            current = datetime.now(UTC)
            seconds = (current - tick_end).total_seconds()
            for line in simulator.tick(current, seconds, rate):
                line_number += 1
                received.inc()
                await sender.add(line_number, line)
            await sender.flush()
            sent.update(sender.sent_lines)
            tick_end = current
        await sender.flush()
        sent.update(sender.sent_lines)
    finally:
        await shipper.close()
    return sender.sent_lines
