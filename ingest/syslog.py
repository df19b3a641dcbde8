"""Syslog receiver: NGINX and HAProxy access logs over UDP and TCP, shipped line by line.

Each listener is one transport and port (`udp:5514:nginx`, `tcp:6514`): a UDP datagram is
one message (RFC 5426); a TCP stream is cut into messages by `ingest.syslog_frames`
(octet counting or LF, RFC 6587). The header is read by `ingest.syslog_messages` (RFC 3164
or 5424) and only the content is shipped, one message per line, with headers:
- `format`: the `apps` table entry for the message's APP-NAME / TAG if any (e.g.
  `haproxy=mapping:/etc/apim/haproxy.yaml`), else the listener's format;
- `source`: `syslog:<hostname>/<app-name>`, the sender's IP address standing in for a
  missing or nil hostname, `-` for a nil app name;
- `line`: the message's number from that source since the receiver started (numbers are
  kept for the 65536 most recent sources; a source seen again after that restarts at 1).

To the dead-letter topic (`rejected_message`, with the reason), never dropped silently:
frames that are not syslog, oversized frames (their first `max_frame_bytes` bytes; source
`<transport>://<peer ip>:<port>:<frame number>`, frames of a TCP connection or datagrams of a
UDP listener counted from 1), messages whose app has no format, and messages whose content
holds a line break (the worker would split them). Blank contents are skipped.

Message contents (and the data of dead letters) are scrubbed first when a hasher is given
(`ingest.scrub`: clear credentials become keyed hashes; the CLI always gives one).

Back-pressure: messages are held until Kafka or the spool has them, within `pending_bytes`.
Over it, TCP connections are not read until room is freed (the senders slow down); UDP
cannot be slowed: datagrams that do not fit are dropped, counted in `dropped` and logged
(at most every 10 s). Delivery is at least once; order is kept per source.

Listens on loopback by default. No authentication, no TLS (RFC 5425): keep it on a trusted
network. NGINX sends syslog over UDP only; HAProxy truncates messages at 1024 bytes unless
its `log` line says `len <n>`, and writes the hostname `localhost` unless
`log-send-hostname` is set.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from apim import logs, metrics
from ingest.kafka import MAX_MESSAGE_BYTES, rejected_message
from ingest.outbox import Batch, ByteBudget, Outbox
from ingest.scrub import CredentialScrubber
from ingest.syslog_frames import BadFrame, FrameSplitter
from ingest.syslog_messages import MalformedMessage, parse_message

log = logs.get(__name__)
Transport = Literal["udp", "tcp"]
MAX_SOURCES = 65536
READ_BYTES = 64 * 1024
LOUD_EVERY_S = 10.0
NO_FORMAT = "syslog"
"""The `format` of dead letters for frames no format could be chosen for."""


@dataclass(frozen=True)
class Listener:
    transport: Transport
    port: int
    fmt: str | None = None
    """Format of every message, unless the `apps` table names the app."""


@dataclass(frozen=True)
class SyslogOptions:
    listeners: Sequence[Listener]
    apps: Mapping[str, str] = field(default_factory=dict)
    """APP-NAME / TAG -> format, tried before the listener's format."""
    host: str = "127.0.0.1"
    max_frame_bytes: int = 64 * 1024
    pending_bytes: int = 32 * 1024 * 1024

    def check(self) -> None:
        """Raise `ValueError` for options that cannot work."""
        if not self.listeners:
            raise ValueError("no syslog listener: give at least one (e.g. udp:5514:nginx)")
        if self.max_frame_bytes > min(self.pending_bytes, MAX_MESSAGE_BYTES):
            raise ValueError(
                f"max frame bytes ({self.max_frame_bytes}) must not exceed the pending bytes "
                f"({self.pending_bytes}) nor a Kafka message ({MAX_MESSAGE_BYTES})"
            )


