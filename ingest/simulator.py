"""Synthetic Kong traffic for a made-up API program: file-log JSON lines, nothing else.

What it models
- Consumers: companies on plans free / pro / enterprise (about 70 / 25 / 5 %), each with
  one to three apps; one Kong consumer per app ("northpine-logistics-mobile") with a
  uuid, an optional custom_id, tags ``plan:<plan>`` and ``app:<app>``, a credential id
  (logged as ``authenticated_entity.id``), user agents that fit the app (SDK, server
  HTTP client, mobile, browser, curl/Postman), client IPs and a heavy-tailed activity
  weight (Pareto, multiplied by the plan: a few big consumers make most calls).
- Lifecycle: most consumers exist before the simulation starts; the others sign up over
  the following days (exponential, mean 4 days); some churn (free plans most often) and
  make no call after their churn time. Join and churn times fall on whole UTC minutes.
- Endpoints: up to 40 routes over services catalog, orders, payments, users, search,
  reports, notifications, inventory (with /v1 and /v2 versions). Each has a popularity,
  a log-normal latency (per-endpoint median and spread; search and reports are slow),
  a baseline error mix (4xx by method, rare 5xx), response and request body sizes and
  optional query strings. Path ids ({id}) are filled with numbers, uuids or SKUs, so
  raw paths vary while route names stay few.
- Volume: `rate` requests/s at the weekday peak (14:30 UTC), a Gaussian business-hours
  curve down to 12 % at night, weekends at 45 %; counts are Poisson.
- Incidents: in about one hour in six an endpoint or a whole service has a 3-15 minute
  incident: many 5xx (500/502/503, or 504 timeouts) and slower responses.
- Gateway answers: ~3 % of requests are anonymous (public catalog/search endpoints, or a
  Kong 401 without consumer on protected ones); Kong rate limiting gives 429s, mostly to
  free plans. Those responses have ``latencies.proxy`` -1, ``upstream_status`` "" and
  ``source`` "kong".

What it does not model: retries (``tries`` has one entry), TLS details, request or
response bodies, the stream subsystem, Kong node names, per-consumer time zones, traffic
that depends on earlier responses, or growth of total volume with the number of consumers
(`rate` alone sets the volume).

What it does: `TrafficSimulator.tick` and `TrafficSimulator.records` return the JSON lines
(bytes, no newline). No Kafka, no I/O. Output depends only on the seed, the simulation
start and the interval asked for: each whole UTC minute (or the part of it inside the
interval) is generated from its own random stream, so asking twice for the same interval
gives the same lines, and `records(a, b)` equals the `tick`s that cover [a, b) minute by
minute.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import msgspec

__all__ = [
    "ANONYMOUS_SHARE",
    "Consumer",
    "Endpoint",
    "Incident",
    "TrafficSimulator",
    "diurnal_factor",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE_MS = 60_000
_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000
_ONE_MS = timedelta(milliseconds=1)
_ONE_US = timedelta(microseconds=1)

PLANS = ("free", "pro", "enterprise")
_PLAN_SHARE = (0.70, 0.25, 0.05)
_PLAN_VOLUME = {"free": 1.0, "pro": 4.0, "enterprise": 15.0}
_PLAN_CHURN = {"free": 0.22, "pro": 0.08, "enterprise": 0.02}
_PLAN_RATE_LIMITED = {"free": 0.015, "pro": 0.003, "enterprise": 0.0005}
ANONYMOUS_SHARE = 0.03
_ANON_PUBLIC_SHARE = 0.75  # anonymous calls to public endpoints; the rest get a Kong 401
_EXISTING_SHARE = 0.78  # consumers that exist before the simulation starts
_SIGNUP_MEAN_S = 4 * 86_400.0
_CHURN_MEAN_S = 6 * 86_400.0
_TRIAL_CHURN_MEAN_S = 2 * 86_400.0
_PARETO_ALPHA = 1.16  # the 80/20 rule
_PARETO_CAP = 60.0
_FOCUS_BOOST = 5.0
_OFF_FOCUS = 0.25

_HOST = "api.example.com"
_URL_PREFIX = f"https://{_HOST}:443"
_KONG_VERSION = "3.9.0"
_VIA = f"1.1 kong/{_KONG_VERSION}"
_JSON = "application/json"


# --------------------------------------------------------------------------- catalog


class _Spec(NamedTuple):
    service: str
    route: str
    method: str
    template: str
    id_kind: str  # "", "int", "uuid", "sku", "pay", "pm"
    weight: float
    median_ms: float
    sigma: float
    body_bytes: int  # median response body
    req_bytes: int  # median request body (0 = none)
    public: bool  # callable without credentials
    query: str  # query profile name ("" = none)
    query_p: float  # share of calls that carry a query string


_S = _Spec
# Ordered so that the first N cover the services evenly; the default uses the first 30.
_CATALOG: tuple[_Spec, ...] = (
    _S("catalog", "catalog-list-products", "GET", "/v1/products", "", 14, 45, 0.45, 6000, 0, True, "list", 0.7),
    _S("orders", "orders-v2-get-order", "GET", "/v2/orders/{id}", "int", 12, 38, 0.4, 1800, 0, False, "expand", 0.3),
    _S("payments", "payments-create-payment", "POST", "/v1/payments", "", 5, 320, 0.35, 900, 600, False, "", 0),
    _S("users", "users-get-user", "GET", "/v1/users/{id}", "uuid", 8, 22, 0.35, 700, 0, False, "expand", 0.1),
    _S("search", "search-query", "GET", "/v1/search", "", 10, 180, 0.6, 9000, 0, True, "search", 1.0),
    _S("catalog", "catalog-get-product", "GET", "/v1/products/{id}", "sku", 13, 28, 0.4, 2200, 0, True, "expand", 0.2),
    _S("orders", "orders-v2-list-orders", "GET", "/v2/orders", "", 7, 85, 0.5, 12000, 0, False, "orders", 0.8),
    _S("orders", "orders-v2-create-order", "POST", "/v2/orders", "", 4, 140, 0.4, 1900, 1400, False, "", 0),
    _S("payments", "payments-get-payment", "GET", "/v1/payments/{id}", "pay", 4, 35, 0.35, 800, 0, False, "", 0),
    _S("users", "users-create-user", "POST", "/v1/users", "", 1.5, 95, 0.35, 700, 450, False, "", 0),
    _S("catalog", "catalog-list-categories", "GET", "/v1/categories", "", 3, 12, 0.3, 3500, 0, True, "", 0),
    _S("orders", "orders-v1-get-order", "GET", "/v1/orders/{id}", "int", 2.5, 55, 0.45, 1500, 0, False, "", 0),
    _S("payments", "payments-create-refund", "POST", "/v1/payments/{id}/refunds", "pay", 0.6, 410, 0.4, 600, 200, False, "", 0),
    _S("users", "users-update-user", "PATCH", "/v1/users/{id}", "uuid", 1.2, 60, 0.35, 700, 250, False, "", 0),
    _S("search", "search-suggest", "GET", "/v1/search/suggest", "", 6, 15, 0.3, 600, 0, True, "suggest", 1.0),
    _S("reports", "reports-create-export", "POST", "/v1/reports/exports", "", 0.3, 2400, 0.7, 300, 350, False, "", 0),
    _S("orders", "orders-v2-update-order", "PATCH", "/v2/orders/{id}", "int", 1.5, 70, 0.4, 1900, 300, False, "", 0),
    _S("orders", "orders-v2-delete-order", "DELETE", "/v2/orders/{id}", "int", 0.4, 45, 0.35, 0, 0, False, "", 0),
    _S("catalog", "catalog-list-reviews", "GET", "/v1/products/{id}/reviews", "sku", 2.5, 60, 0.5, 5000, 0, True, "list", 0.5),
    _S("payments", "payments-list-payments", "GET", "/v1/payments", "", 1.5, 120, 0.5, 9000, 0, False, "list", 0.8),
    _S("users", "users-get-me", "GET", "/v1/users/me", "", 5, 18, 0.3, 650, 0, False, "", 0),
    _S("reports", "reports-get-export", "GET", "/v1/reports/exports/{id}", "uuid", 1.0, 25, 0.3, 400, 0, False, "", 0),
    _S("orders", "orders-v2-list-items", "GET", "/v2/orders/{id}/items", "int", 2, 48, 0.4, 3200, 0, False, "", 0),
    _S("notifications", "webhooks-create", "POST", "/v1/webhooks", "", 0.2, 75, 0.3, 500, 300, False, "", 0),
    _S("catalog", "catalog-update-product", "PUT", "/v1/products/{id}", "sku", 0.8, 110, 0.4, 2200, 1800, False, "", 0),
    _S("payments", "payments-create-method", "POST", "/v1/payment-methods", "", 0.7, 260, 0.4, 500, 350, False, "", 0),
    _S("users", "users-delete-user", "DELETE", "/v1/users/{id}", "uuid", 0.1, 80, 0.3, 0, 0, False, "", 0),
    _S("orders", "orders-v1-create-order", "POST", "/v1/orders", "", 0.8, 190, 0.45, 1500, 1200, False, "", 0),
    _S("reports", "reports-usage", "GET", "/v1/reports/usage", "", 0.5, 1400, 0.6, 15000, 0, False, "report", 0.9),
    _S("notifications", "webhooks-list", "GET", "/v1/webhooks", "", 0.5, 20, 0.3, 1400, 0, False, "", 0),
    _S("search", "search-v2-query", "POST", "/v2/search", "", 2, 150, 0.55, 9000, 300, True, "", 0),
    _S("orders", "orders-v2-cancel-order", "POST", "/v2/orders/{id}/cancel", "int", 0.5, 160, 0.4, 1900, 60, False, "", 0),
    _S("payments", "payments-get-method", "GET", "/v1/payment-methods/{id}", "pm", 0.8, 30, 0.3, 450, 0, False, "", 0),
    _S("users", "users-list-addresses", "GET", "/v1/users/{id}/addresses", "uuid", 1, 30, 0.35, 1100, 0, False, "", 0),
    _S("catalog", "catalog-v2-list-products", "GET", "/v2/products", "", 4, 40, 0.45, 7000, 0, True, "list", 0.7),
    _S("notifications", "webhooks-delete", "DELETE", "/v1/webhooks/{id}", "uuid", 0.05, 30, 0.3, 0, 0, False, "", 0),
    _S("inventory", "inventory-get-stock", "GET", "/v1/inventory/{id}", "sku", 3, 20, 0.35, 300, 0, False, "", 0),
    _S("inventory", "inventory-adjust-stock", "POST", "/v1/inventory/adjustments", "", 1, 65, 0.4, 400, 500, False, "", 0),
    _S("reports", "reports-download-export", "GET", "/v1/reports/exports/{id}/download", "uuid", 0.2, 900, 0.8, 2_500_000, 0, False, "", 0),
    _S("users", "users-v2-get-user", "GET", "/v2/users/{id}", "uuid", 2, 20, 0.35, 900, 0, False, "expand", 0.2),
)  # fmt: skip
MAX_ENDPOINTS = len(_CATALOG)

# service -> (team tag, upstream read timeout in ms)
_SERVICES: dict[str, tuple[str, int]] = {
    "catalog": ("team:storefront", 15_000),
    "orders": ("team:commerce", 15_000),
    "payments": ("team:payments", 30_000),
    "users": ("team:identity", 10_000),
    "search": ("team:discovery", 20_000),
    "reports": ("team:data", 60_000),
    "notifications": ("team:platform", 10_000),
    "inventory": ("team:commerce", 15_000),
}

_WORDS = ("shoes", "coffee", "headphones", "laptop", "desk", "lamp", "jacket", "tent",
          "bike", "camera", "watch", "kettle", "backpack", "sofa", "charger", "mug")  # fmt: skip
_ADJ = ("wireless", "running", "organic", "red", "vintage", "usb-c", "leather", "smart",
        "kids", "outdoor", "waterproof", "mini")  # fmt: skip
_CATEGORIES = ("electronics", "home", "outdoor", "fashion", "toys", "books", "garden", "sports")
_DATES = ("2024-01-01", "2024-03-01", "2024-05-15", "2024-06-01", "2024-07-01")
_Q = tuple(f"{a} {w}" for a in _ADJ for w in _WORDS) + _WORDS
_PREFIXES = tuple(sorted({w[:n] for w in _WORDS + _ADJ for n in (2, 3, 4)}))

# profile -> ((key, values, probability), ...); a value True is a flag without "=value"
_QUERY_PROFILES: dict[str, tuple[tuple[str, tuple[Any, ...], float], ...]] = {
    "list": (
        ("limit", ("10", "20", "50", "100"), 0.7),
        ("page", tuple(str(i) for i in range(1, 21)), 0.4),
        ("sort", ("created_at", "-created_at", "name", "-updated_at"), 0.3),
        ("category", _CATEGORIES, 0.3),
    ),
    "orders": (
        ("status", ("pending", "paid", "shipped", "cancelled"), 0.5),
        ("limit", ("20", "50", "100"), 0.6),
        ("created_after", _DATES, 0.3),
        ("include_archived", (True,), 0.05),
    ),
    "expand": (("expand", ("items", "customer", "items,customer", "payments"), 1.0),),
    "search": (
        ("q", _Q, 1.0),
        ("limit", ("10", "20", "50"), 0.4),
        ("category", _CATEGORIES, 0.25),
        ("sort", ("relevance", "price", "-price", "rating"), 0.2),
        ("debug", (True,), 0.01),
    ),
    "suggest": (("q", _PREFIXES, 1.0),),
    "report": (
        ("format", ("csv", "json", "xlsx"), 0.8),
        ("period", ("day", "week", "month"), 0.8),
        ("from", _DATES, 0.5),
    ),
}

# --------------------------------------------------------------------------- consumers

_COMPANY_A = ("blue", "red", "silver", "north", "bright", "swift", "quiet", "rapid", "green",
              "golden", "iron", "lunar", "solar", "urban", "wild", "clear", "prime", "bold",
              "happy", "east")  # fmt: skip
_COMPANY_B = ("harbor", "river", "peak", "pine", "fox", "wave", "stone", "bridge", "field",
              "orbit", "leaf", "spark", "cloud", "lane", "grove")  # fmt: skip
_INDUSTRY = ("corp", "labs", "retail", "logistics", "health", "travel", "foods", "bank",
             "media", "games", "systems", "market")  # fmt: skip

# app suffix -> (user agent family, preferred services, volume factor)
_APPS: dict[str, tuple[str, tuple[str, ...], float]] = {
    "mobile": ("mobile", ("catalog", "search", "orders", "users"), 1.5),
    "ios": ("ios", ("catalog", "search", "orders", "users"), 1.2),
    "android": ("android", ("catalog", "search", "orders", "users"), 1.2),
    "web": ("browser", ("catalog", "search", "users", "orders"), 1.3),
    "backend": ("server", ("orders", "payments", "inventory", "users"), 1.5),
    "integration": ("sdk", ("orders", "payments", "notifications"), 1.0),
    "etl": ("server", ("reports", "orders", "payments"), 0.8),
    "sync": ("sdk", ("catalog", "inventory", "orders"), 1.0),
    "cli": ("curl", (), 0.2),
    "pos": ("sdk", ("payments", "orders", "catalog"), 1.0),
    "partner-portal": ("browser", ("reports", "orders"), 0.6),
    "checkout": ("sdk", ("payments", "orders"), 1.0),
}

_SERVER_UAS = ("Go-http-client/2.0", "Go-http-client/1.1", "python-requests/2.31.0",
               "python-httpx/0.27.0", "axios/1.6.7", "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
               "Java-http-client/17.0.10", "Apache-HttpClient/4.5.14 (Java/17.0.10)",
               "okhttp/4.12.0", "Ruby", "Faraday v2.9.0", "GuzzleHttp/7")  # fmt: skip
_SDK_UAS = ("shopapi-python/{v} python/3.11.8", "shopapi-node/{v} node/20.11.1",
            "shopapi-java/{v} java/17.0.10", "shopapi-go/{v} go1.22.1",
            "shopapi-ruby/{v} ruby/3.3.0", "shopapi-php/{v} php/8.3.3")  # fmt: skip
_BROWSER_UAS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
)
_CURL_UAS = ("curl/8.5.0", "curl/7.81.0", "curl/8.7.1", "PostmanRuntime/7.36.3",
             "PostmanRuntime/7.37.0", "HTTPie/3.2.2", "insomnia/8.6.1")  # fmt: skip
_ANON_UAS = (
    *_BROWSER_UAS,
    "curl/8.5.0",
    "python-requests/2.31.0",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
)


@dataclass(frozen=True, slots=True)
class Consumer:
    """One Kong consumer (an app of a company) and when it calls.

    `joins_after` / `churns_after` are seconds after the simulation start; a consumer
    that exists before the start has `joins_after` <= 0; `churns_after` None = never.
    """

    username: str
    company: str
    app: str
    plan: str
    id: str
    custom_id: str | None
    credential_id: str
    created_after: int  # Kong's created_at, in seconds after the start (negative = before)
    user_agents: tuple[str, ...]
    ips: tuple[str, ...]  # fixed addresses; empty = a new address per call (end users)
    ip_range: str  # prefix for per-call addresses ("100.64.", "198.18.")
    weight: float
    focus: tuple[str, ...]  # services this app mostly calls
    joins_after: float
    churns_after: float | None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One Kong route on one service, with what its traffic looks like."""

    index: int
    service: str
    route: str
    method: str
    template: str
    id_kind: str
    weight: float
    mu: float  # log of the median upstream latency (ms)
    sigma: float
    body_bytes: int
    req_bytes: int
    public: bool
    query: str
    query_p: float
    ok_status: int
    error_cum: tuple[float, ...]  # cumulative probabilities of `error_statuses`
    error_statuses: tuple[int, ...]
    read_timeout: int


