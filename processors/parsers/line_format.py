"""A text access-log format as a sequence of named parts: match a line, or say where it breaks.

Text formats (Envoy's default, Traefik's CLF, nginx `combined`) are fixed sequences of
fields. `LineFormat` is built from `(name, pattern)` pairs, each pattern starting with its
own leading separator; `match` matches a whole line (up to an optional trailing newline),
and `diagnose` names the first part a non-matching line breaks at, so a rejection says
"DURATION: missing or malformed" rather than just "no match".

Decisions a caller may need: patterns are bytes (lines arrive as bytes and need not be
UTF-8) and are compiled with DOTALL; parsers decode the captured groups themselves.

Not supported: optional or reordered parts; a format with variants is one `LineFormat`
per variant, and the parser picks the variant.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_LINE_END = rb"(?:\r?\n)?\Z"


class LineFormat:
    """A log format of named, regex-described parts, in order."""

    def __init__(self, description: str, parts: Sequence[tuple[str, bytes]]) -> None:
        """`parts` are `(name, pattern)`; `description` names the format in a rejection."""
        self.description = description
        self._line = re.compile(b"".join(p for _, p in parts) + _LINE_END, re.DOTALL)
        self._prefixes = tuple(
            (name, re.compile(b"".join(p for _, p in parts[: i + 1]), re.DOTALL))
            for i, (name, _) in enumerate(parts)
        )

    def match(self, line: bytes) -> re.Match[bytes] | None:
        """The match of the whole line, its groups named by the patterns; `None` if it differs."""
        return self._line.match(line)

    def diagnose(self, line: bytes) -> str:
        """The reason a line that `match` refused does not fit: its first broken part."""
        for name, prefix in self._prefixes:
            if prefix.match(line) is None:
                return f"{name}: missing or malformed (line does not match {self.description})"
        return f"unexpected text after the last field of {self.description}"
