"""Every way logs arrive, end to end through the real broker, worker and warehouse:
`apim receive` (HTTP, as Kong http-log posts), a gateway's own Kafka topic (as Kong
kafka-log writes), and `apim backfill` of archives with `--format auto`. Counts are exact."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from known_traffic import Expected, kong_lines, nginx_lines

from apim import processes
from warehouse.queries import UsageQuery

pytestmark = pytest.mark.e2e
TOKEN = "receiver-test-token"


def _counted(pipeline) -> int:
    return pipeline.query("SELECT sum(requests) AS n FROM usage_minute FINAL")["n"][0] or 0


def _assert_exact(pipeline, expected: Expected) -> None:
    pipeline.wait_until(lambda: _counted(pipeline) >= expected.total, what="every event counted")
    assert _counted(pipeline) == expected.total
    pairs = UsageQuery(by=("consumer", "endpoint")).run(pipeline.wh)
    assert {(r["consumer"], r["endpoint"]): r["requests"] for r in pairs.to_dicts()} == dict(
        expected.by_consumer_endpoint
    )


def _dead_letters(pipeline) -> list[dict]:
    return pipeline.query(
        "SELECT source, format, reason FROM dead_letters FINAL ORDER BY source"
    ).to_dicts()


def _apim(pipeline, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "apim", *args],
        env=pipeline.env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_http_receiver_takes_kong_http_log_batches(pipeline):
    expected = Expected()
    lines = kong_lines(3000, seed=11, now=datetime.now(UTC), expected=expected)
    port = processes.free_port()
    pipeline.env.update(APIM_RECEIVER_HTTP_PORT=str(port), APIM_RECEIVER_TOKEN=TOKEN)
    log = pipeline.data_dir / "logs" / "receive.log"
    receiver = processes.spawn([sys.executable, "-m", "apim", "receive"], log, pipeline.env)
    try:
        processes.wait_for_port("127.0.0.1", port, 30, receiver)
        url = f"http://127.0.0.1:{port}/v1/logs/kong"
        auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        answers = []
        for i in range(0, len(lines), 100):
            chunk = lines[i : i + 100]
            if i % 200:  # Kong http-log with queue.max_batch_size > 1: one JSON array
                records = [r for line in chunk for r in _records(line)]
                answers.append(_post(url, json.dumps(records).encode(), auth)[0])
            else:  # NDJSON, gzip-compressed
                body = gzip.compress(b"\n".join(chunk))
                answers.append(_post(url, body, {**auth, "Content-Encoding": "gzip"})[0])
        assert set(answers) == {200}
        assert _post(url, b"[]", {"Authorization": "Bearer wrong"})[0] == 401
        status, answer = _post(url, b'{"request": ', auth)
        assert status == 400 and "invalid JSON" in json.dumps(answer)
        pipeline.start_worker()
        _assert_exact(pipeline, expected)
    finally:
        processes.stop(receiver)
    assert receiver.returncode == 0, log.read_text()[-3000:]
    letters = _dead_letters(pipeline)
    assert len(letters) == 1 and letters[0]["format"] == "kong"


def _records(line: bytes) -> list:
    value = json.loads(line)
    return value if isinstance(value, list) else [value]


def test_gateway_owned_topic_is_consumed_with_its_declared_format(pipeline):
    """Kong kafka-log writes one record (or one array) per message, no headers, its own
    topic; a pretty-printed record (newlines inside) is still one record."""
    topic = f"kong-log-{pipeline.raw_topic}"
    pipeline.env["APIM_KAFKA_GATEWAY_TOPICS"] = json.dumps({topic: "kong"})
    expected = Expected()
    lines = kong_lines(2000, seed=12, now=datetime.now(UTC), expected=expected)
    messages = [
        (json.dumps(json.loads(line), indent=2).encode() if i % 7 == 0 else line, {})
        for i, line in enumerate(lines)
    ]
    pipeline.start_worker()
    pipeline.wait_until(lambda: _topic_exists(pipeline, topic), what=f"topic {topic}")
    pipeline.produce([*messages, (b'{"request": {"method": "GET"}', {})], topic=topic)
    other = Expected()  # our own shippers' topic is read alongside
    nginx = nginx_lines(500, seed=13, now=datetime.now(UTC), expected=other)
    pipeline.produce([(b"\n".join(nginx), {"format": b"nginx", "source": b"access.log"})])
    expected.merge(other)
    _assert_exact(pipeline, expected)
    pipeline.wait_until(lambda: len(_dead_letters(pipeline)) == 1, what="the bad record")
    [letter] = _dead_letters(pipeline)
    assert letter["source"].startswith(f"{topic}:") and "invalid JSON" in letter["reason"]


def _topic_exists(pipeline, topic: str) -> bool:
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    from apim.kafka import bootstrap_servers

    async def names() -> list[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(pipeline.broker.url))
        await admin.start()
        try:
            return await admin.list_topics()
        finally:
            await admin.close()

    return topic in asyncio.run(names())


def test_backfill_of_archives_keeps_event_times_resumes_and_detects_the_format(pipeline):
    expected = Expected()
    last_week = datetime.now(UTC) - timedelta(days=7)
    archive = pipeline.data_dir / "archive"
    archive.mkdir()
    older = nginx_lines(1500, seed=14, now=last_week, expected=expected)
    newer = nginx_lines(700, seed=15, now=last_week + timedelta(days=1), expected=expected)
    (archive / "access.log.2.gz").write_bytes(gzip.compress(b"\n".join(older) + b"\n"))
    (archive / "access.log.1").write_bytes(b"\n".join(newer) + b"\n")

    first = _apim(pipeline, "backfill", f"{archive}/access.log*", "-f", "auto", "--no-progress")
    assert first.returncode == 0, first.stderr
    assert "format auto: nginx" in first.stderr
    assert "sent 2200 lines, rejected 0; 2 files shipped, 0 already shipped" in first.stdout
    again = _apim(pipeline, "backfill", f"{archive}/access.log*", "-f", "nginx", "--no-progress")
    assert "sent 0 lines, rejected 0; 0 files shipped, 2 already shipped" in again.stdout

    pipeline.start_worker()
    _assert_exact(pipeline, expected)
    days = pipeline.query(
        "SELECT toDate(window_start) AS day, sum(requests) AS n FROM usage_day FINAL GROUP BY day"
    )
    assert max(days["day"]) <= (last_week + timedelta(days=1)).date()  # event time, not now
    assert _dead_letters(pipeline) == []


def test_format_auto_is_detected_per_message_and_an_unknown_one_is_dead_lettered(pipeline):
    data = Path(__file__).parents[1] / "data"
    caddy = (data / "caddy" / "access.ndjson").read_bytes().strip()
    traefik = (data / "traefik" / "v3.ndjson").read_bytes().strip()
    unknown = b"<html>this is not an access log</html>\nnor this"
    pipeline.produce(
        [
            (caddy, {"format": b"auto", "source": b"caddy.log"}),
            (traefik, {"format": b"auto", "source": b"traefik.json"}),
            (unknown, {"format": b"auto", "source": b"mystery.log"}),
        ]
    )
    pipeline.start_worker()
    expected = len(caddy.splitlines()) + len(traefik.splitlines())
    pipeline.wait_until(lambda: _counted(pipeline) == expected, what=f"{expected} events")
    pipeline.wait_until(lambda: len(_dead_letters(pipeline)) == 2, what="2 dead letters")
    assert _counted(pipeline) == expected
    for letter in _dead_letters(pipeline):
        assert letter["source"].startswith("mystery.log:") and letter["format"] == "auto"
        assert letter["reason"].startswith("format auto: no known format reads these lines")
