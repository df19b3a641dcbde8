"""`apim tail` against the real broker: real files written, rotated and truncated while the
tailer follows them; the topic is read back and compared line by line."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from log_files import append, log_lines, numbered
from topic_reader import is_empty, new_topics, read_lines, read_topic, shipped_lines

from ingest.kafka import MAX_MESSAGE_BYTES
from ingest.tail import Watch, parse_watch, tail

pytestmark = pytest.mark.e2e
ROTATE_WAIT_S = 0.5


@contextlib.asynccontextmanager
async def tailing(
    url: str,
    raw: str,
    dlq: str,
    checkpoints: Path,
    *watches: Watch,
    rotate_wait_s: float = ROTATE_WAIT_S,
) -> AsyncIterator[asyncio.Task]:
    """Run the tailer while in the block; stop it cleanly at the end."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        tail(
            list(watches),
            url,
            raw,
            dlq,
            checkpoints,
            stop,
            poll_s=0.05,
            rotate_wait_s=rotate_wait_s,
        )
    )
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def test_watch_spec_is_format_then_glob():
    assert parse_watch("nginx:/var/log/nginx/access.log*") == Watch(
        "/var/log/nginx/access.log*", "nginx"
    )
    with pytest.raises(ValueError, match="FORMAT:GLOB"):
        parse_watch("/var/log/nginx/access.log")


def test_files_in_parallel_new_files_and_partial_lines(broker, tmp_path):
    nginx_dir, kong_dir = tmp_path / "nginx", tmp_path / "kong"
    nginx_dir.mkdir()
    kong_dir.mkdir()
    first, kong = nginx_dir / "a.log", kong_dir / "kong.log"
    append(first, log_lines("a", 300))
    kong_lines = [json.dumps({"n": i}).encode() for i in range(200)]
    append(kong, kong_lines[:150])

    async def scenario() -> None:
        raw, dlq = await new_topics(broker.url, partitions=2)
        nginx, kong_watch = (
            Watch(str(nginx_dir / "*.log"), "nginx"),
            Watch(str(kong_dir / "*"), "kong"),
        )
        async with tailing(broker.url, raw, dlq, tmp_path / "c.json", nginx, kong_watch):
            await shipped_lines(broker.url, raw, 450)
            append(kong, kong_lines[150:], tail_bytes=b'{"n": "partial')
            second = nginx_dir / "b.log"  # appears while tailing
            append(second, log_lines("b", 20), tail_bytes=b"half a li")
            append(first, log_lines("a", 5, start=301))
            lines = await shipped_lines(broker.url, raw, 475)
            await asyncio.sleep(0.3)  # several rounds: the partial lines must stay back
            assert sorted(await shipped_lines(broker.url, raw, 475)) == sorted(lines)
            append(second, [b"ne"])
            append(kong, [b'"}'])
            await shipped_lines(broker.url, raw, 477)
        lines = await shipped_lines(broker.url, raw, 477)
        assert sorted(lines) == sorted(
            numbered("a.log", log_lines("a", 305))
            + numbered("b.log", [*log_lines("b", 20), b"half a line"])
            + numbered("kong.log", [*kong_lines, b'{"n": "partial"}'])
        )
        formats = {source: fmt for fmt, source, _, _ in await read_lines(broker.url, raw, 477)}
        assert formats == {"a.log": "nginx", "b.log": "nginx", "kong.log": "kong"}
        assert await is_empty(broker.url, dlq)

    asyncio.run(scenario())


def test_rotation_by_rename_finishes_the_old_file_then_follows_the_new(broker, tmp_path):
    live = tmp_path / "app.log"
    append(live, log_lines("old", 100))

    async def scenario() -> None:
        raw, dlq = await new_topics(broker.url, partitions=2)
        async with tailing(broker.url, raw, dlq, tmp_path / "c.json", Watch(str(live), "nginx")):
            await shipped_lines(broker.url, raw, 100)
            with open(live, "ab") as writer:  # the gateway's open log
                writer.write(b"".join(line + b"\n" for line in log_lines("old", 50, start=101)))
                writer.flush()
                live.rename(tmp_path / "app.log.1")  # logrotate, no glob matches it now
                append(live, log_lines("new", 40))
                await asyncio.sleep(0.2)
                # the gateway writes on to the renamed file until it reopens its log
                writer.write(b"".join(line + b"\n" for line in log_lines("old", 30, start=151)))
                writer.write(b"last line, unterminated")
            await shipped_lines(broker.url, raw, 221, timeout_s=ROTATE_WAIT_S + 10)
        lines = await shipped_lines(broker.url, raw, 221)
        expected = numbered("app.log", [*log_lines("old", 180), b"last line, unterminated"])
        expected += numbered("app.log", log_lines("new", 40))
        assert sorted(lines) == sorted(expected)
        assert max(Counter(lines).values()) == 1

    asyncio.run(scenario())


def test_copytruncate_restarts_at_line_one(broker, tmp_path):
    live = tmp_path / "app.log"
    append(live, log_lines("before", 100))
    checkpoints = tmp_path / "c.json"

    async def scenario() -> None:
        raw, dlq = await new_topics(broker.url, partitions=2)
        watch = Watch(str(live), "nginx")
        async with tailing(broker.url, raw, dlq, checkpoints, watch):
            await shipped_lines(broker.url, raw, 100)
            shutil.copy(live, tmp_path / "app.log.1")  # logrotate copytruncate
            with open(live, "r+b") as out:
                out.truncate(0)
            await asyncio.sleep(0.2)
            append(live, log_lines("after", 20))
            await shipped_lines(broker.url, raw, 120)
        # stopped: truncated again, and rewritten past the old offset before the restart
        shutil.copy(live, tmp_path / "app.log.2")
        live.write_bytes(b"".join(line + b"\n" for line in log_lines("again", 150)))
        async with tailing(broker.url, raw, dlq, checkpoints, watch):
            await shipped_lines(broker.url, raw, 270)
        lines = await shipped_lines(broker.url, raw, 270)
        assert sorted(lines) == sorted(
            numbered("app.log", log_lines("before", 100))
            + numbered("app.log", log_lines("after", 20))
            + numbered("app.log", log_lines("again", 150))
        )

    asyncio.run(scenario())


def checkpoint_paths(checkpoints: Path) -> list[str]:
    return [entry["path"] for entry in json.loads(checkpoints.read_text())["files"].values()]


def test_gzip_archives_are_read_once_whole(broker, tmp_path):
    live, archive = tmp_path / "app.log", tmp_path / "app.log.2.gz"
    append(live, log_lines("live", 10))
    archived = [*log_lines("archived", 500), b"no newline at the end"]
    archive.write_bytes(gzip.compress(b"\n".join(archived)))
    an_hour_ago = time.time() - 3600
    os.utime(archive, (an_hour_ago, an_hour_ago))
    checkpoints = tmp_path / "c.json"
    settle_s = 1.5  # longer than reading the topic takes

    async def scenario() -> None:
        raw, dlq = await new_topics(broker.url, partitions=2)
        watch = Watch(str(tmp_path / "app.log*"), "nginx")
        async with tailing(broker.url, raw, dlq, checkpoints, watch, rotate_wait_s=settle_s):
            await shipped_lines(broker.url, raw, 511)
            fresh = tmp_path / "app.log.1.gz"  # being compressed: waits until it settles
            fresh.write_bytes(gzip.compress(b"fresh\n"))
            assert len(await shipped_lines(broker.url, raw, 511)) == 511
            await shipped_lines(broker.url, raw, 512, timeout_s=settle_s + 10)
        async with tailing(broker.url, raw, dlq, checkpoints, watch):  # restart
            append(live, log_lines("live", 1, start=11))
            await shipped_lines(broker.url, raw, 513)
            archive.rename(tmp_path / "app.log.3.gz")  # rotation shifts the archives
            for _ in range(100):  # the checkpoint follows it, for pruning
                if str(tmp_path / "app.log.3.gz") in checkpoint_paths(checkpoints):
                    break
                await asyncio.sleep(0.05)
            assert str(tmp_path / "app.log.3.gz") in checkpoint_paths(checkpoints)
        async with tailing(broker.url, raw, dlq, checkpoints, watch):  # not shipped again
            await asyncio.sleep(0.3)
        lines = await shipped_lines(broker.url, raw, 513)
        assert sorted(lines) == sorted(
            numbered("app.log", log_lines("live", 11))
            + numbered("app.log.2.gz", archived)
            + [("app.log.1.gz", 1, b"fresh")]
        )

    asyncio.run(scenario())


