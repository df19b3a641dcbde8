"""Credentials out of log lines before they are shipped: clear values become keyed hashes.

Gateways log clear credentials (Kong's `apikey` header, APISIX's `apikey` and
`authorization`, Tyk's `api_key`, AWS's `identity.apiKey`, `?api_key=` in any URL …), and the
shippers put lines on the raw topic as logged. `CredentialScrubber(hasher).scrub(line)`
replaces the value of every credential-bearing name with `hash:<hasher(value)>` first.

`value` is exactly the text the parser of that gateway hashes, and the parsers take
`hash:<32 hex>` as already hashed (`apim.credentials`), so parse(scrub(line)) has the same
`credential_hash`, consumer and other fields as parse(line); only `query` and `headers`
then hold `hash:…` where the clear value was (the privacy step drops them anyway).

Where names are looked for:
- JSON lines (an object or an array; a string value holding JSON, such as a CloudWatch
  Logs envelope's `message`, is scrubbed the same way; gzip and base64-gzip payloads are
  inflated first): every key, at any depth, compared case-insensitively, whose name is in
  `JSON_NAMES`, and `authenticated_entity.id` (Kong's credential id). String values are
  replaced, and the strings of an array value one by one (parsers use the first);
  numbers, booleans (APISIX's `?apikey` flag), null and objects are kept. Values that hold
  no credential are kept too: "", "-", "REDACTED" (Kong, Caddy, Traefik redaction) and
  Tyk's no-key markers ("00000000", "--"). The query string of a string value that is a
  request target or URL ("/x?api_key=…", "https://h/x?…", "GET /x?… HTTP/1.1") is scrubbed
  as below; Tyk's `key-<key>` tags and its base64 `raw_request` / `raw_response` too.
  The line is re-encoded compactly (values kept, not bytes) only when something changed;
- any other line (nginx combined, Traefik CLF, Tyk's logrus text, JSON that does not
  decode): `name=value` pairs (query strings, logrus fields; a logrus Go-quoted value is
  hashed unquoted), `Name: value` header lines (the value to the end of the line or to a
  closing quote), and, as a best effort for cut or invalid JSON, `"name": "value"` pairs.

Every value is hashed whole, as the parsers hash it: APISIX, Caddy and Traefik hash the
whole `Authorization` value ("Bearer <token>"), so the scheme is not kept apart.
A line in which no credential name occurs (a case-insensitive substring pre-check) is
returned as it is, without being decoded.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
import zlib
from collections.abc import Callable
from typing import Any

import msgspec

from apim.credentials import CREDENTIAL_HEADERS as HEADER_NAMES
from apim.credentials import CREDENTIAL_QUERY as QUERY_NAMES
from apim.credentials import HASHED_PREFIX, is_hashed

JSON_NAMES = frozenset(
    {
        *HEADER_NAMES,
        *QUERY_NAMES,
        *("http_" + h.replace("-", "_") for h in HEADER_NAMES),  # NGINX JSON: $http_x_api_key
        *("request_" + h for h in HEADER_NAMES),  # Traefik: request_Authorization
        "downstream_set-cookie",  # Traefik response headers
        "origin_set-cookie",
        "sent_http_set_cookie",  # NGINX response header variable
        "identity.apikey",  # AWS API Gateway, dotted key (apiKey nested or flat is "apikey")
        "securitytoken",  # Gravitee: the API key of API_KEY plans
        "api_key",  # Tyk (also a query name)
    }
)
"""JSON keys (lower-case) whose string values are credentials."""
PATH_NAMES = frozenset({("authenticated_entity", "id")})
"""(parent key, key) pairs whose values are credentials: Kong's credential id."""
NOT_CREDENTIALS = frozenset({"", "-", "REDACTED", "00000000", "--"})
"""Values that hold no credential: unknown, redacted, Tyk's "no key" markers."""

NAME_STEMS = (
    b"key",
    b"auth",
    b"token",
    b"cookie",
    b"secret",
    b"passw",
    b"sig",
    b"code",
    b"credential",
)
"""Every name above contains one of these (tested): a line without any is left as it is."""

_GZIP_MAGIC = b"\x1f\x8b"
_BASE64_GZIP_MAGIC = b"H4sI"
_MAX_INFLATED = 64 << 20
_WHITESPACE = b" \t\r\n"
_JSON_START = (ord("{"), ord("["))
_TARGET = re.compile(r"(?:[A-Z]{3,10} )?(?:/|[A-Za-z][A-Za-z0-9+.-]*://)")
_RAW_HTTP = frozenset({"raw_request", "raw_response"})  # Tyk detailed recording, base64
_OTHER, _CREDENTIAL, _ID, _RAW, _TAGS = range(5)  # what a JSON key's value is
_MAX_KEYS = 4096


def _trie(names: frozenset[str]) -> str:
    """A regex matching exactly `names`, longest first."""
    return "(?:" + "|".join(re.escape(n) for n in sorted(names, key=lambda n: (-len(n), n))) + ")"


