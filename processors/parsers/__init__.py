"""Gateway log parsers: raw line in, canonical `AccessEvent`s (or `Rejected`s) out.

`PARSERS` maps each `--format` name to its parser. Add a gateway by adding a module
with a `parse(line, ctx)` function and registering it here.
"""

from processors.parsers import kong, nginx
from processors.parsers.base import (
    CredentialHasher,
    ParseContext,
    Parser,
    ParseResult,
    Rejected,
    parse_line,
)

PARSERS: dict[str, Parser] = {
    "kong": kong.parse,
    "nginx": nginx.parse,
}

__all__ = [
    "PARSERS",
    "CredentialHasher",
    "ParseContext",
    "ParseResult",
    "Parser",
    "Rejected",
    "parse_line",
]
