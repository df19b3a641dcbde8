"""The worker's agents: raw log lines in, counted events and dead letters out.

`process_raw` takes batches of raw-logs messages, runs them through the `BatchProcessor`
(parse, aggregate, write to the warehouse) in a thread, sends the rejected records to the
dead-letter topic, and only then acks the batch, so Kafka offsets never pass anything that
is not durable. Warehouse failures are retried with back-off; input never crashes the worker.

Every batch is counted in the `apim.metrics` metrics (stages parse, aggregate, sink); a
timer updates the consumer lag of the owned partitions every `LAG_INTERVAL_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import faust

from apim import logs, metrics
from apim.settings import Settings
from processors.aggregate import UsageAggregator
from processors.parsers import MAPPING_PREFIX, PARSERS
from processors.pipeline import BatchOutcome, BatchProcessor, RawMessage
from processors.registry.topic import Update, follow
from processors.sink import DeadLetter

log = logs.get(__name__)
RETRY_MAX_S = 30.0
LAG_INTERVAL_S = 5.0


def register(
    app: faust.App,
    settings: Settings,
    processor: BatchProcessor,
    registry_start: dict[int, int] | None = None,
) -> None:
    """The agents, the lag timer and the registry follower (from `registry_start`, the
    offsets after the registry the processor was built with)."""
    k = settings.kafka
    topics = (k.raw_topic, *k.gateway_topics, k.dlq_topic)
    raw = app.topic(*topics, value_type=bytes, value_serializer="raw")
    dlq = app.topic(settings.kafka.dlq_topic, value_type=bytes, value_serializer="raw")
    metrics.register_worker_metrics()
    metrics.init_stages(*metrics.WORKER_STAGES)
    processed: dict[Any, int] = {}
    """Next offset to process, per partition processed since it was assigned."""

    @app.agent(raw, concurrency=1)
    async def process_raw(stream: faust.StreamT) -> None:
        batches = stream.noack_take(
            settings.worker.batch_max, within=settings.worker.batch_within_s
        )
        async for batch in batches:
            messages = [
                _raw_message(event.message, k.gateway_topics, k.dlq_topic) for event in batch
            ]
            metrics.MESSAGES_RECEIVED.inc(len(messages))
            outcome = await _process_until_done(processor, messages)
            sent = [
                await dlq.send(key=_dlq_key(d), value=_dlq_value(d)) for d in outcome.dead_letters
            ]
            await asyncio.gather(*sent)
            for event in batch:
                await stream.ack(event)
                tp = event.message.tp
                processed[tp] = max(processed.get(tp, 0), event.message.offset + 1)
            _count(outcome)
            _report_last_complete_minute(processor.aggregator)
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
            processed.pop(tp, None)
            _forget_lag(tp)
        _report_last_complete_minute(processor.aggregator)

    @app.task
    async def follow_registry() -> None:
        loop = asyncio.get_running_loop()

        async def apply(updates: list[Update]) -> None:
            await loop.run_in_executor(None, processor.apply_registry, updates)
            log.info("registry updated", changes=len(updates))

        await follow(k.url or "", settings.registry.topic, registry_start or {}, apply)

    @app.timer(LAG_INTERVAL_S)
    async def report_lag() -> None:
        try:
            await _report_lag(app.consumer, set(topics), processed)
        except Exception as exc:  # not started, rebalancing, broker away: next tick will do
            log.debug("consumer lag not available", error=repr(exc))


async def _report_lag(consumer: Any, topics: set[str], processed: dict[Any, int]) -> None:
    """Lag of each owned partition: log end offset − next offset to process.

    The next offset is the one after the last message this worker acked, else Faust's
    committed offset for the partition (what the previous owner made durable), else the
    partition's earliest offset (`consumer_auto_offset_reset` is earliest).
    """
    tps = sorted(tp for tp in consumer.assignment() if tp.topic in topics)
    if not tps:
        return
    ends = await consumer.highwaters(*tps)
    committed = getattr(consumer, "_committed_offset", {})  # Faust has no public accessor
    positions = {tp: processed.get(tp) or committed.get(tp) for tp in tps}
    unknown = [tp for tp, position in positions.items() if position is None]
    if unknown:
        positions.update(await consumer.earliest_offsets(*unknown))
    for tp in tps:
        end, position = ends.get(tp), positions.get(tp)
        if end is not None and position is not None:
            lag = max(end - position, 0)
            metrics.CONSUMER_LAG.labels(topic=tp.topic, partition=str(tp.partition)).set(lag)


def _forget_lag(tp: Any) -> None:
    with contextlib.suppress(KeyError):  # never reported
        metrics.CONSUMER_LAG.remove(tp.topic, str(tp.partition))


def _count(outcome: BatchOutcome) -> None:
    """The batch in the per-stage counters (a batch is all-or-nothing: after it succeeded)."""
    letters = len(outcome.dead_letters)
    unknown_format = sum(
        1 for d in outcome.dead_letters if _format_label(d.format) == metrics.UNKNOWN
    )
    metrics.EVENTS_RECEIVED.labels(stage=metrics.PARSE).inc(outcome.events + letters)
    metrics.EVENTS_SENT.labels(stage=metrics.PARSE).inc(outcome.events)
    metrics.count_errors(metrics.PARSE, metrics.MALFORMED, letters - unknown_format)
    metrics.count_errors(metrics.PARSE, metrics.UNKNOWN_FORMAT, unknown_format)
    for stage in (metrics.AGGREGATE, metrics.SINK):
        metrics.EVENTS_RECEIVED.labels(stage=stage).inc(outcome.events)
        metrics.EVENTS_SENT.labels(stage=stage).inc(outcome.events)
    for d in outcome.dead_letters:
        metrics.DEAD_LETTERS.labels(format=_format_label(d.format)).inc()
    metrics.MESSAGES_SKIPPED.inc(outcome.skipped_messages)


def _format_label(fmt: str) -> str:
    """The `format` header comes from the shipper: only known names become label values
    (all mapping files share one label, so the metric stays bounded)."""
    if fmt.startswith(MAPPING_PREFIX):
        return "mapping"
    return fmt if fmt in PARSERS else metrics.UNKNOWN


def _report_last_complete_minute(aggregator: UsageAggregator) -> None:
    minute = metrics.last_complete_minute(aggregator.watermarks())
    if minute is not None:
        metrics.LAST_COMPLETE_MINUTE.set(minute)


async def _process_until_done(
    processor: BatchProcessor, messages: list[RawMessage]
) -> BatchOutcome:
    loop = asyncio.get_running_loop()
    delay = 0.5
    retried = False
    while True:
        started = time.perf_counter()
        try:
            outcome = await loop.run_in_executor(None, processor.process, messages)
        except Exception as exc:  # the warehouse is down, or a bug: never drop the batch
            metrics.count_errors(metrics.SINK, metrics.BATCH_FAILED)
            if not retried:
                metrics.BATCHES_RETRIED.inc()
                retried = True
            log.error("batch failed, retrying", error=str(exc), retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
        else:
            metrics.SINK_BATCH_SECONDS.observe(time.perf_counter() - started)
            return outcome


def _raw_message(message: Any, gateway_topics: dict[str, str], dlq_topic: str) -> RawMessage:
    """Our shippers' messages carry their format in headers; a gateway's own topic has the
    format declared in the settings, and each message is one record (or one JSON array).
    The dead-letter topic is read too, to store what the shippers themselves rejected."""
    fmt = gateway_topics.get(message.topic)
    if fmt is not None:
        headers = {"format": fmt.encode(), "source": message.topic.encode()}
    else:
        pairs = message.headers or {}
        pairs = pairs.items() if isinstance(pairs, dict) else pairs
        headers = {k: v or b"" for k, v in pairs}
    return RawMessage(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        value=message.value or b"",
        headers=headers,
        kind="record"
        if fmt is not None
        else "dead_letter"
        if message.topic == dlq_topic
        else "lines",
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
