"""The bench's messages: simulated Kong lines in two shapes, plus synthetic soak and probe lines.

- `simulated_lines(n)`: n realistic Kong file-log lines from `TrafficSimulator`, spread over
  the last hour (raw events have a TTL, so they must be recent).
- `single_messages`: one line per Kafka message.
- `batched_messages`: lines packed by the shipper's own `ingest.kafka.LineSender` (500 lines
  at most, under its byte limit; headers `format=kong`, `source=bench`, `line=<first line>`).
  Simulated lines are ~2 KB, so its 900 KiB limit usually closes a message before 500 lines.
- `SoakTraffic`: minimal Kong lines for 10,000 consumers x 500 endpoints (the simulator caps
  endpoints at 40), consumer `c-<i>`, uri `/e<j>/<id>`; `<j>` is spelled in letters (`eaa`,
  `eab`, ...) because the endpoint templater folds segments like `e123` into `{id}`.
- `probe_line`: one line whose consumer name is unique, for the freshness probe.

Messages are `(value, headers)` with headers as aiokafka takes them; `save` / `load` move
them to the producer child through a msgpack file.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from ingest.kafka import LineSender
from ingest.simulator import TrafficSimulator, diurnal_factor

Headers = list[tuple[str, bytes]]
Message = tuple[bytes, Headers]
SOURCE = "bench"
BATCH_LINES = 500


def simulated_lines(n: int, seed: int = 42, now: datetime | None = None) -> list[bytes]:
    """n Kong lines with `started_at` in the last hour before `now`."""
    now = now or datetime.now(UTC)
    start = now - timedelta(hours=1)
    sim = TrafficSimulator(seed=seed, start=start)
    rate = n / 3600 / max(diurnal_factor(now - timedelta(minutes=30)), 0.05)
    lines: list[bytes] = []
    while len(lines) < n:  # the Poisson counts may fall short: ask for more
        rate *= 1.2
        lines = list(itertools.islice(sim.records(start, now, rate), n))
    return lines


def single_messages(lines: list[bytes]) -> list[Message]:
    return [
        (line, [("format", b"kong"), ("source", SOURCE.encode()), ("line", str(i).encode())])
        for i, line in enumerate(lines, 1)
    ]


class _Recorder:
    """Stands in for what `LineSender` sends through (a producer or a shipper): keeps what
    it would have sent, and answers like both (awaitable, returning a done future)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def send(
        self, topic: str, value: bytes, headers: Headers | None = None
    ) -> asyncio.Future[None]:
        self.messages.append((value, list(headers or [])))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def batched_messages(lines: list[bytes], max_lines: int = BATCH_LINES) -> list[Message]:
    """The messages `LineSender` makes of `lines` (same packing, same headers)."""

    async def pack() -> list[Message]:
        recorder = _Recorder()
        sender = LineSender(recorder, "bench", "kong", SOURCE, max_lines=max_lines)  # type: ignore[arg-type]
        for number, line in enumerate(lines, 1):
            await sender.add(number, line)
        await sender.flush()
        return recorder.messages

    return asyncio.run(pack())


def records_in(messages: list[Message]) -> int:
    return sum(value.count(b"\n") + 1 for value, _ in messages)


def save(messages: list[Message], path: Path) -> None:
    path.write_bytes(msgspec.msgpack.encode(messages))


def load(path: Path) -> list[Message]:
    raw: list[Any] = msgspec.msgpack.decode(path.read_bytes())
    return [(value, [(k, v) for k, v in headers]) for value, headers in raw]


# --------------------------------------------------------------------------- synthetic lines

_LINE = (
    b'{"request":{"id":"%032x","uri":"%s","method":"GET","size":%d,'
    b'"headers":{"user-agent":"bench/1.0","authorization":"REDACTED"}},'
    b'"response":{"status":%d,"size":%d},'
    b'"latencies":{"request":%d,"proxy":%d,"kong":%d},'
    b'"consumer":{"id":"id-%s","username":"%s"},'
    b'"authenticated_entity":{"id":"cred-%s"},'
    b'"service":{"name":"bench"},"route":{"name":"bench-%s"},'
    b'"client_ip":"10.1.%d.%d","started_at":%d}'
)
_STATUSES = (200, 200, 200, 200, 200, 200, 201, 204, 404, 429, 500, 503)


def endpoint_segment(j: int) -> str:
    """`eaa`, `eab`, ... : letters only, so `/e../<id>` keeps 676 distinct templates."""
    return "e" + chr(97 + j // 26 % 26) + chr(97 + j % 26)


def kong_line(index: int, consumer: str, segment: str, started_at_ms: int) -> bytes:
    """One small but complete Kong file-log line."""
    latency = 5 + index % 200
    return _LINE % (
        index,
        f"/{segment}/{1000 + index % 9000}".encode(),
        200 + index % 300,
        _STATUSES[index % len(_STATUSES)],
        300 + index % 5000,
        latency,
        max(latency - 3, 0),
        3,
        consumer.encode(),
        consumer.encode(),
        consumer.encode(),
        segment.encode(),
        index // 256 % 256,
        index % 256,
        started_at_ms,
    )


@dataclass(frozen=True)
class SoakTraffic:
    """Lines that sweep consumers x endpoints: event k uses pair k mod (consumers*endpoints)."""

    consumers: int = 10_000
    endpoints: int = 500

    def line(self, k: int, started_at_ms: int) -> bytes:
        pair = k % (self.consumers * self.endpoints)
        consumer, endpoint = pair % self.consumers, pair // self.consumers
        return kong_line(k, f"c-{consumer}", endpoint_segment(endpoint), started_at_ms)


def probe_line(name: str, started_at_ms: int) -> bytes:
    return kong_line(0, name, "probe", started_at_ms)


def warmup_line(i: int, started_at_ms: int) -> bytes:
    return kong_line(i, "bench-warmup", "warmup", started_at_ms)
