"""Property-test helpers for the JSON gateway parsers: replace any value of a valid record."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import strategies as st

from apim.event import AccessEvent
from processors.parsers.base import Rejected

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)


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


def check_results(results: Any) -> None:
    """What every parser result list must satisfy, whatever the input."""
    assert isinstance(results, list)
    assert results
    for result in results:
        assert isinstance(result, AccessEvent | Rejected)
        if isinstance(result, Rejected):
            assert isinstance(result.record, bytes)
            assert result.reason
            continue
        assert 100 <= result.status <= 599
        assert result.event_time.utcoffset() is not None
        assert result.method and result.path
        for size in (result.bytes_in, result.bytes_out):
            assert size is None or size >= 0
        for latency in (result.latency_ms, result.upstream_latency_ms, result.gateway_latency_ms):
            assert latency is None or latency >= 0
        msgspec.json.encode(result)  # the event must be serializable
