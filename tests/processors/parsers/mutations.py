"""Byte-level mutations of valid log lines, for the parsers' property tests."""

from __future__ import annotations

from hypothesis import strategies as st


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
