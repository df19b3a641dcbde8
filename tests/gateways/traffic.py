"""Known traffic for the real gateways, and what each gateway must have logged for it.

The plan is a seeded list of requests; the upstream answers each with the status and body
size the request asks for in its query string (`?s=404&n=1234`, dropped by every parser),
and sleeps `SLOW_MS` on the slow endpoint. Expected events are computed here, from the
plan, the gateway's documented behaviour (who answers 401 and what it logs as the user)
and the bytes the client actually received: never by the code under test.
"""

from __future__ import annotations

import base64
import random
import socket
import uuid
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime

SLOW_MS = 300
SLOW_BOUND_MS = SLOW_MS + 200
"""A slow request's stored latency must be in [SLOW_MS, SLOW_BOUND_MS)."""
FAST_P50_BOUND_MS = 100
"""The median latency of every other endpoint must stay under this (a unit read 1000x
too large shows here; 1000x too small shows on the slow endpoint)."""
USER_AGENT = "apim-gateway-test/1.0 (+known traffic)"
USERS = {"alice": "wonderland-7", "bob": "builder-42", "carol": "singer-99"}
WRONG_PASSWORD = ("bob", "not-bobs-password")
"""The one wrong credential sent (Caddy's bcrypt check costs ~1 s per new pair)."""
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Endpoint:
    method: str
    template: str
    statuses: tuple[int, ...]
    max_size: int
    weight: int
    body: bool = False
    slow: bool = False


ENDPOINTS = (
    Endpoint("GET", "/api/orders/{id}", (200, 200, 200, 200, 404), 4000, 30),
    Endpoint("POST", "/api/orders", (201, 201, 201, 400, 409), 600, 12, body=True),
    Endpoint("DELETE", "/api/orders/{id}", (204, 204, 404), 300, 8),
    Endpoint("GET", "/api/users/{uuid}/profile", (200, 200, 200, 500, 503), 2500, 15),
    Endpoint("PUT", "/api/users/{uuid}", (200, 200, 400), 800, 8, body=True),
    Endpoint("GET", "/api/reports/slow", (200,), 1500, 5, slow=True),
    Endpoint("GET", "/public/health", (200,), 16, 12),
    Endpoint("GET", "/public/search/caf%C3%A9", (200, 404), 3000, 6),
    Endpoint("GET", "/public/old/{id}", (301, 302), 100, 4),
)
MAINTENANCE = Endpoint("GET", "/maintenance/{id}", (503,), 0, 0)
"""HAProxy only: routed to a backend without servers, answered by HAProxy itself."""
SLOW_ENDPOINT = "GET /api/reports/slow"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    """As sent, without the query string."""
    endpoint: str
    """Expected template, e.g. `GET /api/orders/{id}`."""
    status: int
    """What the upstream answers."""
    size: int
    """Body bytes the upstream answers."""
    body: bytes = b""
    user: str | None = None
    password: str | None = None
    slow: bool = False
    upstream: bool = True
    """False: the gateway answers by itself whatever the credentials (HAProxy 503)."""
    request_id: str = ""
    """Sent as `X-Request-Id`."""

    @property
    def target(self) -> str:
        return f"{self.path}?s={self.status}&n={self.size}"

    @property
    def authenticated(self) -> bool:
        return self.user is not None and USERS.get(self.user) == self.password


def plan(n: int, seed: int, *, basic_auth: bool, maintenance: int = 0) -> list[Request]:
    """A warm-up (one request per credential, to be sent before the others: see
    `send_all`), then `n` random requests and `maintenance` requests to HAProxy's
    server-less backend, shuffled."""
    rng = random.Random(seed)
    warm_up = [
        _request(ENDPOINTS[0], rng, user, password if basic_auth else None)
        for user, password in [*USERS.items(), WRONG_PASSWORD]
    ]
    weights = [e.weight for e in ENDPOINTS]
    rest = []
    for _ in range(n):
        endpoint = rng.choices(ENDPOINTS, weights)[0]
        user, password = None, None
        if endpoint.template.startswith("/api/"):
            roll = rng.random()
            if roll < 0.06:
                pass  # no credentials
            elif roll < 0.12:
                user, password = WRONG_PASSWORD
            else:
                user = rng.choice(sorted(USERS))
                password = USERS[user]
        rest.append(_request(endpoint, rng, user, password if basic_auth else None))
    rest += [_request(MAINTENANCE, rng, None, None, upstream=False) for _ in range(maintenance)]
    rng.shuffle(rest)
    return [replace(r, request_id=f"req-{seed}-{i:05d}") for i, r in enumerate(warm_up + rest)]


