"""A log POST body: read within a size bound (gzip too), then cut into one JSON record per line.

`read_body` streams the body and stops as soon as it exceeds `max_bytes`, counted after
decompression for `Content-Encoding: gzip`: the decompressor never produces more than the
bytes still allowed, so a zip bomb costs at most `max_bytes` of memory. Encodings other
than gzip and identity are refused. One gzip member only (what HTTP clients send).

`json_records` accepts a single JSON value, a JSON array (one record per element: Kong
http-log and APISIX http-logger batches), NDJSON, or any whitespace-separated sequence of
JSON values (pretty-printed ones too). Each record is re-encoded compactly on one line, so
the worker's newline framing never splits a record. Re-encoding keeps the values, not the
bytes: key order is kept, insignificant whitespace goes, a duplicate key keeps its last
value, and numbers are written the Python way (`1E3` becomes `1000.0`). NaN and Infinity
are refused (not JSON). A top-level value must be an object or an array; array elements
are shipped whatever they are (the parser rejects what it cannot use).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterable, Callable

GZIP_WINDOW = 16 + zlib.MAX_WBITS


class BodyError(ValueError):
    """The body cannot be taken as it is; `status` is the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


async def read_body(
    chunks: AsyncIterable[bytes],
    encoding: str,
    max_bytes: int,
    on_size: Callable[[int], None],
) -> bytes:
    """The decoded body; `on_size(total)` is called as it grows (it may raise to stop).

    Raises `BodyError` 413 over `max_bytes`, 415 for an unknown encoding, 400 for a
    broken gzip stream."""
    encoding = encoding.strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip"):
        raise BodyError(415, f"Content-Encoding {encoding!r} is not supported: use gzip or none")
    inflater = zlib.decompressobj(GZIP_WINDOW) if encoding.endswith("gzip") else None
    body = bytearray()
    async for chunk in chunks:
        room = max_bytes - len(body)
        data = chunk if inflater is None else _inflate(inflater, chunk, room + 1)
        if len(data) > room:
            raise BodyError(413, f"body larger than {max_bytes} bytes")
        body += data
        on_size(len(body))
    if inflater is not None and not inflater.eof:
        raise BodyError(400, "gzip body is truncated")
    return bytes(body)


def _inflate(inflater: zlib._Decompress, chunk: bytes, limit: int) -> bytes:
    if inflater.eof:
        raise BodyError(400, "data after the end of the gzip stream")
    try:
        return inflater.decompress(chunk, limit)
    except zlib.error as exc:
        raise BodyError(400, f"gzip body is corrupt: {exc}") from None


def json_records(body: bytes) -> list[bytes]:
    """One compact JSON line per record; `BodyError` 400 saying where the body is invalid."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BodyError(400, f"body is not UTF-8: byte {exc.start}") from None
    decoder = json.JSONDecoder(parse_constant=_refuse_constant)
    records: list[bytes] = []
    position = _skip_space(text, 0)
    while position < len(text):
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise BodyError(400, f"invalid JSON: {exc}") from None
        except ValueError as exc:
            raise BodyError(400, f"invalid JSON at {_where(text, position)}: {exc}") from None
        except RecursionError:
            raise BodyError(400, f"JSON nested too deeply at {_where(text, position)}") from None
        if isinstance(value, dict):
            records.append(_compact(value, text, position))
        elif isinstance(value, list):
            records += [_compact(element, text, position) for element in value]
        else:
            raise BodyError(
                400,
                f"expected a JSON object or array at {_where(text, position)}, "
                f"got {type(value).__name__}",
            )
        position = _skip_space(text, end)
    if not records:
        raise BodyError(400, "no JSON record in the body")
    return records


def _compact(value: object, text: str, position: int) -> bytes:
    try:
        encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as exc:  # NaN, Infinity, or a number too large for a float
        raise BodyError(400, f"invalid JSON at {_where(text, position)}: {exc}") from None
    # A lone surrogate can only come from a `\udXXX` escape inside a string: write it back
    # as that escape (backslashreplace gives exactly `\udXXX`), keeping the line valid JSON.
    return encoded.encode("utf-8", "backslashreplace")


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _where(text: str, position: int) -> str:
    line = text.count("\n", 0, position) + 1
    column = position - text.rfind("\n", 0, position)
    return f"line {line} column {column}"
