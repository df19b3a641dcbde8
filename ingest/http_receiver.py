"""HTTP log receiver: gateways POST their access logs (Kong http-log, APISIX http-logger).

    POST /v1/logs/<format>          the format in the path (the scheme to use)
    POST /v1/logs?format=<format>   the same, for tools that cannot choose the path
    GET  /healthz                   200 when taking logs, 503 with the reason when not

`<format>` is a name of the `formats` table given at start (route name -> format header,
normally every parser name); naming it both in the path and the query is refused (400),
an unknown one is 404. The body is JSON (see `ingest.http_body`: object, array, NDJSON,
pretty-printed; gzip allowed); each record becomes one line of the raw-logs topic, with
headers `format`, `source` = `http:<client ip>/<request id>` and `line` = the record's
number in the body (from 1). The request id is returned in `X-Request-Id`.

Answers, in the order they are checked:
- 401 with `WWW-Authenticate: Bearer` when a token is configured and the request does not
  carry `Authorization: Bearer <token>` (compared in constant time);
- 404 / 400 for an unknown or missing format;
- 503 with `Retry-After` when the outbox is in trouble (Kafka unreachable and the spool
  full, or Kafka not acknowledging for a while);
- 413 when the body (Content-Length, or bytes read, or bytes after gunzip) exceeds
  `max_body_bytes`; 415 for an encoding other than gzip;
- 429 with `Retry-After` when the bodies being received or shipped would exceed
  `inflight_bytes`: the client retries instead of this process buffering without bound
  (the budget counts body bytes; decoding the JSON, in a worker thread, briefly takes a
  few times as much memory);
- 400 with the reason for a body that is not valid JSON: the body (its first 64 KiB, as
  `rejected_message` keeps) goes to the dead-letter topic first, so it is never lost silently;
- 200 with `{"records": n, "dead_letters": m}` only once the records are durable: acknowledged
  by Kafka or written to the disk spool. A record longer than a Kafka message goes to the
  dead-letter topic and counts in `dead_letters`.

Each record, and the body of a dead letter, is scrubbed first when a hasher is given
(`ingest.scrub`: clear credentials become keyed hashes; the CLI always gives one).

Delivery is at least once: a client that times out and retries sends its records again. APISIX http-logger drops a failed batch unless
`max_retry_count` > 0; Kong's queue retries by itself.

Without a token, requests are not authenticated, which is only allowed on a loopback host.
"""

from __future__ import annotations

import asyncio
import hmac
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from apim import logs, metrics
from apim.net import is_loopback
from ingest.http_body import BodyError, json_records, read_body
from ingest.kafka import MAX_MESSAGE_BYTES, rejected_message
from ingest.outbox import Batch, ByteBudget, Outbox
from ingest.scrub import CredentialScrubber

log = logs.get(__name__)
RETRY_BUSY_S = 1
RETRY_TROUBLE_S = 5
CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class HttpOptions:
    formats: Mapping[str, str]
    """Format name in the URL -> `format` header (e.g. {"kong": "kong"})."""
    host: str = "127.0.0.1"
    port: int = 8780
    token: str | None = None
    max_body_bytes: int = 10 * 1024 * 1024
    inflight_bytes: int = 64 * 1024 * 1024

    def check(self) -> None:
        """Raise `ValueError` for options that cannot work together."""
        if self.max_body_bytes > self.inflight_bytes:
            raise ValueError(
                f"max body bytes ({self.max_body_bytes}) must not exceed the in-flight budget "
                f"({self.inflight_bytes}): such a body could never be taken"
            )
        if not self.token and not is_loopback(self.host):
            raise ValueError(
                f"refusing to take logs on {self.host} without a token: set one, "
                "or listen on a loopback address"
            )


class _Busy(Exception):
    """The in-flight budget is spent."""


class _Held:
    """The bytes one request holds of the in-flight budget: its body, as it grows."""

    def __init__(self, budget: ByteBudget) -> None:
        self._budget = budget
        self.size = 0

    def grow(self, size: int) -> None:
        if size > self.size:
            if not self._budget.take(size - self.size):
                raise _Busy
            self.size = size

    def release(self) -> None:
        self._budget.give(self.size)
        self.size = 0