def _request(
    endpoint: Endpoint,
    rng: random.Random,
    user: str | None,
    password: str | None,
    *,
    upstream: bool = True,
) -> Request:
    path = endpoint.template.replace("{id}", str(rng.randint(1, 10**7))).replace(
        "{uuid}", str(uuid.UUID(int=rng.getrandbits(128), version=4))
    )
    template = endpoint.template.replace("{uuid}", "{id}")
    status = rng.choice(endpoint.statuses)
    size = 0 if status == 204 else rng.randint(0, endpoint.max_size)
    body = b""
    if endpoint.body:
        body = b'{"note": "%s"}' % (b"x" * rng.randint(0, 400))
    return Request(
        endpoint.method,
        path,
        f"{endpoint.method} {template}",
        status,
        size,
        body,
        user if password is not None else None,
        password,
        endpoint.slow,
        upstream,
    )


@dataclass(frozen=True)
class Response:
    status: int
    header_bytes: int
    """Status line and headers, with the blank line."""
    body_bytes: int
    request_bytes: int
    """Everything the client sent: request line, headers, body."""

    @property
    def wire_bytes(self) -> int:
        return self.header_bytes + self.body_bytes


@dataclass
class Sent:
    requests: list[Request]
    responses: list[Response]
    started: datetime
    ended: datetime


def send_all(port: int, requests: list[Request], warm_up: int = 4, threads: int = 8) -> Sent:
    """The first `warm_up` requests (one per credential: they fill the gateway's credential
    cache, about 1 s each with Caddy's bcrypt) before the rest, `threads` at a time."""
    started = datetime.now(UTC)
    with ThreadPoolExecutor(threads) as pool:
        responses = list(pool.map(lambda r: send(port, r), requests[:warm_up]))
        responses += list(pool.map(lambda r: send(port, r), requests[warm_up:]))
    return Sent(requests, responses, started, datetime.now(UTC))


def send(port: int, req: Request) -> Response:
    """One HTTP/1.1 request on its own connection (`Connection: close`), read to EOF, so
    the bytes on the wire are known exactly."""
    head = [
        f"{req.method} {req.target} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"User-Agent: {USER_AGENT}",
        "Accept: */*",
        "Connection: close",
        f"X-Request-Id: {req.request_id}",
    ]
    if req.user is not None:
        token = base64.b64encode(f"{req.user}:{req.password}".encode()).decode()
        head.append(f"Authorization: Basic {token}")
    if req.method in ("POST", "PUT"):
        head += ["Content-Type: application/json", f"Content-Length: {len(req.body)}"]
    raw = ("\r\n".join(head) + "\r\n\r\n").encode() + req.body
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(raw)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    answer = b"".join(chunks)
    header, blank, body = answer.partition(b"\r\n\r\n")
    assert blank, f"no complete response to {req.method} {req.target}: {answer[:200]!r}"
    lines = header.decode("latin-1").split("\r\n")
    fields = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    assert "chunked" not in fields.get("transfer-encoding", ""), (req, lines)
    if "content-length" in fields:
        assert int(fields["content-length"]) == len(body), (req, lines)
    return Response(int(lines[0].split()[1]), len(header) + 4, len(body), len(raw))


