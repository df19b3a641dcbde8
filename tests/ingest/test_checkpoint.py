"""Checkpoints on disk, and reading a log file on from its checkpoint: real files only."""

from __future__ import annotations

import gzip
import json
import time

import pytest

from ingest.checkpoint import FINGERPRINT_BYTES, CheckpointError, Checkpoints, Entry, fingerprint
from ingest.kafka import MAX_MESSAGE_BYTES
from ingest.logfile import LogFile


def _lines(file: LogFile, *, final: bool = False) -> list[tuple[int, bytes]]:
    return list(file.lines(1 << 30, final=final))


def _log(n: int, start: int = 1) -> bytes:
    return b"".join(b"request %d\n" % i for i in range(start, start + n))


def _checkpoint_after(path, checkpoints: Checkpoints, lines: int) -> None:
    """Checkpoint `path` as a shipper would after shipping its first `lines` lines."""
    with LogFile.open(path, checkpoints) as file:
        for number, _ in file.lines(1 << 30):
            if number == lines:
                break
        checkpoints.put(file.id, file.checkpoint())
    checkpoints.save()


def test_entries_survive_a_reopen_and_the_write_is_atomic(tmp_path):
    path = tmp_path / "state" / "checkpoints.json"
    entry = Entry("/var/log/a.log", 120, 7, fingerprint(b"abc"), 3)
    with Checkpoints(path) as checkpoints:
        checkpoints.put((64769, 42), entry)
        checkpoints.save()
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "checkpoints.json",
        "checkpoints.json.lock",
    ]
    document = json.loads(path.read_text())
    assert document["version"] == 1 and list(document["files"]) == ["64769:42"]
    with Checkpoints(path) as again:
        assert again.get((64769, 42)) == entry
        assert again.get((64769, 43)) is None


def test_one_process_at_a_time(tmp_path):
    path = tmp_path / "checkpoints.json"
    with Checkpoints(path), pytest.raises(CheckpointError, match="in use by another shipper"):
        Checkpoints(path)
    Checkpoints(path).close()  # released


def test_a_damaged_file_is_refused_not_ignored(tmp_path):
    path = tmp_path / "checkpoints.json"
    path.write_text('{"version": 1, "files": {"1:2": {"path": "x"}}}')
    with pytest.raises(CheckpointError, match="is not a checkpoint file"):
        Checkpoints(path)


def test_files_gone_longer_than_the_retention_are_forgotten(tmp_path):
    live = tmp_path / "live.log"
    live.write_bytes(_log(3))
    st = live.stat()
    path = tmp_path / "checkpoints.json"
    with Checkpoints(path, retention_s=3600) as checkpoints:
        for file_id, name, seen_ago in [
            ((st.st_dev, st.st_ino), str(live), 7200),  # still there: kept, seen again
            ((1, 1), str(tmp_path / "gone-long-ago.log"), 7200),
            ((1, 2), str(tmp_path / "gone-recently.log"), 60),
            ((st.st_dev, st.st_ino + 1), str(live), 7200),  # its path holds another file now
        ]:
            entry = Entry(name, 1, 1, fingerprint(b""), 0)
            checkpoints.put(file_id, entry)
            entry.seen = time.time() - seen_ago
        checkpoints.save()
    with Checkpoints(path, retention_s=3600) as again:
        assert again.get((st.st_dev, st.st_ino)).seen > time.time() - 60
        assert again.get((1, 2)) is not None
        assert again.get((1, 1)) is None and again.get((st.st_dev, st.st_ino + 1)) is None
        assert len(again) == 2


def test_reading_resumes_after_the_last_checkpointed_line(tmp_path):
    log_file = tmp_path / "access.log"
    log_file.write_bytes(_log(10))
    with Checkpoints(tmp_path / "c.json") as checkpoints:
        _checkpoint_after(log_file, checkpoints, 4)
        with open(log_file, "ab") as out:
            out.write(_log(2, start=11))
        with LogFile.open(log_file, checkpoints) as file:
            assert (file.offset, file.line) == (len(_log(4)), 4)
            assert _lines(file) == [(i, b"request %d" % i) for i in range(5, 13)]