_I = re.IGNORECASE
_PAIR = re.compile(
    rf"""(?P<key>(?<![\w.%+-]){_trie(QUERY_NAMES | HEADER_NAMES)}=)"""
    r"""(?P<val>"(?:[^"\\]|\\.)*"|[^&\s"'#;\\]*)""",
    _I,
)
_QUERY_PAIR = re.compile(
    rf"(?P<key>(?:^|(?<=[&;])){_trie(QUERY_NAMES | HEADER_NAMES)}=)(?P<val>[^&#;\s]*)", _I
)
_HEADER_LINE = re.compile(
    rf"""(?P<key>(?<![\w"'-]){_trie(HEADER_NAMES)}[ \t]*:[ \t]*)(?P<val>[^\r\n"]*)""", _I
)
_STRING = r'"(?:[^"\\\r\n]|\\.)*"'
_JSON_PAIR = re.compile(
    rf"""(?P<key>"{_trie(JSON_NAMES)}"\s*:\s*)(?P<val>{_STRING}|\[\s*{_STRING}(?:\s*,\s*{_STRING})*\s*\])""",
    _I,
)
_JSON_ENTITY = re.compile(
    rf"""(?P<key>"authenticated_entity"\s*:\s*\{{[^{{}}]*?"id"\s*:\s*)(?P<val>{_STRING})""", _I
)
_JSON_STRING = re.compile(_STRING)


