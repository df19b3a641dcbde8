"""What every gateway parser receives and returns.

A parser is a function `parse(line: bytes, ctx: ParseContext) -> list[ParseResult]`.
One line (one NDJSON line, or one Kafka message body from a gateway plugin) may hold
several records (Kong http-log / kafka-log send a JSON array when batching), so a parser
returns one result per record: an `AccessEvent`, or a `Rejected` saying why that record
is unusable. Valid records next to a bad one are kept. A parser should not raise; if it
does, `parse_line` turns the exception into a `Rejected` so the worker never crashes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from apim.credentials import CredentialHasher
from apim.event import AccessEvent

__all__ = ["CredentialHasher", "ParseContext", "ParseResult", "Parser", "Rejected", "parse_line"]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that could not become an event; it goes to the dead-letter topic."""

    reason: str
    record: bytes


ParseResult = AccessEvent | Rejected


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
