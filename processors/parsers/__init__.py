"""Gateway log parsers: raw line in, canonical `AccessEvent`s (or `Rejected`s) out.

`PARSERS` maps each built-in `--format` name to its parser; `parser_for` also resolves
`mapping:<file>` formats (a declarative YAML mapping, see docs/mapping.md). Add a gateway
by adding a module with a `parse(line, ctx)` function and registering it here.
"""

from pathlib import Path

from processors.parsers import (
    apisix,
    aws_apigw,
    azure_apim,
    caddy,
    envoy,
    envoy_json,
    gravitee,
    kong,
    nginx,
    nginx_json,
    traefik,
    tyk,
)
from processors.parsers.base import (
    CredentialHasher,
    ParseContext,
    Parser,
    ParseResult,
    Rejected,
    parse_line,
)
from processors.parsers.mapping import MappingError, load_mapping

PARSERS: dict[str, Parser] = {
    "kong": kong.parse,
    "tyk": tyk.parse,
    "apisix": apisix.parse,
    "envoy": envoy.parse,
    "envoy-json": envoy_json.parse,
    "traefik": traefik.parse,
    "nginx": nginx.parse,
    "nginx-json": nginx_json.parse,
    "aws-apigw": aws_apigw.parse,
    "azure-apim": azure_apim.parse,
    "caddy": caddy.parse,
    "gravitee": gravitee.parse,
}
MAPPING_PREFIX = "mapping:"


def parser_for(fmt: str) -> Parser:
    """The parser of a format name: a built-in one or `mapping:<file>`.

    Raises `KeyError` (unknown name) or `MappingError` (unreadable or invalid mapping), each
    with a one-line message saying what is wrong."""
    if fmt.startswith(MAPPING_PREFIX):
        return load_mapping(Path(fmt.removeprefix(MAPPING_PREFIX)))
    parser = PARSERS.get(fmt)
    if parser is None:
        names = ", ".join([*sorted(PARSERS), f"{MAPPING_PREFIX}<file>"])
        raise KeyError(f"unknown format {fmt!r}: expected one of {names}")
    return parser


__all__ = [
    "MAPPING_PREFIX",
    "PARSERS",
    "CredentialHasher",
    "MappingError",
    "ParseContext",
    "ParseResult",
    "Parser",
    "Rejected",
    "parse_line",
    "parser_for",
]
