"""The keyed hash of credentials, shared by the parsers (worker) and the shippers (ingest).

`CredentialHasher(secret)(credential)` is the first 32 hex digits of HMAC-SHA256(secret,
credential): the only form in which a credential is stored or sent on.

Two places hash with the same key (`APIM_SECURITY_HASH_SECRET`, else the data dir's
secret, see `apim.stack.hash_secret`):
- the shippers (`ingest.scrub`), before a line reaches Kafka, replace a clear credential
  with `hash:<hasher(credential)>`, so that the raw topic holds no clear key;
- the parsers then read that text where the clear credential was, and hash it again.

So a value of the exact form `hash:<32 lower-case hex>` is taken as already hashed: its hex
is returned unchanged, and parse(scrub(line)) gives the same `credential_hash` (and so the
same consumer) as parse(line). A client could send such a value itself (an APISIX or Tyk
key that the gateway then refuses, say): it is then hashed as the text it claims to be the
hash of, which only ever names a credential hash the client already knows.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from functools import lru_cache

CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "apikey",  # Kong and APISIX key-auth
        "api-key",
        "x-api-key",  # AWS API Gateway and many others
        "x-auth-token",
        "x-access-token",
        "x-amz-security-token",
        "x-goog-api-key",
        "ocp-apim-subscription-key",  # Azure API Management
        "x-gravitee-api-key",
        "x-csrf-token",
        "x-xsrf-token",
    }
)
CREDENTIAL_QUERY = frozenset(
    {
        "api_key",
        "apikey",
        "api-key",
        "key",
        "token",
        "access_token",
        "refresh_token",
        "oauth_token",
        "id_token",
        "client_secret",
        "password",
        "secret",
        "sig",
        "signature",
        "code",  # OAuth authorization codes
        "subscription-key",  # Azure API Management
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
    }
)
"""Request headers (lower-case) and query parameters that carry credentials: the shippers
hash their values, the privacy rules drop them before anything is stored."""

HASHED_PREFIX = "hash:"
"""What a shipper writes before the hex of a credential it hashed."""
_HASHED = re.compile(r"hash:[0-9a-f]{32}", re.ASCII)


def is_hashed(value: str) -> bool:
    """True for `hash:<32 lower-case hex>`: a credential a shipper already hashed."""
    return (
        len(value) == 37
        and value.startswith(HASHED_PREFIX)
        and _HASHED.fullmatch(value) is not None
    )


class CredentialHasher:
    """Keyed hash for credentials, so the clear value is never stored or sent on."""

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("the credential hash secret must not be empty")
        self._secret = secret
        self._cached = lru_cache(maxsize=65536)(self._hash)  # credentials repeat a lot

    def __call__(self, credential: str) -> str:
        """32 hex digits; `hash:<32 hex>` (hashed by a shipper with this key) gives its hex."""
        if is_hashed(credential):
            return credential[len(HASHED_PREFIX) :]
        return self._cached(credential)

    def hashed(self, credential: str) -> str:
        """The text a shipper writes in place of `credential`: `hash:<32 hex>`."""
        if is_hashed(credential):
            return credential
        return HASHED_PREFIX + self._cached(credential)

    def _hash(self, credential: str) -> str:
        digest = hmac.new(self._secret, credential.encode(), hashlib.sha256)
        return digest.hexdigest()[:32]
