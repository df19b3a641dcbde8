"""Endpoint templates: fold the variable parts of a path so endpoint cardinality stays bounded.

`/v2/orders/8842/items` → `/v2/orders/{id}/items`. Numbers, UUIDs, long hex hashes, dates,
prefixed ids (`ord_123`, `cus_NffrFeUfNV2Hib`) and long opaque tokens become `{id}`; version
segments such as `v2` and words stay. A camelCase word of 20 or more characters folds too (it
cannot be told from a token); an OpenAPI document in the catalog keeps it. This is the fallback
used when no OpenAPI document describes the API.
"""

from __future__ import annotations

import re
from functools import lru_cache

_ID_SEGMENT = re.compile(
    r"""^(?:
        \d+(?:\.\d+)?                                   # 8842, 3.5
      | [0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}  # UUID
      | [0-9a-fA-F]{16,}                                # hashes
      | \d{4}-\d{2}-\d{2}(?:T[0-9:.]+Z?)?               # dates
      | [A-Za-z]{1,8}[_-]?\d{3,}[A-Za-z0-9]*            # ord_12345, usr-8842
      | [A-Za-z]{1,8}_[A-Za-z0-9]{10,}                  # cus_NffrFeUfNV2Hib (Stripe-style)
      | (?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{16,}          # opaque tokens with a digit
      | (?=[^/]*[a-z])(?=[^/]*[A-Z])[A-Za-z0-9_-]{20,}   # mixed-case tokens (base62, base64url)
      | [^/]*[@:][^/]*                                  # e-mails, ports, urns
    )$""",
    re.VERBOSE,
)
MAX_SEGMENTS = 8
MAX_SEGMENT_LENGTH = 64


@lru_cache(maxsize=65536)
def endpoint_of(path: str) -> str:
    """The templated form of `path` (no query string)."""
    segments = path.split("/")
    folded = [_fold(s) for s in segments[: MAX_SEGMENTS + 1]]
    if len(segments) > MAX_SEGMENTS + 1:
        folded.append("…")
    return "/".join(folded) or "/"


def _fold(segment: str) -> str:
    if not segment:
        return segment
    if len(segment) > MAX_SEGMENT_LENGTH or _ID_SEGMENT.match(segment):
        return "{id}"
    return segment