def test_partial_line_waits_for_its_newline_and_long_lines_stay_bounded(tmp_path):
    log_file = tmp_path / "access.log"
    log_file.write_bytes(b"one\r\n\nthree\npart")
    with LogFile(log_file) as file:
        assert _lines(file) == [(1, b"one"), (2, b""), (3, b"three")]
        assert file.offset == len(b"one\r\n\nthree\n") and file.read_position == file.offset + 4
        with open(log_file, "ab") as out:
            out.write(b"ial")
        assert _lines(file) == []
        with open(log_file, "ab") as out:
            out.write(b"\n" + b"x" * (3 * MAX_MESSAGE_BYTES) + b"\nlast")
        (n4, partial), (n5, long_line) = _lines(file)
        assert (n4, partial) == (4, b"partial")
        assert n5 == 5 and long_line == b"x" * (MAX_MESSAGE_BYTES + 1)
        assert file.offset == log_file.stat().st_size - 4
        assert _lines(file, final=True) == [(6, b"last")]
        assert file.offset == log_file.stat().st_size


def test_a_reused_inode_or_rewritten_file_is_read_from_its_start(tmp_path):
    log_file = tmp_path / "access.log"
    log_file.write_bytes(_log(50))
    with Checkpoints(tmp_path / "c.json") as checkpoints:
        _checkpoint_after(log_file, checkpoints, 50)
        entry = checkpoints.get((log_file.stat().st_dev, log_file.stat().st_ino))
        assert entry.fingerprint_bytes == min(FINGERPRINT_BYTES, len(_log(50)))
        # rewritten in place, longer than before (a copytruncate whose new content grew
        # past the old offset, or another file on the same inode)
        log_file.write_bytes(b"new " + _log(80))
        with LogFile.open(log_file, checkpoints) as file:
            got = _lines(file)
        assert got[0] == (1, b"new request 1") and len(got) == 80


def test_a_file_truncated_below_its_checkpoint_is_read_from_its_start(tmp_path):
    log_file = tmp_path / "access.log"
    log_file.write_bytes(_log(500))
    with Checkpoints(tmp_path / "c.json") as checkpoints:
        _checkpoint_after(log_file, checkpoints, 500)
        with open(log_file, "r+b") as out:
            out.truncate(len(_log(200)))  # the same first KiB, but shorter than the offset
        with LogFile.open(log_file, checkpoints) as file:
            assert _lines(file) == [(i, b"request %d" % i) for i in range(1, 201)]


def test_gzip_is_read_decompressed_and_resumed_in_decompressed_offsets(tmp_path):
    archive = tmp_path / "access.log.1"  # no .gz suffix: recognised by its magic bytes
    archive.write_bytes(gzip.compress(_log(30) + b"unterminated"))
    with Checkpoints(tmp_path / "c.json") as checkpoints:
        _checkpoint_after(archive, checkpoints, 12)
        with LogFile.open(archive, checkpoints) as file:
            assert file.gzipped and (file.offset, file.line) == (len(_log(12)), 12)
            rest = _lines(file)
            assert rest == [(i, b"request %d" % i) for i in range(13, 31)] + [(31, b"unterminated")]
            assert file.done and file.finished
            checkpoints.put(file.id, file.checkpoint())
        with LogFile.open(archive, checkpoints) as file:
            assert file.done and file.finished and _lines(file) == []


def test_a_renamed_file_is_looked_for_at_its_new_path(tmp_path):
    path = tmp_path / "checkpoints.json"
    with Checkpoints(path) as checkpoints:
        checkpoints.put((1, 7), Entry("/old/name.log", 5, 1, fingerprint(b"x"), 1))
        checkpoints.save()
        assert not checkpoints.unsaved
        checkpoints.moved((1, 7), "/new/name.log")
        checkpoints.moved((1, 8), "/not/checkpointed.log")
        assert checkpoints.unsaved
        assert checkpoints.get((1, 7)).path == "/new/name.log" and checkpoints.get((1, 8)) is None
