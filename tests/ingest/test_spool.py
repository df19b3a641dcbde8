from __future__ import annotations

import pytest

from ingest.spool import Spool, SpoolFullError


def test_messages_come_back_in_order_with_topic_and_headers(tmp_path):
    spool = Spool(tmp_path, max_bytes=1 << 20)
    for i in range(3):
        spool.append(
            "raw", f"line {i}\nnext".encode(), [("format", b"kong"), ("line", str(i).encode())]
        )
    assert len(spool) == 3
    first = spool.oldest()
    assert first.topic == "raw" and first.value == b"line 0\nnext"
    assert first.headers == [("format", b"kong"), ("line", b"0")]
    spool.remove(first)
    assert spool.oldest().value.startswith(b"line 1")


def test_a_restarted_shipper_finds_what_was_spooled(tmp_path):
    Spool(tmp_path, max_bytes=1 << 20).append("raw", b"\xff binary \x00", [])
    (tmp_path / "0000000000000009.tmp").write_bytes(b"half written")  # a crash mid-write
    again = Spool(tmp_path, max_bytes=1 << 20)
    assert len(again) == 1 and again.oldest().value == b"\xff binary \x00"
    again.append("raw", b"later", [])
    assert [again.oldest().value] == [b"\xff binary \x00"]
    assert not list(tmp_path.glob("*.tmp"))


def test_the_bound_is_kept(tmp_path):
    spool = Spool(tmp_path, max_bytes=100)
    spool.append("raw", b"x" * 150, [])
    assert spool.full
    with pytest.raises(SpoolFullError):
        spool.append("raw", b"y", [])
    spool.remove(spool.oldest())
    assert spool.size == 0 and not spool.full
