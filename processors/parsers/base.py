"""What every gateway parser receives and returns.

A parser is a function `parse(line: bytes, ctx: ParseContext) -> list[ParseResult]`.
One line (one NDJSON line, or one Kafka message body from a gateway plugin) may hold
several records (Kong http-log / kafka-log send a JSON array when batching), so a parser
returns one result per record: an `AccessEvent`, or a `Rejected` saying why that record
is unusable. Valid records next to a bad one are kept. A parser should not raise; if it
does, `parse_line` turns the exception into a `Rejected` so the worker never crashes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from apim.event import AccessEvent


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that could not become an event; it goes to the dead-letter topic."""

    reason: str
    record: bytes


ParseResult = AccessEvent | Rejected


class CredentialHasher:
    """Keyed hash for credentials, so the clear value is never stored or sent on."""

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("the credential hash secret must not be empty")
        self._secret = secret
        self._cached = lru_cache(maxsize=65536)(self._hash)  # credentials repeat a lot

    def __call__(self, credential: str) -> str:
        return self._cached(credential)

    def _hash(self, credential: str) -> str:
        digest = hmac.new(self._secret, credential.encode(), hashlib.sha256)
        return digest.hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class ParseContext:
    source: str
    """Where the line came from, e.g. "access.log:42" or "apim.raw-logs/0@1337"."""
    hash_credential: Callable[[str], str]


Parser = Callable[[bytes, ParseContext], list[ParseResult]]


def parse_line(parser: Parser, line: bytes, ctx: ParseContext) -> list[ParseResult]:
    """Run a parser on one line; any exception becomes a `Rejected`, never a crash."""
    try:
        results = parser(line, ctx)
    except Exception as exc:  # a parser bug must cost one line, not the worker
        return [Rejected(f"parser error: {type(exc).__name__}: {exc}", line)]
    return results or [Rejected("no record in line", line)]