class CredentialScrubber:
    """Replaces clear credentials in log lines with `hash:<hasher(value)>`."""

    def __init__(self, hasher: Callable[[str], str]) -> None:
        """`hasher` is the pipeline's `CredentialHasher` (the key the worker uses)."""
        self._hasher = hasher
        self._kinds: dict[str, int] = {}

    def scrub(self, line: bytes) -> bytes:
        """`line` with every credential hashed; the same object when it holds none."""
        body = line.strip(_WHITESPACE)
        if body.startswith((_GZIP_MAGIC, _BASE64_GZIP_MAGIC)):
            packed = self._packed(body)
            if packed is not None:
                return packed if packed is not body else line
        if not _maybe_credential(line):
            return line
        try:
            if body and body[0] in _JSON_START:
                scrubbed = self._json(body)
                if scrubbed is not None:
                    if scrubbed is body:
                        return line
                    start = len(line) - len(line.lstrip(_WHITESPACE))
                    return line[:start] + scrubbed + line[start + len(body) :]
            return self._text(line)
        except RecursionError:  # absurdly deep JSON: the text forms still apply
            return self._text(line)

    # --- JSON ----------------------------------------------------------------------

    def _json(self, body: bytes | str) -> bytes | None:
        """Scrubbed JSON (`body` itself if unchanged), or None if `body` is not JSON."""
        try:
            decoded = msgspec.json.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return None
        if self._value(decoded, ""):
            return msgspec.json.encode(decoded)
        return body if isinstance(body, bytes) else None

    def _value(self, node: Any, parent: str) -> bool:
        """Scrub a decoded dict or list in place; True if anything changed."""
        changed = False
        if type(node) is dict:
            kinds = self._kinds
            for key, value in node.items():
                kind = kinds.get(key)
                if kind is None:
                    kind = self._kind(key)
                vtype = type(value)
                if vtype is str:
                    if not value:
                        continue
                    if kind == _CREDENTIAL or (kind == _ID and parent == "authenticated_entity"):
                        new = self._credential(value)
                    elif kind == _RAW:
                        new = self._raw_http(value)
                    elif value[0] in "{[" or "?" in value:
                        new = self._string(value)
                    else:
                        continue
                    if new is not value:
                        node[key] = new
                        changed = True
                elif vtype is list:
                    if kind == _CREDENTIAL:
                        changed |= self._credentials(value, key.lower())
                    elif kind == _TAGS:
                        changed |= self._tags(value)
                    else:
                        changed |= self._value(value, key.lower())
                elif vtype is dict:
                    changed |= self._value(value, key.lower())
        elif type(node) is list:
            for i, value in enumerate(node):
                vtype = type(value)
                if vtype is dict or vtype is list:
                    changed |= self._value(value, parent)
                elif vtype is str and value and (value[0] in "{[" or "?" in value):
                    new = self._string(value)
                    if new is not value:
                        node[i] = new
                        changed = True
        return changed

    def _kind(self, key: str) -> int:
        """What a JSON key's value is to the scrubber (remembered: keys repeat)."""
        name = key.lower()
        if name in JSON_NAMES:
            kind = _CREDENTIAL
        elif name in _RAW_HTTP:
            kind = _RAW
        elif name == "tags":
            kind = _TAGS
        elif name == "id":
            kind = _ID
        else:
            kind = _OTHER
        if len(self._kinds) >= _MAX_KEYS:
            self._kinds.clear()
        self._kinds[key] = kind
        return kind

    def _credentials(self, values: list[Any], parent: str) -> bool:
        """The strings of a repeated header or argument, each hashed."""
        changed = False
        for i, value in enumerate(values):
            if type(value) is dict or type(value) is list:
                changed |= self._value(value, parent)
            elif type(value) is str:
                new = self._credential(value)
                if new is not value:
                    values[i] = new
                    changed = True
        return changed

    def _tags(self, tags: list[Any]) -> bool:
        """Tyk's `key-<key>` tags: the key hashed (other tags kept)."""
        changed = False
        for i, tag in enumerate(tags):
            if type(tag) is str and tag.startswith("key-") and len(tag) > 4:
                new = self._credential(tag[4:])
                if new is not tag[4:]:
                    tags[i] = "key-" + new
                    changed = True
        return changed

    def _string(self, value: str) -> str:
        """A string value that is not a credential: nested JSON, or a URL's query string."""
        first = value[0]
        if first == "{" or first == "[":
            scrubbed = self._json(value)
            return scrubbed.decode() if isinstance(scrubbed, bytes) else value
        if "?" in value and _TARGET.match(value):
            return self._query(value)
        return value

    def _query(self, target: str) -> str:
        """A request target or URL with the credentials of its query string hashed."""
        head, _, rest = target.partition("?")
        query, hash_mark, fragment = rest.partition("#")
        scrubbed = _QUERY_PAIR.sub(self._replace_pair, query)
        if scrubbed == query:
            return target
        return f"{head}?{scrubbed}{hash_mark}{fragment}"

    def _raw_http(self, value: str) -> str:
        """Tyk's base64 raw HTTP request/response, with its header lines and query hashed."""
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return self._string(value)
        scrubbed = self._text(raw)
        return value if scrubbed is raw else base64.b64encode(scrubbed).decode()

    # --- text ----------------------------------------------------------------------

    def _text(self, line: bytes) -> bytes:
        """The text forms: `name=value`, `Name: value`, `"name": "value"` pairs."""
        text = line.decode("utf-8", "surrogateescape")
        scrubbed = _JSON_ENTITY.sub(self._replace_json, text)
        scrubbed = _JSON_PAIR.sub(self._replace_json, scrubbed)
        scrubbed = _HEADER_LINE.sub(self._replace_header, scrubbed)
        scrubbed = _PAIR.sub(self._replace_pair, scrubbed)
        if scrubbed == text:
            return line
        return scrubbed.encode("utf-8", "surrogateescape")

    def _replace_pair(self, m: re.Match[str]) -> str:
        raw = m["val"]
        if raw.startswith('"'):
            value = _go_unquoted(raw)
            if value is None:
                return m[0]
        else:
            value = raw
        new = self._credential(value)
        return m[0] if new is value else m["key"] + new

    def _replace_header(self, m: re.Match[str]) -> str:
        value = m["val"].rstrip(" \t")
        new = self._credential(value)
        if new is value:
            return m[0]
        return m["key"] + new + m["val"][len(value) :]

    def _replace_json(self, m: re.Match[str]) -> str:
        raw = m["val"]
        strings = _JSON_STRING.findall(raw) if raw.startswith("[") else [raw]
        out = raw
        for quoted in strings:
            try:
                value = json.loads(quoted)
            except ValueError:
                continue
            new = self._credential(value)
            if new is not value:
                out = out.replace(quoted, json.dumps(new), 1)
        return m["key"] + out

    # --- one value -----------------------------------------------------------------

    def _credential(self, value: str) -> str:
        """`hash:<hex>` of a clear credential; `value` itself if it holds none."""
        if value in NOT_CREDENTIALS or is_hashed(value):
            return value
        try:
            return HASHED_PREFIX + self._hasher(value)
        except UnicodeEncodeError:  # undecodable bytes (text forms): as parsers read them
            repaired = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            return HASHED_PREFIX + self._hasher(repaired)

    def _packed(self, body: bytes) -> bytes | None:
        """A gzip (or base64 gzip) payload scrubbed and packed again (`body` if unchanged);
        None if it does not inflate."""
        encoded = body.startswith(_BASE64_GZIP_MAGIC)
        try:
            packed = base64.b64decode(body, validate=True) if encoded else body
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            payload = inflater.decompress(packed, _MAX_INFLATED)
        except (binascii.Error, ValueError, zlib.error):
            return None
        if inflater.unconsumed_tail or not inflater.eof:
            return None
        scrubbed = self.scrub(payload)
        if scrubbed is payload:
            return body
        packed = gzip.compress(scrubbed, mtime=0)
        return base64.b64encode(packed) if encoded else packed


def _maybe_credential(line: bytes) -> bool:
    """Whether a credential name may occur in `line` (case-insensitive; a JSON "\\u" escape
    may spell one too)."""
    lower = line.lower()
    return any(stem in lower for stem in NAME_STEMS) or b"\\u" in line


def _go_unquoted(raw: str) -> str | None:
    """A logrus (Go-quoted) value as the Tyk parser reads it; None if it is not one."""
    from processors.parsers import logrus_text  # rare: only quoted credential values

    try:
        raw_bytes = raw.encode("utf-8", "surrogateescape")
        return logrus_text.fields(b"k=" + raw_bytes).get("k")
    except (logrus_text.NotLogrusText, UnicodeEncodeError):
        return None