class HttpReceiver:
    """The aiohttp server; `start()` returns its URL, `close()` stops it (the outbox is
    the caller's to close afterwards)."""

    def __init__(
        self, outbox: Outbox, options: HttpOptions, hasher: Callable[[str], str] | None = None
    ) -> None:
        """`hasher`: the pipeline's credential hasher, to scrub each record with."""
        options.check()
        self._scrub = CredentialScrubber(hasher).scrub if hasher is not None else _unchanged
        self._outbox = outbox
        self._options = options
        self._budget = ByteBudget(options.inflight_bytes)
        self._runner: web.AppRunner | None = None
        self.url: str | None = None
        """Where it listens, once started."""
        self._received = metrics.EVENTS_RECEIVED.labels(stage=metrics.INGEST)

    @property
    def inflight_bytes(self) -> int:
        """Bytes of the bodies being read or shipped right now."""
        return self._budget.used

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/logs", self._logs)
        app.router.add_post("/v1/logs/{format}", self._logs)
        app.router.add_get("/healthz", self._health)
        self._runner = web.AppRunner(app, auto_decompress=False, access_log=None)
        await self._runner.setup()
        sock = _listen(self._options.host, self._options.port)
        site = web.SockSite(self._runner, sock)
        await site.start()
        host, port = sock.getsockname()[:2]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        log.info("http log receiver listening", url=self.url, formats=sorted(self._options.formats))
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, request: web.Request) -> web.Response:
        trouble = self._outbox.trouble()
        if trouble:
            return _answer(503, {"status": "unavailable", "reason": trouble}, RETRY_TROUBLE_S)
        return _answer(200, {"status": "ok"})

    async def _logs(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _unauthorized(request)
        fmt = request.match_info.get("format")
        if fmt is not None and "format" in request.query:
            return _answer(400, {"error": "name the format in the path or the query, not both"})
        fmt = fmt or request.query.get("format")
        if not fmt:
            return _answer(400, {"error": "no format: POST to /v1/logs/<format>"})
        if fmt not in self._options.formats:
            known = ", ".join(sorted(self._options.formats))
            return _answer(404, {"error": f"unknown format {fmt!r}: expected one of {known}"})
        if trouble := self._outbox.trouble():
            return _answer(503, {"error": trouble}, RETRY_TROUBLE_S)
        source = f"http:{_client(request)}/{uuid.uuid4().hex[:16]}"
        held = _Held(self._budget)
        try:
            response = await self._take(request, self._options.formats[fmt], source, held)
        except _Busy:
            response = _answer(429, {"error": "too many logs in flight"}, RETRY_BUSY_S)
        except BodyError as exc:
            response = _answer(exc.status, {"error": str(exc)})
        finally:
            held.release()
        response.headers["X-Request-Id"] = source.rpartition("/")[2]
        return response

    async def _take(self, request: web.Request, fmt: str, source: str, held: _Held) -> web.Response:
        max_bytes = self._options.max_body_bytes
        if (request.content_length or 0) > max_bytes:
            raise BodyError(413, f"body larger than {max_bytes} bytes")
        held.grow(request.content_length or 0)
        chunks = request.content.iter_chunked(CHUNK_BYTES)
        encoding = request.headers.get("Content-Encoding", "")
        body = await read_body(chunks, encoding, max_bytes, held.grow)
        try:
            records = await asyncio.to_thread(self._records, body)  # the loop keeps serving
        except BodyError as exc:
            dead = _rejected(source, fmt, exc, self._scrub(body))
            await self._outbox.post(Batch(fmt, source, [], [dead]))
            log.warning(
                "invalid log body sent to the dead-letter topic", source=source, error=str(exc)
            )
            raise
        batch = _batch(fmt, source, records)
        self._received.inc(len(records))
        await self._outbox.post(batch)
        return _answer(200, {"records": len(batch.lines), "dead_letters": len(batch.dead_letters)})

    def _records(self, body: bytes) -> list[bytes]:
        """The body's records, each scrubbed."""
        return [self._scrub(record) for record in json_records(body)]

    def _authorized(self, request: web.Request) -> bool:
        token = self._options.token
        if not token:
            return True
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        )


def _batch(fmt: str, source: str, records: list[bytes]) -> Batch:
    batch = Batch(fmt, source)
    for number, record in enumerate(records, start=1):
        if len(record) > MAX_MESSAGE_BYTES:
            reason = f"record longer than {MAX_MESSAGE_BYTES} bytes"
            batch.dead_letters.append(rejected_message(f"{source}:{number}", fmt, reason, record))
            metrics.count_errors(metrics.INGEST, metrics.TOO_LONG)
        else:
            batch.lines.append((number, record))
    return batch


def _unchanged(record: bytes) -> bytes:
    return record


def _rejected(source: str, fmt: str, exc: BodyError, body: bytes) -> bytes:
    return rejected_message(source, fmt, f"{exc} (body of {len(body)} bytes)", body)


def _unauthorized(request: web.Request) -> web.Response:
    challenge = 'Bearer realm="apim"'
    if "Authorization" in request.headers:
        challenge += ', error="invalid_token"'
    response = _answer(401, {"error": "missing or wrong bearer token"})
    response.headers["WWW-Authenticate"] = challenge
    return response


def _answer(status: int, body: dict, retry_after_s: int | None = None) -> web.Response:
    response = web.json_response(body, status=status)
    if retry_after_s is not None:
        response.headers["Retry-After"] = str(retry_after_s)
    return response


def _client(request: web.Request) -> str:
    remote = request.remote or "unknown"
    return f"[{remote}]" if ":" in remote else remote


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock
