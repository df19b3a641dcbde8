"""`apim backfill` against the real broker: archives shipped, interrupted part way, resumed;
the topic read back must hold every line exactly once."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from pathlib import Path

import pytest
from log_files import log_lines, numbered
from topic_reader import is_empty, new_topics, shipped_lines

from ingest.backfill import BackfillResult, backfill, expand

pytestmark = pytest.mark.e2e
CHECKPOINT_BYTES = 32 * 1024


def _text(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def _position(checkpoints: Path, path: Path) -> tuple[int, int] | None:
    """(offset, line) the checkpoint file holds for `path`, if any."""
    if not checkpoints.exists():
        return None
    st = path.stat()
    entry = json.loads(checkpoints.read_text())["files"].get(f"{st.st_dev}:{st.st_ino}")
    return None if entry is None else (entry["offset"], entry["line"])


async def _run(
    files, url, raw, dlq, checkpoints, stop_when=None, checkpoint_bytes=CHECKPOINT_BYTES
) -> BackfillResult:
    """One backfill run; `stop_when()` true (checked every few ms) stops it, as Ctrl-C does."""
    stop = asyncio.Event()

    async def watch() -> None:
        while not stop_when():
            await asyncio.sleep(0.002)
        stop.set()

    watcher = asyncio.create_task(watch()) if stop_when else None
    try:
        return await backfill(
            files,
            "nginx",
            url,
            raw,
            dlq,
            checkpoints,
            stop=stop,
            show_progress=False,
            checkpoint_bytes=checkpoint_bytes,
        )
    finally:
        if watcher is not None:
            watcher.cancel()


def test_interrupted_backfills_resume_and_ship_every_line_exactly_once(broker, tmp_path):
    plain, archive = tmp_path / "access.log.2", tmp_path / "access.log.1.gz"
    plain_lines = log_lines("plain", 6000)
    archive_lines = [*log_lines("archive", 5000), b"last line, unterminated"]
    plain.write_bytes(_text(plain_lines))
    archive.write_bytes(gzip.compress(b"\n".join(archive_lines)))
    checkpoints = tmp_path / "backfill.json"
    files = expand([str(tmp_path / "access.log.2"), str(tmp_path / "*.gz")])
    assert files == [plain, archive]

    def started(path: Path, lines: int) -> bool:
        position = _position(checkpoints, path)
        return position is not None and position[1] >= lines

    async def scenario() -> None:
        url = broker.url
        raw, dlq = await new_topics(url)
        first = await _run(files, url, raw, dlq, checkpoints, lambda: started(plain, 1000))
        offset, line = _position(checkpoints, plain)
        assert first.stopped and first.shipped_files == 0 and 1000 <= line < 6000
        assert offset == len(_text(plain_lines[:line]))
        assert len(await shipped_lines(url, raw, line)) == first.sent == line

        second = await _run(files, url, raw, dlq, checkpoints, lambda: started(archive, 1000))
        _, archive_line = _position(checkpoints, archive)
        assert second.stopped and second.shipped_files == 1 and 1000 <= archive_line < 5001
        assert second.sent == 6000 - line + archive_line

        third = await _run(files, url, raw, dlq, checkpoints)
        assert (third.stopped, third.skipped_files, third.shipped_files) == (False, 1, 1)
        assert third.sent == 5001 - archive_line and third.failed == []

        fourth = await _run(files, url, raw, dlq, checkpoints)
        assert (fourth.skipped_files, fourth.shipped_files, fourth.sent) == (2, 0, 0)

        lines = await shipped_lines(url, raw, 11001)
        assert len(lines) == 11001
        assert sorted(lines) == sorted(
            numbered("access.log.2", plain_lines) + numbered("access.log.1.gz", archive_lines)
        )
        assert await is_empty(url, dlq)

    asyncio.run(scenario())


def test_a_damaged_archive_is_shipped_up_to_the_damage_and_reported(broker, tmp_path):
    good, damaged = tmp_path / "a.log.gz", tmp_path / "b.log.gz"
    good.write_bytes(gzip.compress(_text(log_lines("good", 100))))
    whole = gzip.compress(_text(log_lines("damaged", 20000)))
    damaged.write_bytes(whole[: len(whole) // 2])  # cut short, as by a full disk
    readable = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(damaged.read_bytes())
    complete_lines = readable.count(b"\n")
    assert 1000 < complete_lines < 20000

    async def scenario() -> None:
        raw, dlq = await new_topics(broker.url)
        result = await _run(
            [damaged, good], broker.url, raw, dlq, tmp_path / "c.json", checkpoint_bytes=1 << 30
        )
        assert result.shipped_files == 1 and len(result.failed) == 1
        assert result.failed[0].startswith(f"{damaged}: cannot decompress past line ")
        lines = await shipped_lines(broker.url, raw, result.sent)
        assert sorted(lines) == sorted(
            numbered("a.log.gz", log_lines("good", 100))
            + numbered("b.log.gz", log_lines("damaged", complete_lines))
        )
        assert _position(tmp_path / "c.json", damaged)[1] == complete_lines

    asyncio.run(scenario())


def test_paths_and_globs_expand_in_order_once(tmp_path):
    for name in ("b.log", "a.log", "c.log.gz"):
        (tmp_path / name).write_bytes(b"x\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.log").write_bytes(b"x\n")
    found = expand(
        [str(tmp_path / "c.log.gz"), str(tmp_path / "*.log"), str(tmp_path / "**/*.log")]
    )
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "c.log.gz",
        "a.log",
        "b.log",
        "sub/d.log",
    ]
    with pytest.raises(
        FileNotFoundError, match=r"no file matches .*nothing-\*\.log, .*missing.log"
    ):
        expand(
            [
                str(tmp_path / "nothing-*.log"),
                str(tmp_path / "a.log"),
                str(tmp_path / "missing.log"),
            ]
        )


def test_progress_shows_bytes_rate_and_time_left(broker, tmp_path, capsys):
    log_file = tmp_path / "access.log"
    log_file.write_bytes(_text(log_lines("p", 2000)))

    async def scenario() -> BackfillResult:
        raw, dlq = await new_topics(broker.url)
        return await backfill(
            [log_file], "nginx", broker.url, raw, dlq, tmp_path / "c.json", show_progress=True
        )

    assert asyncio.run(scenario()).sent == 2000
    shown = capsys.readouterr().out
    size_kb = log_file.stat().st_size / 1000
    assert f"{size_kb:.1f}/{size_kb:.1f} kB" in shown
    assert "lines/s" in shown and "0:00:00" in shown