@dataclass(frozen=True)
class Rules:
    """What a gateway does by itself, as documented by it (and seen in its logs)."""

    basic_auth: bool
    """/api/* needs Basic credentials: the gateway answers 401 without good ones."""
    rejected_user_logged: bool
    """The user name of rejected credentials is logged (nginx's $remote_user is the name
    sent, checked or not; Caddy's user_id is set only once authenticated)."""
    bytes_out: str
    """"body": the response body (nginx $body_bytes_sent, Caddy `size`); "wire": status
    line, headers and body (HAProxy %B)."""


NGINX = Rules(basic_auth=True, rejected_user_logged=True, bytes_out="body")
CADDY = Rules(basic_auth=True, rejected_user_logged=False, bytes_out="body")
HAPROXY = Rules(basic_auth=False, rejected_user_logged=False, bytes_out="wire")


@dataclass(frozen=True)
class Event:
    """One access event as the warehouse must hold it."""

    consumer: str
    method: str
    path: str
    endpoint: str
    status: int
    bytes_out: tuple[int, int]
    """Bounds (inclusive): exact for "body" gateways; for HAProxy's %B, from the body to
    everything the client got (HAProxy adds `connection: close`, the count is its own)."""
    slow: bool
    upstream: bool
    """The upstream answered it."""
    request: Request
    response: Response


def reached_upstream(path: str, status: int) -> bool:
    """Whether a logged request reached the upstream: it never answers 401 itself, and
    /maintenance/ has no server."""
    return status != 401 and not path.startswith("/maintenance/")


def expected_events(sent: Sent, rules: Rules) -> list[Event]:
    events = []
    for req, resp in zip(sent.requests, sent.responses, strict=True):
        refused = rules.basic_auth and req.path.startswith("/api/") and not req.authenticated
        status = 401 if refused else (req.status if req.upstream else 503)
        assert resp.status == status, (req, resp)
        upstream = req.upstream and not refused
        assert upstream == reached_upstream(req.path, status), req
        if upstream:
            assert resp.body_bytes == req.size, (req, resp)
        if req.user is not None and (req.authenticated or rules.rejected_user_logged):
            consumer = req.user
        else:
            consumer = ANONYMOUS
        if rules.bytes_out == "body":
            size = (resp.body_bytes, resp.body_bytes)
        else:
            size = (resp.body_bytes, resp.wire_bytes)
        events.append(
            Event(
                consumer,
                req.method,
                req.path,
                req.endpoint,
                status,
                size,
                req.slow and upstream,
                upstream,
                req,
                resp,
            )
        )
    return events


@dataclass
class Expected:
    total: int
    by_consumer: Counter
    by_endpoint: Counter
    by_consumer_endpoint: Counter
    classes_by_consumer: dict[str, Counter]
    classes_by_endpoint: dict[str, Counter]
    bytes_out_by_consumer: dict[str, tuple[int, int]]
    """(min, max) per consumer."""
    rows: Counter
    """(consumer, method, path, endpoint, status) -> count."""

    @classmethod
    def of(cls, events: Iterable[Event]) -> Expected:
        events = list(events)
        classes_c: dict[str, Counter] = {}
        classes_e: dict[str, Counter] = {}
        low: Counter = Counter()
        high: Counter = Counter()
        for e in events:
            column = f"status_{e.status // 100}xx"
            classes_c.setdefault(e.consumer, Counter())[column] += 1
            classes_e.setdefault(e.endpoint, Counter())[column] += 1
            low[e.consumer] += e.bytes_out[0]
            high[e.consumer] += e.bytes_out[1]
        return cls(
            total=len(events),
            by_consumer=Counter(e.consumer for e in events),
            by_endpoint=Counter(e.endpoint for e in events),
            by_consumer_endpoint=Counter((e.consumer, e.endpoint) for e in events),
            classes_by_consumer=classes_c,
            classes_by_endpoint=classes_e,
            bytes_out_by_consumer={c: (low[c], high[c]) for c in low},
            rows=Counter(row_key(e) for e in events),
        )


def row_key(e: Event) -> tuple:
    return (e.consumer, e.method, e.path, e.endpoint, e.status)
