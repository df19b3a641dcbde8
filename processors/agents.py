"""The worker's agents: raw log lines in, counted events and dead letters out.

`process_raw` takes batches of raw-logs messages, runs them through the `BatchProcessor`
(parse, aggregate, write to the warehouse) in a thread, sends the rejected records to the
dead-letter topic, and only then acks the batch, so Kafka offsets never pass anything that
is not durable. Warehouse failures are retried with back-off; input never crashes the worker.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import faust

from apim import logs
from apim.settings import Settings
from processors.pipeline import BatchProcessor, RawMessage
from processors.sink import DeadLetter

log = logs.get(__name__)
RETRY_MAX_S = 30.0


def register(app: faust.App, settings: Settings, processor: BatchProcessor) -> None:
    raw = app.topic(settings.kafka.raw_topic, value_type=bytes, value_serializer="raw")
    dlq = app.topic(settings.kafka.dlq_topic, value_type=bytes, value_serializer="raw")

    @app.agent(raw, concurrency=1)
    async def process_raw(stream: faust.StreamT) -> None:
        batches = stream.noack_take(
            settings.worker.batch_max, within=settings.worker.batch_within_s
        )
        async for batch in batches:
            messages = [_raw_message(event.message) for event in batch]
            outcome = await _process_until_done(processor, messages)
            sent = [
                await dlq.send(key=_dlq_key(d), value=_dlq_value(d)) for d in outcome.dead_letters
            ]
            await asyncio.gather(*sent)
            for event in batch:
                await stream.ack(event)
            log.debug(
                "batch done",
                messages=len(messages),
                events=outcome.events,
                dead_letters=len(outcome.dead_letters),
                skipped=outcome.skipped_messages,
            )

    @app.on_partitions_revoked.connect
    async def on_revoked(app: faust.App, revoked: set[Any], **kwargs: Any) -> None:
        for tp in revoked:
            processor.revoke(f"{tp.topic}/{tp.partition}")


async def _process_until_done(processor: BatchProcessor, messages: list[RawMessage]):
    loop = asyncio.get_running_loop()
    delay = 0.5
    while True:
        try:
            return await loop.run_in_executor(None, processor.process, messages)
        except Exception as exc:  # the warehouse is down, or a bug: never drop the batch
            log.error("batch failed, retrying", error=str(exc), retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)


def _raw_message(message: Any) -> RawMessage:
    headers = message.headers or {}
    pairs = headers.items() if isinstance(headers, dict) else headers
    return RawMessage(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        value=message.value or b"",
        headers={k: v or b"" for k, v in pairs},
    )


def _dlq_key(d: DeadLetter) -> bytes:
    return f"{d.src}/{d.src_offset}/{d.record_index}".encode()


def _dlq_value(d: DeadLetter) -> bytes:
    return json.dumps(
        {
            "src": d.src,
            "offset": d.src_offset,
            "index": d.record_index,
            "source": d.source,
            "format": d.format,
            "reason": d.reason,
            "record": d.record,
        }
    ).encode()
