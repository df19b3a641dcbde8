"""Known traffic for end-to-end tests: gateway log lines plus the exact aggregates they must yield.

The expected values are computed here from the generator's own choices, not by the code
under test.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

CONSUMERS = ["acme-mobile", "globex-web", "initech-batch", "umbrella-partner", "hooli-ios"]
KONG_ENDPOINTS = [
    ("orders", "GET", "/v2/orders/{id}"),
    ("orders", "POST", "/v2/orders"),
    ("catalog", "GET", "/v1/products"),
    ("payments", "POST", "/v1/payments/{id}/capture"),
]
NGINX_ENDPOINTS = [
    ("GET", "/static/app.js"),
    ("GET", "/api/users/{id}"),
    ("DELETE", "/api/users/{id}"),
]
STATUSES = [200, 200, 200, 201, 204, 301, 304, 400, 401, 404, 429, 500, 502, 503]
MALFORMED = [
    b'{"request": {"method": "GET", "uri": "/x"',  # truncated JSON
    b'{"request": {"method": "GET", "uri": "/x"}, "response": {"status": "two hundred"}, "started_at": 1}',
    b"this is not a log line at all",
    b"[1, 2, 3]",
    b'203.0.113.9 - - [10/Jun/2024:11:45:45 +0200] "\\x16\\x03\\x01" 400 0 "-" "-"',
    b"\xff\xfe\x00garbage bytes",
]


@dataclass
class Expected:
    by_consumer: Counter = field(default_factory=Counter)
    by_endpoint: Counter = field(default_factory=Counter)
    by_consumer_endpoint: Counter = field(default_factory=Counter)
    status_classes: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    bytes_out: Counter = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    total: int = 0

    def add(
        self, consumer: str, endpoint: str, status: int, size: int, latency: float | None
    ) -> None:
        self.total += 1
        self.by_consumer[consumer] += 1
        self.by_endpoint[endpoint] += 1
        self.by_consumer_endpoint[(consumer, endpoint)] += 1
        self.status_classes[consumer][f"status_{status // 100}xx"] += 1
        self.bytes_out[consumer] += size
        if latency is not None:
            self.latencies[endpoint].append(latency)

    def merge(self, other: Expected) -> None:
        self.total += other.total
        for name in ("by_consumer", "by_endpoint", "by_consumer_endpoint", "bytes_out"):
            getattr(self, name).update(getattr(other, name))
        for consumer, classes in other.status_classes.items():
            self.status_classes[consumer].update(classes)
        for endpoint, values in other.latencies.items():
            self.latencies[endpoint] += values


def exact_quantile(values: list[float], q: float) -> float:
    """The value of rank ⌈q·n⌉, the definition the warehouse uses."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def _fill(template: str, rng: random.Random) -> str:
    return template.replace("{id}", str(rng.randint(1, 99999)))


def kong_lines(n: int, seed: int, now: datetime, expected: Expected) -> list[bytes]:
    """n Kong records in lines: mostly one object per line, some arrays of 3."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        service, method, template = rng.choice(KONG_ENDPOINTS)
        consumer = rng.choice(CONSUMERS)
        status = rng.choice(STATUSES)
        size = rng.randint(100, 5000)
        latency = round(rng.lognormvariate(3.5, 0.8), 0)
        started = now - timedelta(seconds=rng.randint(0, 600))
        path = _fill(template, rng)
        records.append(
            {
                "request": {
                    "id": f"{seed:08x}{i:024x}",
                    "method": method,
                    "uri": path + ("?expand=items" if i % 5 == 0 else ""),
                    "size": rng.randint(200, 900),
                    "headers": {"user-agent": "okhttp/4.12.0", "authorization": "REDACTED"},
                },
                "response": {"status": status, "size": size},
                "latencies": {"request": latency, "proxy": max(latency - 2, 0), "kong": 2},
                "consumer": {"id": f"id-{consumer}", "username": consumer},
                "authenticated_entity": {"id": f"credential-of-{consumer}"},
                "service": {"name": service},
                "route": {"name": f"{service}-{method.lower()}"},
                "client_ip": "203.0.113.7",
                "started_at": int(started.timestamp() * 1000),
            }
        )
        expected.add(consumer, f"{method} {template}", status, size, latency)
    lines, i = [], 0
    while i < len(records):
        if i % 10 == 0 and i + 3 <= len(records):
            lines.append(json.dumps(records[i : i + 3]).encode())
            i += 3
        else:
            lines.append(json.dumps(records[i]).encode())
            i += 1
    return lines


def nginx_lines(n: int, seed: int, now: datetime, expected: Expected) -> list[bytes]:
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        method, template = rng.choice(NGINX_ENDPOINTS)
        user = rng.choice([*CONSUMERS[:2], "-"])
        consumer = "anonymous" if user == "-" else user
        status = rng.choice(STATUSES)
        size = rng.randint(0, 20000)
        when = (now - timedelta(seconds=rng.randint(0, 600))).astimezone(
            _zone(rng.choice([0, 2, -5]))
        )
        stamp = when.strftime("%d/%b/%Y:%H:%M:%S %z")
        path = _fill(template, rng)
        lines.append(
            f'198.51.100.{rng.randint(1, 254)} - {user} [{stamp}] "{method} {path} HTTP/1.1" '
            f'{status} {size} "-" "Mozilla/5.0 (X11; Linux x86_64)"'.encode()
        )
        expected.add(consumer, f"{method} {template}", status, size, None)
    return lines


def _zone(hours: int):
    from datetime import timezone

    return timezone(timedelta(hours=hours)) if hours else UTC


def as_messages(
    lines: list[bytes], fmt: str, source: str, per_message: int
) -> list[tuple[bytes, dict]]:
    """Pack lines into raw-logs messages the way the shipper does."""
    messages = []
    for start in range(0, len(lines), per_message):
        chunk = lines[start : start + per_message]
        headers = {
            "format": fmt.encode(),
            "source": source.encode(),
            "line": str(start + 1).encode(),
        }
        messages.append((b"\n".join(chunk), headers))
    return messages
