"""The syslog receiver against the real broker: what NGINX and HAProxy send over UDP and TCP
becomes exact lines with the right format and source; what is not syslog is dead-lettered."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from topic_reader import DEAD_KAFKA, new_topics, read_lines, read_topic

from ingest.http_receiver import HttpOptions, HttpReceiver
from ingest.outbox import Outbox
from ingest.receivers import serve
from ingest.syslog import (
    Listener,
    SyslogOptions,
    SyslogReceiver,
    parse_apps,
    parse_listener,
)
from ingest.syslog_frames import BadFrame, FrameSplitter
from ingest.syslog_messages import MalformedMessage, SyslogMessage, parse_message

NGINX = b'192.0.2.1 - - [24/Nov/2026:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "curl/8"'
HAPROXY = (
    b"192.0.2.9:40000 [24/Nov/2026:10:00:00.123] fe be/s1 0/0/1/2/3 200 5 - - ---- "
    b'1/1/0/0/0 0/0 "GET /b HTTP/1.1"'
)
MAPPING = "mapping:/etc/apim/haproxy.yaml"


@contextlib.asynccontextmanager
async def receiving(
    kafka_url: str, raw: str, dlq: str, *, kafka_up: bool = True, **options
) -> AsyncIterator[tuple[dict[str, int], SyslogReceiver]]:
    """A receiver on free ports; yields {"udp"/"tcp": port} and the receiver."""
    outbox = Outbox(kafka_url, raw, dlq)
    outbox.start()
    options.setdefault("listeners", [Listener("udp", 0, "nginx"), Listener("tcp", 0, "nginx")])
    receiver = SyslogReceiver(outbox, SyslogOptions(**options))
    addresses = await receiver.start()
    ports = {address.split(":")[0]: int(address.rsplit(":", 1)[1]) for address in addresses}
    try:
        yield ports, receiver
    finally:
        await receiver.close()
        await outbox.close(deliver=kafka_up)


def send_udp(port: int, *datagrams: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for datagram in datagrams:
            sock.sendto(datagram, ("127.0.0.1", port))


async def send_tcp(port: int, data: bytes) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


def octets(message: bytes) -> bytes:
    return b"%d %s" % (len(message), message)


def test_udp_rfc3164_from_nginx_and_haproxy(broker):
    async def scenario() -> list:
        raw, dlq = await new_topics(broker.url)
        async with receiving(broker.url, raw, dlq, apps={"haproxy": MAPPING}) as (ports, _):
            send_udp(
                ports["udp"],
                b"<190>Nov  4 10:00:00 web-1 nginx: " + NGINX,
                b"<190>Nov 24 10:00:00 nginx: " + NGINX,  # nginx `nohostname`
                b"<134>Nov 24 10:00:00 localhost haproxy[123]: " + HAPROXY + b"\n",  # 2.3+
                b"<134>Nov 24 10:00:00 haproxy[123]: " + HAPROXY + b"\n",  # before 2.3
                b"<190>Nov 24 10:00:01 web-1 nginx: " + NGINX,
            )
            return await read_lines(broker.url, raw, 5)

    nginx, haproxy = NGINX.decode(), HAPROXY.decode()
    assert sorted(asyncio.run(scenario())) == [
        (MAPPING, "syslog:127.0.0.1/haproxy", 1, haproxy),
        (MAPPING, "syslog:localhost/haproxy", 1, haproxy),
        ("nginx", "syslog:127.0.0.1/nginx", 1, nginx),
        ("nginx", "syslog:web-1/nginx", 1, nginx),
        ("nginx", "syslog:web-1/nginx", 2, nginx),
    ]


def test_tcp_with_octet_counting_and_line_feeds_rfc5424_and_rfc3164(broker):
    stream = b"".join(
        [
            octets(b"<134>1 2026-11-24T10:00:00.123456+00:00 lb-1 haproxy 123 - - " + HAPROXY),
            b"<190>Nov 24 10:00:00 web-1 nginx: " + NGINX + b"\r\n",
            octets(b'<134>1 - - haproxy - - [x@1 a="q\\"]"] \xef\xbb\xbf' + HAPROXY + b"\n"),
            b"\n",  # blank frames are skipped
            b"<190>Nov 24 10:00:01 web-1 nginx: " + NGINX,  # the last frame, without LF
        ]
    )

    async def scenario() -> list:
        raw, dlq = await new_topics(broker.url)
        async with receiving(broker.url, raw, dlq, apps={"haproxy": MAPPING}) as (ports, _):
            await send_tcp(ports["tcp"], stream)
            return await read_lines(broker.url, raw, 4)

    nginx, haproxy = NGINX.decode(), HAPROXY.decode()
    assert sorted(asyncio.run(scenario())) == [
        (MAPPING, "syslog:127.0.0.1/haproxy", 1, haproxy),  # nil hostname: the peer address
        (MAPPING, "syslog:lb-1/haproxy", 1, haproxy),
        ("nginx", "syslog:web-1/nginx", 1, nginx),
        ("nginx", "syslog:web-1/nginx", 2, nginx),
    ]


def test_what_cannot_be_shipped_goes_to_the_dead_letter_topic_with_the_reason(broker):
    too_long = b"<190>Nov 24 10:00:00 web-1 nginx: " + b"x" * 200

    async def scenario() -> tuple:
        raw, dlq = await new_topics(broker.url)
        listeners = [Listener("udp", 0), Listener("tcp", 0, "nginx")]
        options = {"listeners": listeners, "apps": {"nginx": "nginx"}, "max_frame_bytes": 100}
        async with receiving(broker.url, raw, dlq, **options) as (ports, _):
            send_udp(ports["udp"], b"hello", b"<13>Nov 24 10:00:00 web-1 cron: job done")
            await send_tcp(
                ports["tcp"],
                octets(too_long)
                + octets(b"<190>Nov 24 10:00:00 web-1 nginx: one\ntwo")
                + b"<190>Nov 24 10:00:00 web-1 nginx: "
                + NGINX[:50]
                + b"\n",
            )
            letters = await read_topic(broker.url, dlq, 4)
            return letters, await read_lines(broker.url, raw, 1)

    letters, lines = asyncio.run(scenario())
    assert lines == [("nginx", "syslog:web-1/nginx", 2, NGINX[:50].decode())]
    assert sorted(
        (d["reason"], d["format"], re.sub(r":\d+:", ":<port>:", d["source"]), d["record"])
        for d in (letter.dead_letter for letter in letters)
    ) == [
        (
            "frame of 234 bytes, over the limit of 100",
            "nginx",
            "tcp://127.0.0.1:<port>:1",
            too_long[:100].decode(),
        ),
        (
            "message content holds a line break",
            "nginx",
            "syslog:web-1/nginx:1",
            "<190>Nov 24 10:00:00 web-1 nginx: one\ntwo",
        ),
        ("no <PRI> (0-191) at the start", "syslog", "udp://127.0.0.1:<port>:1", "hello"),
        (
            "no format for app-name 'cron': map it (<app-name>=<format>) "
            "or give the listener a format",
            "syslog",
            "syslog:web-1/cron:1",
            "<13>Nov 24 10:00:00 web-1 cron: job done",
        ),
    ]


def test_over_the_pending_bound_udp_datagrams_are_dropped_and_tcp_senders_held_back():
    frame = b"<190>Nov 24 10:00:00 web-1 nginx: " + NGINX + b"\n"
    fitting = 1024 // len(frame)

    async def scenario() -> None:
        options = {"pending_bytes": 1024, "max_frame_bytes": 1024}
        down = receiving(DEAD_KAFKA, "raw", "dlq", kafka_up=False, **options)
        async with down as (ports, receiver):
            send_udp(ports["udp"], *[frame] * 12)
            while receiver.dropped < 12 - fitting:
                await asyncio.sleep(0.01)
            assert receiver.pending_bytes == fitting * len(frame)
            _, writer = await asyncio.open_connection("127.0.0.1", ports["tcp"])
            writer.write(frame * 200_000)  # 23 MB: far more than the socket buffers hold
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(writer.drain(), 2)  # the sender is held back
            assert receiver.dropped == 12 - fitting  # TCP waits, it is never dropped
            assert receiver.pending_bytes == fitting * len(frame)
            writer.close()

    asyncio.run(scenario())


def test_both_receivers_share_one_outbox_and_deliver_what_they_took_when_stopped(broker):
    async def scenario() -> list:
        raw, dlq = await new_topics(broker.url)
        outbox = Outbox(broker.url, raw, dlq)
        syslog = SyslogReceiver(outbox, SyslogOptions([Listener("tcp", 0, "nginx")]))
        http = HttpReceiver(outbox, HttpOptions({"kong": "kong"}, port=0))
        stop = asyncio.Event()
        serving = asyncio.create_task(serve(outbox, [syslog, http], stop))
        while http.url is None:
            await asyncio.sleep(0.01)
        port = int(syslog.addresses[0].rsplit(":", 1)[1])
        await send_tcp(port, b"<190>Nov 24 10:00:00 web-1 nginx: " + NGINX + b"\n")
        async with (
            aiohttp.ClientSession() as client,
            client.post(f"{http.url}/v1/logs/kong", data=b'{"a": 1}') as response,
        ):
            assert response.status == 200
        stop.set()
        await serving
        return await read_lines(broker.url, raw, 2)

    (fmt, source, number, line), from_syslog = sorted(asyncio.run(scenario()))
    assert (fmt, number, line) == ("kong", 1, '{"a":1}')
    assert re.fullmatch(r"http:127\.0\.0\.1/[0-9a-f]{16}", source)
    assert from_syslog == ("nginx", "syslog:web-1/nginx", 1, NGINX.decode())


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"<190>Nov  4 10:00:00 web-1 nginx: a b", SyslogMessage("web-1", "nginx", b"a b")),
        (b"<190>Nov 24 10:00:00 nginx: a b", SyslogMessage(None, "nginx", b"a b")),
        (b"<134>Nov 24 10:00:00 haproxy[7]: a\n", SyslogMessage(None, "haproxy", b"a")),
        (b"<13>2026-11-24T10:00:00Z h app:a\x00", SyslogMessage("h", "app", b"a")),
        (b"<134>1 - h a 1 - - x ", SyslogMessage("h", "a", b"x ")),
        (b"<134>1 - - - - - -", SyslogMessage(None, None, b"")),
        (b'<134>1 - h a - - [a b="]"][c d="\\""] x', SyslogMessage("h", "a", b"x")),
    ],
)
def test_syslog_headers_are_read(frame, message):
    assert parse_message(frame) == message


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"hello", "no <PRI> (0-191) at the start"),
        (b"<192>Nov 24 10:00:00 h a: x", "no <PRI> (0-191) at the start"),
        (
            b"<13>hello",
            "RFC 3164: expected a timestamp (Mmm dd hh:mm:ss) after <PRI>, or '1 ' for RFC 5424",
        ),
        (
            b"<13>Nov 24 10:00:00 host app msg",
            "RFC 3164: expected [HOSTNAME] TAG: after the timestamp",
        ),
        (
            b"<13>1 yesterday h a - - - x",
            "RFC 5424: expected VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID after <PRI>",
        ),
        (b"<13>1 - h a - - x", "RFC 5424: STRUCTURED-DATA must be '-' or start with '['"),
        (b'<13>1 - h a - - [a b="]', "RFC 5424: STRUCTURED-DATA element not closed by ']'"),
        (b"<13>1 - h a - - -x", "RFC 5424: expected a space after STRUCTURED-DATA"),
    ],
)
def test_malformed_headers_say_why(frame, reason):
    with pytest.raises(MalformedMessage) as malformed:
        parse_message(frame)
    assert str(malformed.value) == reason


def test_tcp_frames_come_out_the_same_however_the_stream_is_cut():
    stream = (
        b"5 hello3 abc<1>x\n<2>y\r\n\n12 0123456789ab"
        + b"25 "
        + b"a" * 25
        + b"<3>"
        + b"z" * 30
        + b"\n<4>ok\n12x bad\n9 abc"
    )
    expected = [
        b"hello",
        b"abc",
        b"<1>x",
        b"<2>y",
        b"0123456789ab",
        BadFrame("frame of 25 bytes, over the limit of 20", b"a" * 20),
        BadFrame("frame longer than 20 bytes", b"<3>" + b"z" * 17),
        b"<4>ok",
        BadFrame("octet count not followed by a space", b"12x bad"),
        BadFrame("stream ended inside a frame (3 of 9 bytes)", b"9 abc"),
    ]
    whole = FrameSplitter(20)
    assert whole.feed(stream) + whole.end() == expected
    bytewise = FrameSplitter(20)
    frames = [frame for i in range(len(stream)) for frame in bytewise.feed(stream[i : i + 1])]
    assert frames + bytewise.end() == expected


def test_listener_and_app_specs():
    assert parse_listener("udp:5514:nginx") == Listener("udp", 5514, "nginx")
    assert parse_listener("tcp:6514:mapping:/x.yaml") == Listener("tcp", 6514, "mapping:/x.yaml")
    assert parse_listener("tcp:6514") == Listener("tcp", 6514, None)
    for bad in ("sctp:1:nginx", "udp:port", "udp:70000"):
        expected = f"listener {bad!r}: expected udp|tcp:<port>[:<format>]"
        with pytest.raises(ValueError, match=re.escape(expected)):
            parse_listener(bad)
    assert parse_apps(f"nginx=nginx, haproxy={MAPPING}") == {"nginx": "nginx", "haproxy": MAPPING}
    with pytest.raises(ValueError, match="app format 'nginx': expected <app-name>=<format>"):
        parse_apps("nginx")
    assert json.dumps(parse_apps("")) == "{}"