def test_restart_from_checkpoint_loses_and_repeats_nothing(broker, tmp_path):
    live = tmp_path / "app.log"
    append(live, log_lines("x", 300), tail_bytes=b"192.0.2.9 - - [01/Jan/2026:00:00:00 +0000] ")
    checkpoints = tmp_path / "c.json"

    async def scenario() -> None:
        raw, dlq = await new_topics(broker.url, partitions=2)
        watch = Watch(str(live), "nginx")
        async with tailing(broker.url, raw, dlq, checkpoints, watch):
            await shipped_lines(broker.url, raw, 300)
        saved = json.loads(checkpoints.read_text())["files"]
        st = live.stat()
        entry = saved[f"{st.st_dev}:{st.st_ino}"]
        assert (entry["offset"], entry["line"]) == (
            len(b"".join(line + b"\n" for line in log_lines("x", 300))),
            300,
        )
        # written while the tailer is down: the end of the partial line, more lines
        append(live, [b'"GET /x/301 HTTP/1.1" 200 5 "-" "-"', *log_lines("x", 199, start=302)])
        async with tailing(broker.url, raw, dlq, checkpoints, watch):
            await shipped_lines(broker.url, raw, 500)
            append(live, log_lines("x", 100, start=501))
            await shipped_lines(broker.url, raw, 600)
        lines = await shipped_lines(broker.url, raw, 600)
        expected = numbered("app.log", log_lines("x", 300))
        expected.append(
            (
                "app.log",
                301,
                b'192.0.2.9 - - [01/Jan/2026:00:00:00 +0000] "GET /x/301 HTTP/1.1" 200 5 "-" "-"',
            )
        )
        expected += numbered("app.log", log_lines("x", 299, start=302), start=302)
        assert sorted(lines) == sorted(expected)
        assert len(lines) == 600

    asyncio.run(scenario())


def test_too_long_line_goes_to_the_dead_letter_topic_numbering_kept(broker, tmp_path):
    live = tmp_path / "app.log"
    huge = b"y" * (MAX_MESSAGE_BYTES + 10)
    append(live, [*log_lines("z", 3), huge, b"", *log_lines("z", 2, start=4)])

    async def scenario() -> None:
        raw, dlq = await new_topics(broker.url, partitions=2)
        async with tailing(broker.url, raw, dlq, tmp_path / "c.json", Watch(str(live), "nginx")):
            await shipped_lines(broker.url, raw, 5)
        lines = await shipped_lines(broker.url, raw, 5)
        assert sorted(lines) == sorted(
            numbered("app.log", log_lines("z", 3))
            + numbered("app.log", log_lines("z", 2, start=4), start=6)
        )
        [dead] = await read_topic(broker.url, dlq, 1)
        letter = dead.dead_letter
        assert letter["source"] == "app.log:4" and letter["format"] == "nginx"
        assert letter["reason"] == f"line longer than {MAX_MESSAGE_BYTES} bytes"
        assert letter["record"] == "y" * 65536

    asyncio.run(scenario())
