"""Start a Faust worker process: settings → enrichment → warehouse → registry → pipeline →
agents → run.

The process serves its Prometheus metrics (`apim.metrics`) while it runs, at the URL it
logs and writes to `<data dir>/metrics/worker-<pid>.url` (removed on a clean exit).
"""

from __future__ import annotations

import asyncio
import os

import faust

from apim import logs, metrics
from apim import settings as config
from apim.kafka import ensure_topics
from apim.settings import Settings
from processors.agents import register
from processors.app import create_app
from processors.enrichment.apis import ApiCatalog, CatalogError
from processors.enrichment.enricher import Enricher
from processors.enrichment.privacy import PrivacyRules
from processors.parsers import CredentialHasher, parser_for
from processors.pipeline import BatchProcessor
from processors.registry.registry import Registry
from processors.registry.topic import Erasure, ensure_registry_topic, read_all
from processors.sink import WarehouseSink


def build(settings: Settings) -> faust.App:
    import warehouse

    if settings.security.hash_secret is None:
        raise config.ConfigError(
            "APIM_SECURITY_HASH_SECRET is not set: the worker hashes credentials with it; "
            "set it to a long random string (apim up sets one for you)"
        )
    k = settings.kafka
    if k.url is None:
        raise config.ConfigError(
            "APIM_KAFKA_URL is not set: the worker needs a broker (kafka://host:9092); "
            "`apim up` sets it for the embedded one"
        )
    _check_gateway_topics(k.gateway_topics)
    hasher = CredentialHasher(settings.security.hash_secret.get_secret_value().encode())
    enricher = _enricher(settings, hasher)
    topics = [k.raw_topic, k.dlq_topic, *k.gateway_topics]  # created if the gateway has not yet
    asyncio.run(ensure_topics(k.url, topics, k.partitions))
    asyncio.run(ensure_registry_topic(k.url, settings.registry.topic))
    wh = warehouse.connect(settings)
    warehouse.migrate(wh, settings.clickhouse.raw_ttl_days)
    processor = BatchProcessor(WarehouseSink(wh), hasher, enricher=enricher)
    # the whole registry before the first event, so identities do not depend on timing
    updates, registry_start = asyncio.run(read_all(k.url, settings.registry.topic))
    processor.apply_registry([u for u in updates if not isinstance(u, Erasure)])
    app = create_app(settings)
    register(app, settings, processor, registry_start)
    return app


def _enricher(settings: Settings, hasher: CredentialHasher) -> Enricher:
    """The enrichment the settings describe: the API catalog file, the privacy rules."""
    catalog = ApiCatalog.empty()
    if settings.catalog.file is not None:
        try:
            catalog = ApiCatalog.load(settings.catalog.file)
        except (CatalogError, OSError) as exc:
            raise config.ConfigError(f"APIM_CATALOG_FILE: {exc}") from None
    p = settings.privacy
    privacy = PrivacyRules.from_config(p.ip, _names(p.drop_headers), _names(p.drop_query))
    return Enricher(catalog, Registry(), privacy, hasher)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _check_gateway_topics(gateway_topics: dict[str, str]) -> None:
    for topic, fmt in gateway_topics.items():
        try:
            parser_for(fmt)
        except (KeyError, ValueError) as exc:
            message = exc.args[0] if exc.args else exc
            raise config.ConfigError(
                f"APIM_KAFKA_GATEWAY_TOPICS: topic {topic!r}: {message}"
            ) from None


def run(settings: Settings) -> None:
    logs.configure(settings.worker.log_level)
    app = build(settings)
    worker = faust.Worker(
        app,
        loglevel=settings.worker.log_level,
        logging_config=logs.dict_config(settings.worker.log_level),
        quiet=True,
    )
    _, stop_metrics = metrics.publish(settings, f"worker-{os.getpid()}")
    try:
        worker.execute_from_commandline()
    finally:
        stop_metrics()
