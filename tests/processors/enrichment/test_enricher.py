"""The enrichment step on realistic events: the issue's example end to end (Acme Corp's
mobile app, on the Pro plan, calling `GET /orders/{id}` of Orders API v2), privacy applied
after the catalog has read what it needs, and what the pipeline does around it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from apim.event import AccessEvent, unknown_consumer
from processors.enrichment.apis import ApiCatalog
from processors.enrichment.enricher import Enricher
from processors.enrichment.privacy import PrivacyRules
from processors.parsers import CredentialHasher
from processors.registry.imports import load_registry_file
from processors.registry.registry import Registry

DATA = Path(__file__).resolve().parents[2] / "data"
HASH = CredentialHasher(b"enrichment-test-secret")
IOS_KEY = "ak_live_7Hq2LmX9vB4nR8sT1wZ6cY3d"  # tests/data/registry/registry.yaml
ANDROID_UA = "okhttp/4.12.0"


def enricher(ip_mode: str = "truncate") -> Enricher:
    registry = Registry(load_registry_file(DATA / "registry" / "registry.yaml", HASH))
    catalog = ApiCatalog.load(DATA / "openapi" / "catalog.yaml")
    return Enricher(catalog, registry, PrivacyRules.from_config(ip_mode), HASH)


def event(**fields) -> AccessEvent:
    base = {
        "event_time": datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
        "gateway": "kong",
        "method": "GET",
        "path": "/v2/orders/8842",
        "status": 200,
        "api": "orders",
        "query": "api_key=" + IOS_KEY + "&expand=items",
        "headers": {"apikey": IOS_KEY, "user-agent": ANDROID_UA},
        "consumer": unknown_consumer(HASH(IOS_KEY)),
        "credential_hash": HASH(IOS_KEY),
        "client_ip": "81.2.69.160",
        "user_agent": ANDROID_UA,
    }
    return AccessEvent(**{**base, **fields})


def test_the_issue_example_is_enriched_end_to_end():
    e = enricher().enrich(event())
    assert (e.api, e.api_version, e.method, e.endpoint) == (
        "Orders API",
        "v2",
        "GET",
        "/orders/{id}",
    )
    assert (e.operation_id, e.spec) == ("getOrderV2", "matched")
    assert (e.consumer, e.application, e.organisation, e.plan) == (
        "acme-mobile",
        "acme-ios",
        "acme",
        "pro",
    )
    assert (e.country, e.client_ip) == ("GB", "81.2.69.0")
    assert (e.client_family, e.sdk, e.client_os) == ("okhttp", "okhttp 4", "")
    assert e.query == "expand=items" and e.headers == {"user-agent": ANDROID_UA}
    assert e.credential_hash == HASH(IOS_KEY) and e.path == "/v2/orders/8842"


def test_unknown_credential_stays_unknown_and_spec_misses_are_marked():
    stranger = HASH("somebody-else")
    e = enricher().enrich(
        event(path="/v2/refunds/77", consumer=unknown_consumer(stranger), credential_hash=stranger)
    )
    assert (e.consumer, e.organisation, e.plan) == (unknown_consumer(stranger), "", "")
    assert (e.api, e.api_version, e.endpoint, e.spec) == (
        "Orders API",
        "v2",
        "/refunds/{id}",
        "unmatched",
    )


def test_ip_modes():
    assert enricher("hash").enrich(event()).client_ip == "h:" + HASH("81.2.69.160")[:16]
    assert enricher("drop").enrich(event()).client_ip == ""
    kept = enricher("keep").enrich(event())
    assert (kept.client_ip, kept.country) == ("81.2.69.160", "GB")


def test_default_enrichment_only_folds_and_protects():
    e = Enricher.default(HASH).enrich(event(api="orders-svc"))
    assert (e.api, e.api_version, e.endpoint, e.spec) == (
        "orders-svc",
        "",
        "/v2/orders/{id}",
        "none",
    )
    assert e.consumer == unknown_consumer(HASH(IOS_KEY)) and e.client_ip == "81.2.69.0"
