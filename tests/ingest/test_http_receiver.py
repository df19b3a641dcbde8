"""The HTTP log receiver against the real broker: what a gateway POSTs becomes exact lines in
the raw-logs topic, and every refusal (401, 404, 413, 429, 503, 400) is the right one."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import tracemalloc
from collections.abc import AsyncIterator

import aiohttp
import pytest
from topic_reader import DEAD_KAFKA, end_offset, new_topics, read_topic

from ingest.http_body import BodyError, json_records
from ingest.http_receiver import HttpOptions, HttpReceiver
from ingest.kafka import MAX_MESSAGE_BYTES
from ingest.outbox import Outbox
from ingest.spool import Spool

FORMATS = {"kong": "kong", "apisix": "apisix"}
TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
KONG = {"request": {"method": "GET", "uri": "/a"}, "response": {"status": 200}}
KONG_LINE = '{"request":{"method":"GET","uri":"/a"},"response":{"status":200}}'


@contextlib.asynccontextmanager
async def receiving(
    kafka_url: str,
    raw: str,
    dlq: str,
    *,
    spool: Spool | None = None,
    stall_s: float = 5.0,
    kafka_up: bool = True,
    **options,
) -> AsyncIterator[tuple[str, HttpReceiver, aiohttp.ClientSession]]:
    """A receiver (with token) and a client sending the token; with `kafka_up=False` the
    requests still waiting for Kafka are given up on at the end."""
    outbox = Outbox(kafka_url, raw, dlq, spool, stall_s=stall_s)
    outbox.start()
    receiver = HttpReceiver(outbox, HttpOptions(FORMATS, port=0, token=TOKEN, **options))
    url = await receiver.start()
    try:
        async with aiohttp.ClientSession(headers=AUTH) as client:
            yield url, receiver, client
    finally:
        if kafka_up:
            await receiver.close()
            await outbox.close()
        else:
            await outbox.close(deliver=False)
            await receiver.close()


def test_every_json_body_shape_becomes_one_compact_line_per_record(broker):
    bodies = [
        ("/v1/logs/kong", {}, json.dumps(KONG, indent=2).encode()),  # pretty: one record
        ("/v1/logs/kong", {}, json.dumps([KONG, {"n": 2}, [3]]).encode()),  # a batch
        ("/v1/logs/apisix", {}, b'{"n": 1}\n\n{"n": "\xc3\xa9"}\r\n'),  # NDJSON
        ("/v1/logs?format=kong", {"Content-Encoding": "gzip"}, gzip.compress(b'[{"z": 0}]')),
    ]

    async def scenario() -> None:
        raw, dlq = await new_topics(broker.url)
        async with receiving(broker.url, raw, dlq) as (url, _, client):
            answers = []
            for path, headers, body in bodies:
                async with client.post(url + path, data=body, headers=headers) as response:
                    answers.append((response.status, await response.json()))
                    request_id = response.headers["X-Request-Id"]
            messages = await read_topic(broker.url, raw, 4)
        assert answers == [
            (200, {"records": 1, "dead_letters": 0}),
            (200, {"records": 3, "dead_letters": 0}),
            (200, {"records": 2, "dead_letters": 0}),
            (200, {"records": 1, "dead_letters": 0}),
        ]
        assert [m.lines for m in messages] == [
            [KONG_LINE],
            [KONG_LINE, '{"n":2}', "[3]"],
            ['{"n":1}', '{"n":"é"}'],
            ['{"z":0}'],
        ]
        assert [(m.headers["format"], m.headers["line"]) for m in messages] == [
            ("kong", "1"),
            ("kong", "1"),
            ("apisix", "1"),
            ("kong", "1"),
        ]
        sources = [m.headers["source"] for m in messages]
        assert all(s.startswith("http:127.0.0.1/") for s in sources)
        assert len(set(sources)) == 4 and sources[3] == f"http:127.0.0.1/{request_id}"
        assert await end_offset(broker.url, dlq) == 0

    asyncio.run(scenario())


def test_the_answer_comes_only_once_the_lines_are_in_kafka(broker):
    async def scenario() -> None:
        raw, dlq = await new_topics(broker.url)
        async with receiving(broker.url, raw, dlq) as (url, _, client):
            for expected in (1, 2, 3):
                async with client.post(f"{url}/v1/logs/kong", json=KONG) as response:
                    assert response.status == 200
                assert await end_offset(broker.url, raw) == expected  # no waiting

    asyncio.run(scenario())


def test_while_kafka_is_down_the_answer_comes_once_the_lines_are_in_the_spool(tmp_path):
    spool = Spool(tmp_path / "spool", 1 << 20)

    async def scenario() -> None:
        down = receiving(DEAD_KAFKA, "raw", "dlq", spool=spool, kafka_up=False)
        async with down as (url, _, client):
            async with client.post(f"{url}/v1/logs/kong", json=[KONG, KONG]) as response:
                assert response.status == 200
                request_id = response.headers["X-Request-Id"]
            assert len(spool) == 1
            item = spool.oldest()
            assert item.topic == "raw" and item.value == f"{KONG_LINE}\n{KONG_LINE}".encode()
            assert item.headers == [
                ("format", b"kong"),
                ("source", f"http:127.0.0.1/{request_id}".encode()),
                ("line", b"1"),
            ]

    asyncio.run(scenario())


def test_an_invalid_body_is_400_and_kept_in_the_dead_letter_topic(broker):
    body = b'[{"a": 1},\n {"b": 2,}]'

    async def scenario() -> None:
        raw, dlq = await new_topics(broker.url)
        async with receiving(broker.url, raw, dlq) as (url, _, client):
            async with client.post(f"{url}/v1/logs/kong", data=body) as response:
                assert response.status == 400
                reason = (await response.json())["error"]
                request_id = response.headers["X-Request-Id"]
            [letter] = await read_topic(broker.url, dlq, 1)
            assert await end_offset(broker.url, raw) == 0
        assert reason == (
            "invalid JSON: Expecting property name enclosed in double quotes: "
            "line 2 column 10 (char 20)"
        )
        assert letter.dead_letter == {
            "src": "shipper",
            "source": f"http:127.0.0.1/{request_id}",
            "format": "kong",
            "reason": f"{reason} (body of 22 bytes)",
            "record": body.decode(),
        }

    asyncio.run(scenario())


def test_a_record_longer_than_a_kafka_message_goes_to_the_dead_letter_topic(broker):
    huge = {"pad": "x" * MAX_MESSAGE_BYTES}

    async def scenario() -> None:
        raw, dlq = await new_topics(broker.url)
        async with receiving(broker.url, raw, dlq) as (url, _, client):
            async with client.post(f"{url}/v1/logs/kong", json=[KONG, huge, KONG]) as response:
                assert (response.status, await response.json()) == (
                    200,
                    {"records": 2, "dead_letters": 1},
                )
            messages = await read_topic(broker.url, raw, 2)
            [letter] = await read_topic(broker.url, dlq, 1)
        assert [(m.lines, m.headers["line"]) for m in messages] == [
            ([KONG_LINE], "1"),
            ([KONG_LINE], "3"),  # the gap starts a new message: line numbers stay right
        ]
        assert letter.dead_letter["source"] == messages[0].headers["source"] + ":2"
        assert letter.dead_letter["reason"] == f"record longer than {MAX_MESSAGE_BYTES} bytes"
        assert letter.dead_letter["record"] == '{"pad":"' + "x" * (65536 - 8)

    asyncio.run(scenario())


def test_a_missing_or_wrong_token_is_401_with_a_bearer_challenge(broker):
    async def scenario() -> list:
        raw, dlq = await new_topics(broker.url)
        async with receiving(broker.url, raw, dlq) as (url, _, client):
            answers = []
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                async with (
                    aiohttp.ClientSession(headers=headers) as anonymous,
                    anonymous.post(f"{url}/v1/logs/kong", json=KONG) as response,
                ):
                    answers.append((response.status, response.headers["WWW-Authenticate"]))
            async with client.get(f"{url}/healthz") as response:  # probes need no token
                answers.append((response.status, await response.json()))
            assert await end_offset(broker.url, raw) == 0
        return answers

    assert asyncio.run(scenario()) == [
        (401, 'Bearer realm="apim"'),
        (401, 'Bearer realm="apim", error="invalid_token"'),
        (401, 'Bearer realm="apim", error="invalid_token"'),
        (200, {"status": "ok"}),
    ]


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/v1/logs/tyk", 404, "unknown format 'tyk': expected one of apisix, kong"),
        ("/v1/logs?format=tyk", 404, "unknown format 'tyk': expected one of apisix, kong"),
        ("/v1/logs/kong?format=kong", 400, "name the format in the path or the query, not both"),
        ("/v1/logs", 400, "no format: POST to /v1/logs/<format>"),
    ],
)
def test_the_format_is_named_once_and_known(broker, path, status, error):
    async def scenario() -> tuple:
        raw, dlq = await new_topics(broker.url)
        async with (
            receiving(broker.url, raw, dlq) as (url, _, client),
            client.post(url + path, json=KONG) as response,
        ):
            return response.status, (await response.json())["error"]

    assert asyncio.run(scenario()) == (status, error)


def test_bodies_over_the_limit_are_413_even_as_a_gzip_bomb(broker):
    limit = 1024 * 1024
    bomb = gzip.compress(b"[" + b" " * (100 * limit) + b"]", 9)  # 100 MiB unzipped

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b" " * 400_000

    async def scenario() -> list:
        raw, dlq = await new_topics(broker.url)
        async with receiving(broker.url, raw, dlq, max_body_bytes=limit) as (url, _, client):
            answers = []
            for body, headers in [
                (b" " * (limit + 1), {}),  # Content-Length over the limit
                (chunked(), {}),  # no Content-Length: counted while reading
                (bomb, {"Content-Encoding": "gzip"}),
            ]:
                tracemalloc.start()
                async with client.post(f"{url}/v1/logs/kong", data=body, headers=headers) as r:
                    answers.append((r.status, (await r.json())["error"]))
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                assert peak < 8 * 1024 * 1024
            assert await end_offset(broker.url, raw) == 0
        return answers

    assert len(bomb) < limit // 8  # under the limit as sent: only the inflated size is over
    assert asyncio.run(scenario()) == [(413, f"body larger than {limit} bytes")] * 3


def test_over_the_in_flight_budget_the_answer_is_429_with_retry_after(broker):
    body = b'[{"pad":"' + b"x" * 788 + b'"}]'  # 800 bytes
    head = f"POST /v1/logs/kong HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {TOKEN}\r\n"
    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"

    async def scenario() -> None:
        raw, dlq = await new_topics(broker.url)
        options = {"max_body_bytes": 1000, "inflight_bytes": 1000}
        async with receiving(broker.url, raw, dlq, **options) as (url, receiver, client):
            reader, writer = await asyncio.open_connection("127.0.0.1", int(url.split(":")[-1]))
            writer.write(head.encode() + body[:100])  # a slow client holds its 800 bytes
            while receiver.inflight_bytes != 800:
                await asyncio.sleep(0.01)
            async with client.post(f"{url}/v1/logs/kong", data=body) as response:
                assert response.status == 429 and response.headers["Retry-After"] == "1"
            writer.write(body[100:])
            assert (await reader.readline()).startswith(b"HTTP/1.1 200")
            writer.close()
            assert receiver.inflight_bytes == 0
            async with client.post(f"{url}/v1/logs/kong", data=body) as response:
                assert response.status == 200  # the budget is free again
            assert await end_offset(broker.url, raw) == 2

    asyncio.run(scenario())


def test_kafka_down_and_the_spool_full_is_503_with_retry_after(tmp_path):
    spool = Spool(tmp_path / "spool", 100)
    spool.append("raw", b"x" * 100, [])

    async def scenario() -> list:
        down = receiving(DEAD_KAFKA, "raw", "dlq", spool=spool, kafka_up=False)
        async with (
            down as (url, _, client),
            client.post(f"{url}/v1/logs/kong", json=KONG) as logs,
            client.get(f"{url}/healthz") as health,
        ):
            return [
                (logs.status, logs.headers["Retry-After"], await logs.json()),
                (health.status, health.headers["Retry-After"], await health.json()),
            ]

    reason = "Kafka unreachable and the disk spool is full (132 bytes)"
    assert asyncio.run(scenario()) == [
        (503, "5", {"error": reason}),
        (503, "5", {"status": "unavailable", "reason": reason}),
    ]
    assert len(spool) == 1  # nothing was added


def test_kafka_down_without_a_spool_is_503_once_the_wait_is_too_long():

    async def scenario() -> tuple:
        down = receiving(DEAD_KAFKA, "raw", "dlq", stall_s=0.3, kafka_up=False)
        async with down as (url, _, client):
            waiting = asyncio.create_task(client.post(f"{url}/v1/logs/kong", json=KONG))
            await asyncio.sleep(0.6)
            async with client.post(f"{url}/v1/logs/kong", json=KONG) as response:
                answer = response.status, (await response.json())["error"]
            assert not waiting.done()  # the first request still waits for Kafka
            waiting.cancel()
            return answer

    status, error = asyncio.run(scenario())
    assert status == 503 and error.startswith("Kafka has not taken the last messages for ")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "no JSON record in the body"),
        (b"[]", "no JSON record in the body"),
        (b'{"a": NaN}', "invalid JSON at line 1 column 1: NaN is not valid JSON"),
        (b'{"a": 1}\n42', "expected a JSON object or array at line 2 column 1, got int"),
        (b"\xff{}", "body is not UTF-8: byte 0"),
        (b"[" * 100_000, "JSON nested too deeply at line 1 column 1"),
        (
            b"[1e999]",
            "invalid JSON at line 1 column 1: Out of range float values are not JSON compliant",
        ),
    ],
)
def test_json_bodies_that_are_refused(body, error):
    with pytest.raises(BodyError) as refused:
        json_records(body)
    assert (refused.value.status, str(refused.value)) == (400, error)


def test_json_records_keep_what_they_hold():
    assert json_records(
        b'\xef\xbb\xbf{"s": "\\ud800 \\u00e9", "big": 123456789012345678901234}'
    ) == [b'{"s":"\\ud800 \xc3\xa9","big":123456789012345678901234}']


def test_taking_logs_off_loopback_needs_a_token():
    with pytest.raises(ValueError, match=r"refusing to take logs on 0\.0\.0\.0 without a token"):
        HttpOptions(FORMATS, host="0.0.0.0").check()
    HttpOptions(FORMATS, host="0.0.0.0", token="t").check()
    HttpOptions(FORMATS, host="::1").check()
