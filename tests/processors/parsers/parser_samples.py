"""A gateway's sample lines in tests/data, its parser's results, and its standard tests.

`Samples(directory, parse, source)` reads the sample files and runs the parser with a
context of that source; its `*_test` methods build the tests every parser has (empty lines,
and the property tests of `parser_properties`), which a test module binds to `test_*` names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parser_properties import JSON_VALUES, check_results, mutate, paths, records_in, replace

from apim.event import AccessEvent
from processors.parsers.base import CredentialHasher, ParseContext, Parser, ParseResult, Rejected

DATA = Path(__file__).parents[2] / "data"
HASH = CredentialHasher(b"test-secret")
RANDOM_LINES = st.binary(max_size=300)


class Samples:
    """One gateway's sample files, and its parser run with one context."""

    def __init__(self, directory: str, parse: Parser, source: str) -> None:
        self.dir = DATA / directory
        self.parse = parse
        self.ctx = ParseContext(source=source, hash_credential=HASH)

    def read(self, name: str) -> bytes:
        return (self.dir / name).read_bytes()

    def lines(self, name: str, *, keepends: bool = False) -> list[bytes]:
        return self.read(name).splitlines(keepends=keepends)

    def valid_lines(self, *malformed: str) -> list[bytes]:
        """Every line of every sample file but the `malformed` ones."""
        names = sorted(p.name for p in self.dir.iterdir() if p.name not in malformed)
        return [line for name in names for line in self.lines(name)]

    def results(self, line: bytes) -> list[ParseResult]:
        return self.parse(line, self.ctx)

    def event(self, line: bytes) -> AccessEvent:
        """The one event of a line holding one record."""
        return only_event(self.results(line))

    def events(self, line: bytes) -> list[AccessEvent]:
        """The events of a line whose every record is good."""
        results = self.results(line)
        assert all(isinstance(r, AccessEvent) for r in results), results
        return results  # type: ignore[return-value]

    def rejected(self, line: bytes) -> Rejected:
        """The one rejection of a bad line, which carries the whole line."""
        return only_rejection(self.results(line), line)

    def empty_lines_test(self) -> Callable[..., None]:
        @pytest.mark.parametrize("line", [b"", b"\n", b"  \r\n"])
        def test(line: bytes) -> None:
            assert self.results(line) == [Rejected("empty line", line)]

        return test

    def random_bytes_test(
        self, lines: st.SearchStrategy[bytes] = RANDOM_LINES, *, one_result: bool = False
    ) -> Callable[..., None]:
        @settings(max_examples=300, deadline=None)
        @given(lines)
        def test(line: bytes) -> None:
            results = self.results(line)
            check_results(results)
            assert len(results) == 1 or not one_result

        return test

    def mutated_lines_test(
        self,
        lines: Sequence[bytes],
        interesting: bytes = b"",
        *,
        examples: int = 500,
        one_result: bool = False,
    ) -> Callable[..., None]:
        """Random byte edits of `lines`, drawing the `interesting` bytes more often."""
        byte_values = st.integers(0, 255)
        if interesting:
            byte_values |= st.sampled_from(list(interesting))

        @settings(max_examples=examples, deadline=None)
        @given(st.sampled_from(lines), st.data())
        def test(line: bytes, data: st.DataObject) -> None:
            results = self.results(mutate(line, data, byte_values))
            check_results(results)
            assert len(results) == 1 or not one_result

        return test

    def mutated_json_test(
        self,
        lines: Sequence[bytes],
        *,
        batch_with: bytes | None = None,
        results_owed: Callable[[Any], int | None] = records_in,
    ) -> Callable[..., None]:
        """Any value of a record of `lines` replaced by any JSON value; with `batch_with` (a
        good record), sometimes in an array before it, which must still give its event.
        `results_owed(value)` is how many results the mutated value gives (None: unknown)."""
        as_array = st.booleans() if batch_with is not None else st.just(False)

        @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(st.sampled_from(lines), st.data(), JSON_VALUES, as_array)
        def test(line: bytes, data: st.DataObject, new: Any, in_array: bool) -> None:
            raw = msgspec.json.decode(line)
            mutated = replace(raw, data.draw(st.sampled_from(paths(raw))), new)
            if in_array:
                mutated = [mutated, msgspec.json.decode(batch_with)]  # type: ignore[arg-type]
            results = self.results(msgspec.json.encode(mutated))
            check_results(results)
            owed = results_owed(mutated)
            assert owed is None or len(results) == owed
            assert isinstance(results[-1], AccessEvent) or not in_array

        return test


def only_event(results: list[ParseResult]) -> AccessEvent:
    (event,) = results
    assert isinstance(event, AccessEvent), event
    return event


def only_rejection(results: list[ParseResult], line: bytes) -> Rejected:
    (rejected,) = results
    assert isinstance(rejected, Rejected), rejected
    assert rejected.record == line
    return rejected


AS_LOGGED = ("query", "headers")
"""Event fields that keep the request as the gateway logged it, credentials included: the
privacy step drops those before anything is stored, so a parser never has to."""


def assert_never_in_events(results: Iterable[ParseResult], secrets: Iterable[str]) -> None:
    """No clear credential copied into an event (its fields but `AS_LOGGED`)."""
    for result in results:
        if isinstance(result, AccessEvent):
            encoded = msgspec.json.encode(msgspec.structs.replace(result, query="", headers={}))
            assert not [s for s in secrets if s.encode() in encoded]


NON_OBJECT_REJECTIONS = [
    Rejected("record: expected object, got int", b"7"),
    Rejected("record: expected object, got str", b'"x"'),
    Rejected("record: expected object, got null", b"null"),
    Rejected("record: expected object, got array", b"[]"),
]
"""What the array [record, 7, "x", null, [], record] gives between its two records."""


def around_non_objects(results: list[ParseResult]) -> tuple[AccessEvent, AccessEvent]:
    """The two events of an array [record, 7, "x", null, [], record], the rest rejected."""
    first, *rejected, last = results
    assert rejected == NON_OBJECT_REJECTIONS
    assert isinstance(first, AccessEvent) and isinstance(last, AccessEvent)
    return first, last