@dataclass(frozen=True, slots=True)
class Incident:
    """An outage window: calls to `endpoints` fail with `statuses` at `error_rate`."""

    start_ms: int
    end_ms: int
    service: str
    endpoints: frozenset[int]
    statuses: tuple[int, ...]
    error_rate: float
    latency_factor: float


# --------------------------------------------------------------------------- time


def _ms(t: datetime) -> int:
    """Epoch milliseconds of `t`, rounded up (so the ms lies at or after `t`)."""
    if t.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware (UTC)")
    us = (t - _EPOCH) // _ONE_US
    return -(-us // 1000)


def _datetime(ms: int) -> datetime:
    return _EPOCH + ms * _ONE_MS


def _diurnal_ms(ms: int) -> float:
    hour = (ms % _DAY_MS) / _HOUR_MS
    business = math.exp(-(((hour - 14.5) / 4.0) ** 2))
    factor = 0.12 + 0.88 * business
    weekday = (ms // _DAY_MS + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return factor * 0.45 if weekday >= 5 else factor


def diurnal_factor(t: datetime) -> float:
    """Share of the peak rate at `t`: 1.0 at 14:30 UTC on weekdays, 0.12 at night, x0.45 weekends."""
    return _diurnal_ms(_ms(t))


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# --------------------------------------------------------------------------- building


def _error_table(spec: _Spec, rng: random.Random) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """Baseline 4xx/5xx probabilities for an endpoint (its method and path decide which)."""
    has_id = "{id}" in spec.template
    client: dict[int, float] = {401: 0.002, 403: 0.004}
    if spec.method == "GET":
        client |= {404: 0.025, 400: 0.003} if has_id else {400: 0.006}
    elif spec.method == "POST":
        client |= {400: 0.02, 422: 0.02, 409: 0.006}
        client |= {404: 0.01} if has_id else {}
    elif spec.method in ("PUT", "PATCH"):
        client |= {400: 0.012, 422: 0.012, 404: 0.01, 409: 0.004}
    else:
        client |= {404: 0.02, 409: 0.005}
    slow = spec.median_ms > 500
    server = {500: 0.0015, 502: 0.0004, 503: 0.0006, 504: 0.0012 if slow else 0.0003}
    jitter = rng.uniform(0.5, 1.8)
    statuses = tuple(client) + tuple(server)
    probs = [p * jitter for p in client.values()] + list(server.values())
    return tuple(itertools.accumulate(probs)), statuses


def _ok_status(spec: _Spec) -> int:
    if spec.method == "DELETE":
        return 204
    if spec.route == "reports-create-export":
        return 202  # accepted: the export runs in the background
    if spec.method == "POST" and "-create-" in spec.route:
        return 201
    return 200


def _build_endpoints(count: int, rng: random.Random) -> tuple[Endpoint, ...]:
    if not 1 <= count <= MAX_ENDPOINTS:
        raise ValueError(f"endpoints must be between 1 and {MAX_ENDPOINTS}, got {count}")
    result = []
    for index, spec in enumerate(_CATALOG[:count]):
        error_cum, error_statuses = _error_table(spec, rng)
        median = spec.median_ms * rng.uniform(0.8, 1.25)
        result.append(
            Endpoint(
                index=index,
                service=spec.service,
                route=spec.route,
                method=spec.method,
                template=spec.template,
                id_kind=spec.id_kind,
                weight=spec.weight * rng.uniform(0.7, 1.4),
                mu=math.log(median),
                sigma=spec.sigma,
                body_bytes=spec.body_bytes,
                req_bytes=spec.req_bytes,
                public=spec.public,
                query=spec.query,
                query_p=spec.query_p,
                ok_status=_ok_status(spec),
                error_cum=error_cum,
                error_statuses=error_statuses,
                read_timeout=_SERVICES[spec.service][1],
            )
        )
    return tuple(result)


def _company_names(rng: random.Random) -> Iterator[str]:
    """Unique company-ish names ("northpine-logistics"), numbered once the lists run out."""
    seen: set[str] = set()
    for attempt in itertools.count():
        name = f"{rng.choice(_COMPANY_A)}{rng.choice(_COMPANY_B)}-{rng.choice(_INDUSTRY)}"
        if attempt > 20 * len(_COMPANY_A) * len(_COMPANY_B):
            name = f"{name}{attempt}"
        if name not in seen:
            seen.add(name)
            yield name


def _user_agents(family: str, company: str, rng: random.Random) -> tuple[str, ...]:
    brand = "".join(part.capitalize() for part in company.split("-"))
    version = f"{rng.randint(3, 7)}.{rng.randint(0, 12)}.{rng.randint(0, 9)}"
    ios = f"{brand}/{version} CFNetwork/1494.0.7 Darwin/23.4.0"
    android = f"{brand}/{version} (Android 14; Pixel 8) okhttp/4.12.0"
    if family == "mobile":
        return (ios, android)
    if family == "ios":
        return (ios,)
    if family == "android":
        return (android, "Dalvik/2.1.0 (Linux; U; Android 13; SM-S911B Build/TP1A.220624.014)")
    if family == "browser":
        return tuple(rng.sample(_BROWSER_UAS, 3))
    if family == "sdk":
        sdk_version = f"{rng.randint(1, 3)}.{rng.randint(0, 14)}.{rng.randint(0, 5)}"
        return (rng.choice(_SDK_UAS).format(v=sdk_version),)
    if family == "curl":
        return tuple(rng.sample(_CURL_UAS, 2))
    return (rng.choice(_SERVER_UAS),)


def _fixed_ips(family: str, rng: random.Random) -> tuple[str, ...]:
    if family in ("mobile", "ios", "android", "browser"):
        return ()  # end users: a new address per call
    nets = ("203.0.113.", "198.51.100.", "192.0.2.")
    count = rng.randint(1, 3)
    return tuple(f"{rng.choice(nets)}{rng.randint(1, 254)}" for _ in range(count))


def _lifecycle(plan: str, rng: random.Random) -> tuple[float, float | None]:
    """(joins_after, churns_after) in seconds after the start, snapped to whole minutes."""
    existing = rng.random() < _EXISTING_SHARE
    joins = 0.0 if existing else rng.expovariate(1 / _SIGNUP_MEAN_S)
    churns: float | None = None
    if rng.random() < _PLAN_CHURN[plan]:
        mean = _CHURN_MEAN_S if existing else _TRIAL_CHURN_MEAN_S
        churns = joins + 600 + rng.expovariate(1 / mean)
    return _whole_minutes(joins), (None if churns is None else _whole_minutes(churns))


def _whole_minutes(seconds: float) -> float:
    return math.floor(seconds / 60) * 60.0


def _consumer(company: str, plan: str, app: str, rng: random.Random) -> Consumer:
    family, focus, volume = _APPS[app]
    joins, churns = _lifecycle(plan, rng)
    weight = min(rng.paretovariate(_PARETO_ALPHA), _PARETO_CAP) * _PLAN_VOLUME[plan] * volume
    custom_id = f"acct_{rng.getrandbits(48):012x}" if rng.random() < 0.55 else None
    days_before = rng.uniform(1, 900) if joins <= 0 else 0.0
    return Consumer(
        username=f"{company}-{app}",
        company=company,
        app=app,
        plan=plan,
        id=_uuid(rng),
        custom_id=custom_id,
        credential_id=_uuid(rng),
        created_after=round(joins - days_before * 86_400),
        user_agents=_user_agents(family, company, rng),
        ips=_fixed_ips(family, rng),
        ip_range="100.64." if family in ("mobile", "ios", "android") else "198.18.",
        weight=weight,
        focus=focus,
        joins_after=joins,
        churns_after=churns,
    )


def _next_plan(so_far: list[Consumer], n_apps: int, rng: random.Random) -> str:
    """A random plan, weighted towards the plans below their share of consumers so far."""
    counts = {plan: 0 for plan in PLANS}
    for consumer in so_far:
        counts[consumer.plan] += 1
    total = len(so_far) + n_apps
    deficits = [
        max(share * total - counts[p], 0.0) + 0.05
        for p, share in zip(PLANS, _PLAN_SHARE, strict=True)
    ]
    return rng.choices(PLANS, deficits)[0]


def _build_consumers(count: int, rng: random.Random) -> tuple[Consumer, ...]:
    if count < 0:
        raise ValueError(f"consumers must be >= 0, got {count}")
    result: list[Consumer] = []
    names = _company_names(rng)
    apps = list(_APPS)
    while len(result) < count:
        company = next(names)
        n_apps = rng.choices((1, 2, 3), (0.55, 0.3, 0.15))[0]
        plan = _next_plan(result, n_apps, rng)
        for app in rng.sample(apps, n_apps)[: count - len(result)]:
            result.append(_consumer(company, plan, app, rng))
    return tuple(result)


def _encode_static(obj: dict[str, Any]) -> bytes:
    """`{"a":1,"b":2}` -> `"a":1,"b":2,` (to splice into a record)."""
    return msgspec.json.encode(obj)[1:-1] + b","


# --------------------------------------------------------------------------- pools


@dataclass(slots=True)
class _Caller:
    """A consumer ready for the hot loop: pre-encoded fragment and endpoint weights."""

    consumer: Consumer
    fragment: bytes
    endpoint_cum: list[float]
    endpoint_total: float
    plan_429: float


@dataclass(slots=True)
class _Pool:
    callers: list[_Caller]
    cum: list[float]
    total: float

    def pick(self, rng: random.Random) -> _Caller:
        return self.callers[bisect.bisect(self.cum, rng.random() * self.total)]


# --------------------------------------------------------------------------- simulator


class TrafficSimulator:
    """Kong file-log lines for a simulated API program (see the module docstring)."""

    def __init__(
        self,
        seed: int = 42,
        consumers: int = 300,
        endpoints: int = 30,
        start: datetime | None = None,
    ) -> None:
        self.seed = seed
        rng = random.Random(seed)
        self.endpoints: tuple[Endpoint, ...] = _build_endpoints(endpoints, rng)
        self.consumers: tuple[Consumer, ...] = _build_consumers(consumers, rng)
        self.services: tuple[str, ...] = tuple(dict.fromkeys(e.service for e in self.endpoints))
        self._workspace = _uuid(rng)
        self._entity_rng_state = rng.getstate()
        self._start_ms: int | None = None
        self._incident_cache: dict[int, tuple[Incident, ...]] = {}
        if start is not None:
            self._anchor(_ms(start))

    # ----------------------------------------------------------------- public API

    @property
    def start(self) -> datetime | None:
        """The simulation start (None until the first call when not given)."""
        return None if self._start_ms is None else _datetime(self._start_ms)

    def tick(self, now: datetime, seconds: float, rate: float) -> list[bytes]:
        """Lines for requests that started in [now - seconds, now); `rate` = req/s at peak."""
        if seconds <= 0:
            return []
        end = _ms(now)
        begin = _ms(now - timedelta(seconds=seconds))
        return list(self._generate(begin, end, rate))

    def records(self, start: datetime, end: datetime, rate: float) -> Iterator[bytes]:
        """Lines for requests that started in [start, end), in time order (for backfills)."""
        return self._generate(_ms(start), _ms(end), rate)

    def consumer_window(self, consumer: Consumer) -> tuple[datetime | None, datetime | None]:
        """When `consumer` may call: (from, until); None = before the start / never ends."""
        self._require_start()
        joins, churns = self._lifetime(consumer)
        return (
            None if joins is None else _datetime(joins),
            None if churns is None else _datetime(churns),
        )

    def incidents(self, start: datetime, end: datetime) -> list[Incident]:
        """Incidents that overlap [start, end)."""
        lo, hi = _ms(start), _ms(end)
        found: dict[tuple[int, str], Incident] = {}
        for hour in range(lo // _HOUR_MS - 1, (hi - 1) // _HOUR_MS + 1):
            for inc in self._hour_incidents(hour):
                if inc.start_ms < hi and inc.end_ms > lo:
                    found[(inc.start_ms, inc.service)] = inc
        return sorted(found.values(), key=lambda i: i.start_ms)

    # ----------------------------------------------------------------- setup

    def _require_start(self) -> int:
        if self._start_ms is None:
            raise RuntimeError("simulation start not known yet: pass start= or generate first")
        return self._start_ms

    def _boundary(self, offset_s: float) -> int:
        """Absolute ms of a lifecycle offset, on a whole UTC minute."""
        ms = self._require_start() + round(offset_s * 1000)
        return -(-ms // _MINUTE_MS) * _MINUTE_MS

    def _anchor(self, start_ms: int) -> None:
        """Fix the simulation start: lifecycle times and Kong entities depend on it."""
        self._start_ms = start_ms
        rng = random.Random()
        rng.setstate(self._entity_rng_state)
        start_s = start_ms // 1000
        self._route_fragments = self._entity_fragments(rng, start_s)
        self._callers = [self._caller(c, start_s) for c in self.consumers]
        self._lifetimes = [self._lifetime(c) for c in self.consumers]
        self._breaks = sorted({b for lt in self._lifetimes for b in lt if b is not None})
        self._pools: dict[int, _Pool] = {}
        self._anon_pool = self._anonymous_weights()

    def _lifetime(self, consumer: Consumer) -> tuple[int | None, int | None]:
        joins = None if consumer.joins_after <= 0 else self._boundary(consumer.joins_after)
        churns = None if consumer.churns_after is None else self._boundary(consumer.churns_after)
        return joins, churns

    def _entity_fragments(self, rng: random.Random, start_s: int) -> list[bytes]:
        """Pre-encoded `"route":{..},"service":{..},"workspace":..` per endpoint."""
        services = {name: self._service_entity(name, rng, start_s) for name in self.services}
        fragments = []
        for ep in self.endpoints:
            created = start_s - rng.randint(86_400, 400 * 86_400)
            route = {
                "id": _uuid(rng),
                "name": ep.route,
                "paths": [_kong_path(ep.template)],
                "methods": [ep.method],
                "protocols": ["https"],
                "strip_path": False,
                "preserve_host": False,
                "regex_priority": 0,
                "https_redirect_status_code": 426,
                "path_handling": "v0",
                "request_buffering": True,
                "response_buffering": True,
                "service": {"id": services[ep.service]["id"]},
                "ws_id": self._workspace,
                "created_at": created,
                "updated_at": created + rng.randint(0, 86_400 * 30),
                "tags": [_SERVICES[ep.service][0]],
            }
            tail = {"route": route, "service": services[ep.service]}
            fragments.append(_encode_static(tail) + self._workspace_fragment())
        return fragments

    def _service_entity(self, name: str, rng: random.Random, start_s: int) -> dict[str, Any]:
        created = start_s - rng.randint(400 * 86_400, 900 * 86_400)
        team, read_timeout = _SERVICES[name]
        return {
            "id": _uuid(rng),
            "name": name,
            "host": f"{name}.prod.svc.cluster.local",
            "port": 8080,
            "protocol": "http",
            "retries": 5,
            "connect_timeout": 60_000,
            "read_timeout": read_timeout,
            "write_timeout": 60_000,
            "enabled": True,
            "ws_id": self._workspace,
            "created_at": created,
            "updated_at": created + rng.randint(0, 300 * 86_400),
            "tags": [team],
        }

    def _workspace_fragment(self) -> bytes:
        return msgspec.json.encode({"workspace": self._workspace, "workspace_name": "default"})[1:]

    def _caller(self, consumer: Consumer, start_s: int) -> _Caller:
        created = start_s + consumer.created_after
        entity: dict[str, Any] = {"id": consumer.id, "username": consumer.username}
        if consumer.custom_id is not None:
            entity["custom_id"] = consumer.custom_id
        entity |= {
            "created_at": created,
            "updated_at": created,
            "tags": [f"plan:{consumer.plan}", f"app:{consumer.app}"],
        }
        fragment = _encode_static(
            {"authenticated_entity": {"id": consumer.credential_id}, "consumer": entity}
        )
        weights = [self._affinity(consumer, ep) for ep in self.endpoints]
        cum = list(itertools.accumulate(weights))
        return _Caller(consumer, fragment, cum, cum[-1], _PLAN_RATE_LIMITED[consumer.plan])

    def _affinity(self, consumer: Consumer, ep: Endpoint) -> float:
        focus = set(consumer.focus) & set(self.services)
        weight = ep.weight * (_FOCUS_BOOST if not focus or ep.service in focus else _OFF_FOCUS)
        if ep.service == "reports" and consumer.plan == "free":
            weight *= 0.05
        return weight

    def _anonymous_weights(self) -> tuple[list[float], float]:
        public = sum(ep.weight for ep in self.endpoints if ep.public)
        private = sum(ep.weight for ep in self.endpoints if not ep.public)
        scale_pub = _ANON_PUBLIC_SHARE / public if public else 0.0
        scale_priv = (1 - _ANON_PUBLIC_SHARE if public else 1.0) / private if private else 0.0
        weights = [ep.weight * (scale_pub if ep.public else scale_priv) for ep in self.endpoints]
        cum = list(itertools.accumulate(weights))
        return cum, cum[-1]

    # ----------------------------------------------------------------- time slices

    def _pool(self, ms: int) -> _Pool | None:
        """Active consumers at `ms` (constant between lifecycle boundaries)."""
        key = bisect.bisect_right(self._breaks, ms)
        pool = self._pools.get(key)
        if pool is None:
            callers = [
                c
                for c, (joins, churns) in zip(self._callers, self._lifetimes, strict=True)
                if (joins is None or joins <= ms) and (churns is None or ms < churns)
            ]
            cum = list(itertools.accumulate(c.consumer.weight for c in callers))
            pool = _Pool(callers, cum, cum[-1] if cum else 0.0)
            self._pools[key] = pool
        return pool if pool.callers else None

    def _hour_incidents(self, hour: int) -> tuple[Incident, ...]:
        cached = self._incident_cache.get(hour)
        if cached is None:
            rng = random.Random(f"{self.seed}:incidents:{hour}")
            count = 0 if rng.random() > 0.17 else (2 if rng.random() < 0.15 else 1)
            cached = tuple(self._incident(rng, hour) for _ in range(count))
            if len(self._incident_cache) > 4096:
                self._incident_cache.clear()
            self._incident_cache[hour] = cached
        return cached

    def _incident(self, rng: random.Random, hour: int) -> Incident:
        start = hour * _HOUR_MS + rng.randrange(60) * _MINUTE_MS
        end = start + rng.randint(3, 15) * _MINUTE_MS
        target = rng.choices(self.endpoints, [e.weight for e in self.endpoints])[0]
        if rng.random() < 0.3:
            members = frozenset(e.index for e in self.endpoints if e.service == target.service)
            name = target.service
        else:
            members, name = frozenset((target.index,)), target.route
        kind = rng.random()
        if kind < 0.45:
            statuses, rate, slow = (500, 502, 503), rng.uniform(0.2, 0.6), rng.uniform(1.3, 2.5)
        elif kind < 0.75:
            statuses, rate, slow = (504, 504, 503), rng.uniform(0.1, 0.35), rng.uniform(3, 8)
        else:
            statuses, rate, slow = (503,), rng.uniform(0.3, 0.8), rng.uniform(1.5, 3)
        return Incident(start, end, name, members, statuses, rate, slow)

    def _incidents_at(self, ms: int) -> dict[int, Incident]:
        hour = ms // _HOUR_MS
        active: dict[int, Incident] = {}
        for inc in self._hour_incidents(hour - 1) + self._hour_incidents(hour):
            if inc.start_ms <= ms < inc.end_ms:
                for index in inc.endpoints:
                    if index not in active or active[index].error_rate < inc.error_rate:
                        active[index] = inc
        return active

    def _generate(self, begin: int, end: int, rate: float) -> Iterator[bytes]:
        """Minute by minute over [begin, end) in ms; each slice has its own random stream."""
        if self._start_ms is None:
            self._anchor(begin)
        lo = begin
        while lo < end:
            hi = min(end, (lo // _MINUTE_MS + 1) * _MINUTE_MS)
            yield from self._slice(lo, hi, rate)
            lo = hi

    def _slice(self, lo: int, hi: int, rate: float) -> list[bytes]:
        rng = random.Random(f"{self.seed}:{lo}:{hi}")
        factor = _diurnal_ms((lo + hi) // 2)
        n = _poisson(rng, rate * (hi - lo) / 1000 * factor)
        if n == 0:
            return []
        width = hi - lo
        stamps = sorted(lo + int(rng.random() * width) for _ in range(n))
        request = _RequestMaker(self, rng, self._pool(lo), self._incidents_at(lo), factor)
        return [request.make(ts) for ts in stamps]


def _kong_path(template: str) -> str:
    """Kong route path: a regex (`~/v2/orders/[^/]+$`) when templated, else exact."""
    return "~" + template.replace("{id}", "[^/]+") + "$"


# --------------------------------------------------------------------------- hot loop

_ENCODE = msgspec.json.Encoder().encode
_ID_MAKERS: dict[str, Any] = {
    "int": lambda rng: str(1_000_000 + rng.getrandbits(23)),
    "uuid": lambda rng: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    "sku": lambda rng: f"SKU-{10_000 + rng.getrandbits(16)}",
    "pay": lambda rng: f"pay_{rng.getrandbits(64):016x}",
    "pm": lambda rng: f"pm_{rng.getrandbits(48):012x}",
}


def _query(ep: Endpoint, rng: random.Random) -> tuple[dict[str, Any], str]:
    """(querystring object, "?a=b&flag" or "") for one call."""
    if not ep.query or rng.random() >= ep.query_p:
        return {}, ""
    args: dict[str, Any] = {}
    parts = []
    for key, values, p in _QUERY_PROFILES[ep.query]:
        if p >= 1.0 or rng.random() < p:
            value = values[int(rng.random() * len(values))]
            args[key] = value
            parts.append(key if value is True else f"{key}={_escape(value)}")
    return args, ("?" + "&".join(parts)) if parts else ""


def _escape(value: str) -> str:
    return value.replace(" ", "+").replace(",", "%2C")


class _RequestMaker:
    """Builds the lines of one time slice (shared random stream, pool and incidents)."""

    __slots__ = ("anon", "eps", "factor", "fragments", "incidents", "pool", "rng", "workspace")

    def __init__(
        self,
        sim: TrafficSimulator,
        rng: random.Random,
        pool: _Pool | None,
        incidents: dict[int, Incident],
        factor: float,
    ) -> None:
        self.rng = rng
        self.pool = pool
        self.incidents = incidents
        self.factor = 0.9 + 0.2 * factor  # a little slower under load
        self.eps = sim.endpoints
        self.fragments = sim._route_fragments
        self.anon = sim._anon_pool

    def make(self, ts: int) -> bytes:
        rng = self.rng
        caller: _Caller | None = None
        if self.pool is not None and rng.random() >= ANONYMOUS_SHARE:
            caller = self.pool.pick(rng)
            ep = self.eps[bisect.bisect(caller.endpoint_cum, rng.random() * caller.endpoint_total)]
        else:
            cum, total = self.anon
            ep = self.eps[bisect.bisect(cum, rng.random() * total)]
        status, by_kong = self._status(ep, caller)
        record = self._record(ts, ep, caller, status, by_kong)
        head = _ENCODE(record)[:-1]
        consumer = caller.fragment if caller is not None else b""
        return b"".join((head, b",", consumer, self.fragments[ep.index]))

    def _status(self, ep: Endpoint, caller: _Caller | None) -> tuple[int, bool]:
        """(status, answered by Kong itself without proxying)."""
        rng = self.rng
        if caller is None and not ep.public:
            return 401, True
        if caller is not None and rng.random() < caller.plan_429:
            return 429, True
        incident = self.incidents.get(ep.index)
        if incident is not None and rng.random() < incident.error_rate:
            statuses = incident.statuses
            return statuses[int(rng.random() * len(statuses))], False
        u = rng.random()
        if u < ep.error_cum[-1]:
            return ep.error_statuses[bisect.bisect(ep.error_cum, u)], False
        return ep.ok_status, False

    def _latencies(self, ep: Endpoint, status: int, by_kong: bool) -> dict[str, int]:
        rng = self.rng
        kong = int(rng.expovariate(0.9))
        if by_kong:
            return {
                "kong": kong,
                "proxy": -1,
                "request": kong + int(rng.random() * 2),
                "receive": 0,
            }
        slow = self.factor
        incident = self.incidents.get(ep.index)
        if incident is not None:
            slow *= incident.latency_factor
        if status == 504:
            proxy = int(ep.read_timeout * (1 + rng.random() * 0.01))
        elif status in (502, 503):
            proxy = int(rng.lognormvariate(1.5, 0.8))
        else:
            proxy = int(rng.lognormvariate(ep.mu, ep.sigma) * slow * (0.4 if status >= 400 else 1))
        receive = int(rng.random() * 3) if ep.req_bytes else 0
        return {"kong": kong, "proxy": proxy, "request": kong + proxy + receive, "receive": receive}

    def _body_size(self, ep: Endpoint, status: int, by_kong: bool) -> int:
        if status == 204:
            return 0
        if by_kong or status >= 400:
            return 40 + int(self.rng.random() * 120)
        return max(2, int(self.rng.lognormvariate(math.log(ep.body_bytes or 2), 0.6)))

    def _record(
        self, ts: int, ep: Endpoint, caller: _Caller | None, status: int, by_kong: bool
    ) -> dict[str, Any]:
        rng = self.rng
        request_id = f"{rng.getrandbits(128):032x}"
        path = ep.template
        if ep.id_kind:
            path = path.replace("{id}", _ID_MAKERS[ep.id_kind](rng))
        args, query = _query(ep, rng)
        uri = path + query
        if caller is not None:
            ua, ip = self._client(caller.consumer)
        else:
            ua = _ANON_UAS[int(rng.random() * len(_ANON_UAS))]
            ip = f"198.18.{rng.getrandbits(8)}.{rng.getrandbits(8) or 1}"
        latencies = self._latencies(ep, status, by_kong)
        body = self._body_size(ep, status, by_kong)
        req_body = int(rng.lognormvariate(math.log(ep.req_bytes), 0.5)) if ep.req_bytes else 0
        headers: dict[str, Any] = {"host": _HOST, "user-agent": ua, "accept": _JSON}
        if caller is not None:
            headers["authorization"] = "REDACTED"
        if req_body:
            headers["content-type"] = _JSON
            headers["content-length"] = str(req_body)
        headers["x-forwarded-for"] = ip
        proxied = latencies["proxy"] >= 0
        record = {
            "request": {
                "id": request_id,
                "uri": uri,
                "url": _URL_PREFIX + uri,
                "method": ep.method,
                "querystring": args,
                "headers": headers,
                "size": 180 + len(uri) + len(ua) + req_body + (90 if caller is not None else 0),
            },
            "upstream_uri": uri if proxied else "",
            "upstream_status": str(status) if proxied else "",
            "response": {
                "status": status,
                "size": body + 320,
                "headers": _response_headers(status, body, latencies, request_id, by_kong),
            },
            "latencies": latencies,
            "client_ip": ip,
            "started_at": ts,
            "source": "kong" if by_kong or status in (502, 504) else "upstream",
        }
        if proxied:
            record["tries"] = [_try(ep, ts, latencies, rng)]
        return record

    def _client(self, consumer: Consumer) -> tuple[str, str]:
        rng = self.rng
        uas = consumer.user_agents
        ua = uas[0] if len(uas) == 1 else uas[int(rng.random() * len(uas))]
        ips = consumer.ips
        if ips:
            return ua, ips[0] if len(ips) == 1 else ips[int(rng.random() * len(ips))]
        return ua, f"{consumer.ip_range}{rng.getrandbits(8)}.{rng.getrandbits(8) or 1}"


def _response_headers(
    status: int, body: int, latencies: dict[str, int], request_id: str, by_kong: bool
) -> dict[str, str]:
    headers = {"content-type": _JSON, "content-length": str(body)}
    if by_kong:
        headers["x-kong-response-latency"] = str(latencies["kong"])
        headers["server"] = f"kong/{_KONG_VERSION}"
        if status == 429:
            headers |= {"retry-after": "1", "ratelimit-limit": "60", "ratelimit-remaining": "0"}
        elif status == 401:
            headers["www-authenticate"] = 'Bearer realm="kong"'
    else:
        headers["x-kong-upstream-latency"] = str(latencies["proxy"])
        headers["x-kong-proxy-latency"] = str(latencies["kong"])
        headers["via"] = _VIA
    headers["x-kong-request-id"] = request_id
    return headers


_UPSTREAM_IPS = tuple(f"10.0.{i}.{j}" for i in range(1, 5) for j in (11, 23, 37))


def _try(ep: Endpoint, ts: int, latencies: dict[str, int], rng: random.Random) -> dict[str, Any]:
    start = ts + latencies["kong"]
    return {
        "ip": _UPSTREAM_IPS[(ep.index * 3 + int(rng.random() * 3)) % len(_UPSTREAM_IPS)],
        "port": 8080,
        "balancer_start": start,
        "balancer_start_ns": float(start * 1_000_000),
        "balancer_latency": 0,
        "balancer_latency_ns": 15_000 + int(rng.random() * 20_000),
    }
