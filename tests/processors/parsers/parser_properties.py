"""What every parser owes any input, and the inputs the property tests draw.

`check_results` is the check: whatever the line, a non-empty list of well-formed events
and rejections. `mutate` edits the bytes of a sample line; `JSON_VALUES`, `paths` and
`replace` put any JSON value anywhere in a sample record. The standard property tests of a
gateway are built by `parser_samples.Samples`.
"""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import strategies as st

from apim.event import AccessEvent
from processors.parsers.base import Rejected

LOGGED_TEXT = [
    *("-", "", "0", "200", "1.5", "7,1", "0.010, 0.020", "1.5s", "1718012745.5"),
    "2024-06-10T09:45:45Z",
]
"""Unset markers, numbers and times in text, as gateways log them."""
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(LOGGED_TEXT),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
"""Any decoded JSON value, and `LOGGED_TEXT` more often."""


def check_results(results: Any) -> None:
    """What every parser result list must satisfy, whatever the input."""
    assert isinstance(results, list)
    assert results
    for result in results:
        assert isinstance(result, AccessEvent | Rejected)
        if isinstance(result, Rejected):
            assert isinstance(result.record, bytes)
            assert isinstance(result.reason, str) and result.reason
            continue
        assert 100 <= result.status <= 599
        assert result.event_time.utcoffset() is not None
        assert result.event_time.microsecond % 1000 == 0  # ms precision
        assert result.method and result.path and result.consumer
        assert type(result.query) is str and "#" not in result.query
        for name, value in result.headers.items():
            assert type(name) is str and name == name.lower() and type(value) is str
        for size in (result.bytes_in, result.bytes_out):
            assert size is None or size >= 0
        for latency in (result.latency_ms, result.upstream_latency_ms, result.gateway_latency_ms):
            assert latency is None or latency >= 0
        msgspec.json.encode(result)  # the event must be serializable


def mutate(line: bytes, data: st.DataObject, byte_values: st.SearchStrategy[int]) -> bytes:
    """Up to five random edits (replace, insert, delete, truncate) of `line`."""
    mutated = bytearray(line)
    for _ in range(data.draw(st.integers(1, 5))):
        pos = data.draw(st.integers(0, len(mutated)))
        op = data.draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
        byte = data.draw(byte_values)
        if op == "replace" and pos < len(mutated):
            mutated[pos] = byte
        elif op == "insert":
            mutated.insert(pos, byte)
        elif op == "delete" and pos < len(mutated):
            del mutated[pos]
        elif op == "truncate":
            del mutated[pos:]
    return bytes(mutated)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into a decoded JSON value (dict keys and list indexes)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += paths(child, (*prefix, i))
    return found


def replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of `value` with the value at `path` replaced by `new`."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = replace(copy[head], rest, new)
    return copy


def records_in(value: Any) -> int:
    """How many results a parser of JSON records (an object or an array) owes `value`."""
    return len(value) if isinstance(value, list) and value else 1