def parse_listener(spec: str) -> Listener:
    """`udp:5514:nginx` or `tcp:6514` (no format: the `apps` table decides) -> `Listener`."""
    transport, _, rest = spec.partition(":")
    port, _, fmt = rest.partition(":")
    if transport not in ("udp", "tcp") or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"listener {spec!r}: expected udp|tcp:<port>[:<format>]")
    return Listener(transport, int(port), fmt or None)


def parse_apps(spec: str) -> dict[str, str]:
    """`nginx=nginx,haproxy=mapping:/etc/apim/haproxy.yaml` -> {app name: format}."""
    apps = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        app, _, fmt = item.partition("=")
        if not app or not fmt:
            raise ValueError(f"app format {item!r}: expected <app-name>=<format>")
        apps[app] = fmt
    return apps


class SyslogReceiver:
    """The listeners; `start()` returns their addresses, `close()` stops them (the outbox
    is the caller's to close afterwards)."""

    def __init__(
        self, outbox: Outbox, options: SyslogOptions, hasher: Callable[[str], str] | None = None
    ) -> None:
        """`hasher`: the pipeline's credential hasher, to scrub each message with."""
        options.check()
        self._scrub = CredentialScrubber(hasher).scrub if hasher is not None else None
        self._outbox = outbox
        self._options = options
        self._budget = ByteBudget(options.pending_bytes)
        self._lines: dict[str, int] = {}
        self._udp: list[asyncio.DatagramTransport] = []
        self._tcp: list[asyncio.Server] = []
        self._connections: set[asyncio.Task] = set()
        self._last_shout: dict[str, float] = {}
        self._received = metrics.EVENTS_RECEIVED.labels(stage=metrics.INGEST)
        self.addresses: list[str] = []
        """Where it listens (`udp://host:port`), once started."""
        self.dropped = 0
        """UDP datagrams dropped because `pending_bytes` were held already."""

    @property
    def pending_bytes(self) -> int:
        """Bytes of messages taken but not yet acknowledged by Kafka or the spool."""
        return self._budget.used

    async def start(self) -> list[str]:
        """Listen; the addresses as `udp://host:port` (port 0 in a listener: a free one)."""
        for listener in self._options.listeners:
            sock = _bind(self._options.host, listener)
            if listener.transport == "udp":
                transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                    lambda listener=listener: _Datagrams(self, listener), sock=sock
                )
                self._udp.append(transport)
            else:
                server = await asyncio.start_server(
                    lambda r, w, listener=listener: self._connection(r, w, listener), sock=sock
                )
                self._tcp.append(server)
            host, port = sock.getsockname()[:2]
            self.addresses.append(f"{listener.transport}://{host}:{port}")
        log.info(
            "syslog receiver listening", addresses=self.addresses, apps=dict(self._options.apps)
        )
        return self.addresses

    async def close(self) -> None:
        """Stop listening and close the TCP connections; what was read is still shipped."""
        for transport in self._udp:
            transport.close()
        for server in self._tcp:
            server.close()
        for task in self._connections:
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        for server in self._tcp:
            await server.wait_closed()
        self._udp, self._tcp = [], []

    def datagram(self, data: bytes, peer: tuple, listener: Listener, number: int) -> None:
        """Take the `number`th datagram of a UDP listener (called by its protocol)."""
        if not self._budget.take(len(data)):
            self.dropped += 1
            self._shout(
                "dropped",
                "Kafka is not keeping up: UDP syslog datagrams dropped",
                dropped=self.dropped,
                pending_bytes=self._budget.used,
            )
            return
        self._post(self._batch(data, peer, listener, number), len(data))

    async def _connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener: Listener
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        splitter = FrameSplitter(self._options.max_frame_bytes)
        number = 0
        try:
            while chunk := await reader.read(READ_BYTES):
                for frame in splitter.feed(chunk):
                    number += 1
                    await self._take_waiting(frame, peer, listener, number)
            for frame in splitter.end():
                number += 1
                await self._take_waiting(frame, peer, listener, number)
        except ConnectionError as exc:
            log.info("syslog connection lost", peer=_address(peer), error=str(exc))
        finally:
            self._connections.discard(task)
            writer.close()

    async def _take_waiting(
        self, frame: bytes | BadFrame, peer: tuple, listener: Listener, number: int
    ) -> None:
        size = len(frame.data if isinstance(frame, BadFrame) else frame)
        await self._budget.take_when_free(size)
        self._post(self._batch(frame, peer, listener, number), size)

    def _post(self, batch: Batch | None, size: int) -> None:
        if batch is None:
            self._budget.give(size)
            return
        future = self._outbox.post(batch)
        future.add_done_callback(lambda done: self._shipped(done, size))

    def _shipped(self, future: asyncio.Future[None], size: int) -> None:
        self._budget.give(size)
        if not future.cancelled() and future.exception() is not None:
            log.error("syslog messages could not be shipped", error=str(future.exception()))

    def _batch(
        self, frame: bytes | BadFrame, peer: tuple, listener: Listener, number: int
    ) -> Batch | None:
        """What to ship for one frame: its content line, a dead letter, or None (blank)."""
        position = f"{listener.transport}://{_address(peer)}:{number}"
        fallback = listener.fmt or NO_FORMAT
        if isinstance(frame, BadFrame):
            return self._rejected(position, fallback, frame.reason, frame.data)
        if len(frame) > self._options.max_frame_bytes:
            reason = (
                f"datagram of {len(frame)} bytes, over the limit of {self._options.max_frame_bytes}"
            )
            return self._rejected(
                position, fallback, reason, frame[: self._options.max_frame_bytes]
            )
        try:
            message = parse_message(frame)
        except MalformedMessage as exc:
            return self._rejected(position, fallback, str(exc), frame)
        if not message.content.strip():
            return None
        host = message.hostname or _address(peer).rpartition(":")[0]
        source = f"syslog:{host}/{message.app_name or '-'}"
        line_number = self._number(source)
        fmt = self._options.apps.get(message.app_name or "", listener.fmt)
        if fmt is None:
            reason = (
                f"no format for app-name {message.app_name!r}: map it (<app-name>=<format>) "
                "or give the listener a format"
            )
            return self._rejected(f"{source}:{line_number}", NO_FORMAT, reason, frame)
        if b"\n" in message.content or b"\r" in message.content:
            reason = "message content holds a line break"
            return self._rejected(f"{source}:{line_number}", fmt, reason, frame)
        self._received.inc()
        content = self._scrub(message.content) if self._scrub is not None else message.content
        return Batch(fmt, source, [(line_number, content)])

    def _rejected(self, position: str, fmt: str, reason: str, data: bytes) -> Batch:
        self._shout("rejected", "syslog frame sent to the dead-letter topic", reason=reason)
        if self._scrub is not None:
            data = self._scrub(data)
        return Batch(fmt, position, dead_letters=[rejected_message(position, fmt, reason, data)])

    def _number(self, source: str) -> int:
        """The next line number of `source`; the least recently seen source is forgotten."""
        number = self._lines.pop(source, 0) + 1
        self._lines[source] = number
        if len(self._lines) > MAX_SOURCES:
            del self._lines[next(iter(self._lines))]
        return number

    def _shout(self, kind: str, message: str, **values: object) -> None:
        """Log a warning, at most once per LOUD_EVERY_S for each kind of trouble."""
        now = time.monotonic()
        if now - self._last_shout.get(kind, -LOUD_EVERY_S) >= LOUD_EVERY_S:
            self._last_shout[kind] = now
            log.warning(message, **values)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, receiver: SyslogReceiver, listener: Listener) -> None:
        self._receiver = receiver
        self._listener = listener
        self._count = 0

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self._count += 1
        self._receiver.datagram(data, addr, self._listener, self._count)


def _bind(host: str, listener: Listener) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_DGRAM if listener.transport == "udp" else socket.SOCK_STREAM
    sock = socket.socket(family, kind)
    if listener.transport == "tcp":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, listener.port))
    return sock


def _address(peer: tuple) -> str:
    host, port = peer[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
