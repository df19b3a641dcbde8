"""Privacy rules applied to an event's raw fields before anything is stored.

- Client IPs are kept, truncated (IPv4 to its /24, IPv6 to its /48), keyed-hashed or
  dropped (`protect_ip`). Compute the country from the clear address first.
- Query parameters and request headers that carry credentials or secrets are dropped by
  name, case-insensitively; the defaults below plus any names the operator adds.
- `PrivacyRules.redact` is a best effort for dead-letter text, where the record could not be
  parsed and so cannot be filtered field by field: it replaces the values of the dropped
  names, in JSON or Python-dict form (also JSON escaped inside a JSON string), header-line
  form and query form, with "[redacted]". Over-redaction is preferred to a leak: a header
  line's value runs to the end of the line. Header names also match in NGINX variable
  form (`http_x_api_key` for `x-api-key`), as NGINX JSON log formats name them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal, get_args
from urllib.parse import unquote_plus

from apim.credentials import CREDENTIAL_HEADERS as DEFAULT_DROPPED_HEADERS
from apim.credentials import CREDENTIAL_QUERY as DEFAULT_DROPPED_QUERY

IpMode = Literal["keep", "truncate", "hash", "drop"]
IP_MODES: tuple[str, ...] = get_args(IpMode)
REDACTED = "[redacted]"

_IPV4_24 = 0xFFFF_FF00
_IPV6_48 = ((1 << 48) - 1) << 80


def protect_ip(ip: str, mode: IpMode, hash_value: Callable[[str], str]) -> str:
    """`ip` as `mode` allows storing it; "" for invalid IP text unless the mode is "keep".

    truncate: "203.0.113.77" -> "203.0.113.0", "2001:db8:1:2::5" -> "2001:db8:1::" (an
    IPv4-mapped IPv6 address is truncated as IPv4); hash: "h:" + 16 hex of
    `hash_value(canonical address)`, so one address in two spellings hashes the same.
    """
    if mode == "keep":
        return ip
    if mode == "drop":
        return ""
    if mode not in IP_MODES:
        raise ValueError(f"unknown IP mode {mode!r}: use one of {', '.join(IP_MODES)}")
    address = _canonical(ip)
    if not address:
        return ""
    if mode == "hash":
        return "h:" + hash_value(address)[:16]
    return _truncated(address)


@lru_cache(maxsize=65536)  # clients call many times from one address
def _canonical(ip: str) -> str:
    """The address as `ipaddress` writes it (IPv4-mapped IPv6 as IPv4); "" if invalid."""
    if _is_dotted_quad(ip):  # the common case, without ipaddress's parsing
        return ip
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def _is_dotted_quad(ip: str) -> bool:
    """An IPv4 address in its canonical text: four decimal octets, no leading zeros."""
    octets = ip.split(".")
    return len(octets) == 4 and all(
        o.isascii() and o.isdigit() and len(o) <= 3 and int(o) <= 255 and (o == "0" or o[0] != "0")
        for o in octets
    )


@lru_cache(maxsize=65536)
def _truncated(address: str) -> str:
    if "." in address and ":" not in address:  # canonical IPv4: keep the first three octets
        return address.rsplit(".", 1)[0] + ".0"
    parsed = ipaddress.ip_address(address)
    if isinstance(parsed, ipaddress.IPv4Address):
        return str(ipaddress.IPv4Address(int(parsed) & _IPV4_24))
    return str(ipaddress.IPv6Address(int(parsed) & _IPV6_48))


@dataclass(frozen=True)
class PrivacyRules:
    ip_mode: IpMode = "truncate"
    dropped_headers: frozenset[str] = DEFAULT_DROPPED_HEADERS
    dropped_query: frozenset[str] = DEFAULT_DROPPED_QUERY
    _redactors: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.ip_mode not in IP_MODES:
            raise ValueError(f"unknown IP mode {self.ip_mode!r}: use one of {', '.join(IP_MODES)}")
        headers = frozenset(n.strip().lower() for n in self.dropped_headers if n.strip())
        query = frozenset(n.strip().lower() for n in self.dropped_query if n.strip())
        object.__setattr__(self, "dropped_headers", headers)
        object.__setattr__(self, "dropped_query", query)
        object.__setattr__(self, "_redactors", _redactors(headers, query))

    @classmethod
    def from_config(
        cls,
        ip_mode: str = "truncate",
        extra_headers: Iterable[str] = (),
        extra_query: Iterable[str] = (),
    ) -> PrivacyRules:
        """The default dropped names plus the operator's; raises ValueError on a bad mode."""
        return cls(
            ip_mode,  # type: ignore[arg-type]  # validated in __post_init__
            DEFAULT_DROPPED_HEADERS | frozenset(extra_headers),
            DEFAULT_DROPPED_QUERY | frozenset(extra_query),
        )

    def query(self, query: str) -> str:
        """`query` without the dropped parameters; the others keep their order and encoding.

        A parameter's name is compared percent-decoded and lower-cased ("API%5FKEY=…").
        """
        if not query:
            return query
        kept = [p for p in query.split("&") if _param_name(p) not in self.dropped_query]
        return "&".join(kept)

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """`headers` without the dropped ones (names compared lower-cased)."""
        return {k: v for k, v in headers.items() if k.lower() not in self.dropped_headers}

    def redact(self, record: str) -> str:
        """`record` with the values of every dropped name replaced by "[redacted]"."""
        for pattern, replace in self._redactors:
            record = pattern.sub(replace, record)
        return record


