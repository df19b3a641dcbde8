"""Access log lines to write, and the (source, line number, line) triples they ship as."""

from __future__ import annotations

from pathlib import Path

from topic_reader import Shipped


def log_lines(tag: str, n: int, start: int = 1) -> list[bytes]:
    """`n` nginx combined lines whose paths say which run (`tag`) and line they are."""
    return [
        f'192.0.2.{i % 250} - - [01/Jan/2026:00:00:{i % 60:02d} +0000] "GET /{tag}/{i} HTTP/1.1" '
        f'200 5 "-" "-"'.encode()
        for i in range(start, start + n)
    ]


def numbered(source: str, lines: list[bytes], start: int = 1) -> list[Shipped]:
    return [(source, start + i, line) for i, line in enumerate(lines)]


def append(path: Path, lines: list[bytes], tail_bytes: bytes = b"") -> None:
    with open(path, "ab") as out:
        out.write(b"".join(line + b"\n" for line in lines) + tail_bytes)