def _param_name(param: str) -> str:
    return unquote_plus(param.partition("=")[0]).strip().lower()


def _redactors(
    headers: frozenset[str], query: frozenset[str]
) -> tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...]:
    """The (pattern, replacement) passes of `redact`, in the order they must run.

    Header lines go first: their value runs to the end of the line (or of the quoted string
    holding it), so a later pass cannot cut one in two. Every pass replaces a whole
    delimited value, so a value is either wholly replaced or left intact for the next pass.
    """
    nginx = {"http_" + n.replace("-", "_") for n in headers}
    names = headers | query | nginx
    if not names:
        return ()
    first = "".join(sorted({re.escape(n[0]) for n in names}))
    name = f"(?=[{first}]){_trie(names)}"  # the lookahead and trie keep a pass at ~5 µs/100 chars
    flags = re.IGNORECASE
    # "Authorization: Bearer v", … inside a quoted string: up to the closing quote or an escape
    quoted_header = re.compile(
        rf"""(?P<key>(?P<q>["']){name}[ \t]*:[ \t]*)(?P<val>(?:(?!(?P=q))[^\\\r\n])*)""",
        flags,
    )
    # Authorization: Bearer v  (to the end of the line)
    header_line = re.compile(
        rf"""(?P<key>(?<![\w"'-]){name}[ \t]*:[ \t]*)(?P<val>[^\r\n]*)""", flags
    )
    # {\"apikey\": \"v\"}: JSON escaped inside a JSON string (a log line in an envelope)
    escaped_json = re.compile(
        rf"""(?P<key>\\(?P<q>["']){name}\\(?P=q)\s*:\s*)"""
        rf"""(?P<val>\\(?P=q)(?:(?!\\(?P=q))[^\r\n])*(?:\\(?P=q))?|[^\s,}}\]\\]+)""",
        flags,
    )
    # {"apikey": "v"}, {'apikey': 'v'}, "authorization": ["Bearer v"], "key": 42; a string
    # cut off by a truncated line runs to the end of the text
    string = r"""(?:"(?:[^"\\]|\\[\s\S])*\\?(?:"|\Z)|'(?:[^'\\]|\\[\s\S])*\\?(?:'|\Z))"""
    json = re.compile(
        rf"""(?P<key>(?P<q>["']){name}(?P=q)\s*:\s*)"""
        rf"""(?P<val>{string}|\[(?:{string}|[^\]"'])*(?:\]|\Z)|[^\s,}}\]]+)""",
        flags,
    )
    # ?apikey=v&x=1, "token=v", a=1;sig=v
    query_param = re.compile(rf"""(?P<key>(?<![\w.%+-]){name}=)(?P<val>[^&\s"'#;\\]*)""", flags)
    return (
        (quoted_header, _plain),
        (header_line, _plain),
        (escaped_json, _escaped_quoted),
        (json, _quoted),
        (query_param, _plain),
    )


def _trie(names: Iterable[str]) -> str:
    """A regex matching exactly `names`, shaped as a trie so it fails fast on other text."""
    root: dict[str, dict] = {}
    for name in names:
        node = root
        for char in name:
            node = node.setdefault(char, {})
        node[""] = {}

    def pattern(node: dict[str, dict]) -> str:
        branches = [re.escape(c) + pattern(child) for c, child in sorted(node.items()) if c]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return pattern(root)


def _plain(match: re.Match[str]) -> str:
    return match["key"] + (REDACTED if match["val"] else "")


def _quoted(match: re.Match[str]) -> str:
    return f"{match['key']}{match['q']}{REDACTED}{match['q']}"


def _escaped_quoted(match: re.Match[str]) -> str:
    return f"{match['key']}\\{match['q']}{REDACTED}\\{match['q']}"
