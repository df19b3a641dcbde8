from __future__ import annotations

import random
import string
import uuid

import pytest

from processors.normalize import endpoint_of

BASE62 = string.ascii_letters + string.digits


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/v2/orders/8842/items", "/v2/orders/{id}/items"),
        ("/users/3fa85f64-5717-4562-b3fc-2c963f66afa6", "/users/{id}"),
        ("/v1/files/d41d8cd98f00b204e9800998ecf8427e", "/v1/files/{id}"),
        ("/reports/2024-06-10", "/reports/{id}"),
        ("/v1/orders/ord_123456", "/v1/orders/{id}"),
        ("/v1/customers/cus_NffrFeUfNV2Hib", "/v1/customers/{id}"),
        ("/v1/charges/ch_3MmlLrLkdIwHu7ix0snN0B15", "/v1/charges/{id}"),
        ("/t/Zx8kQ2vT9LmN4pR7", "/t/{id}"),
        ("/t/ZxkQvTLmNpRqWeRtYuIoPa", "/t/{id}"),
        ("/v1/users/me", "/v1/users/me"),
        ("/v1/userProfileSettings", "/v1/userProfileSettings"),
        ("/v1/a-long-kebab-case-resource-name", "/v1/a-long-kebab-case-resource-name"),
        ("/v1/order_items", "/v1/order_items"),
        ("/", "/"),
        ("/health", "/health"),
        ("/v3/search", "/v3/search"),
    ],
)
def test_variable_segments_fold_into_id(path, template):
    assert endpoint_of(path) == template


def test_cardinality_stays_bounded_on_random_ids():
    rng = random.Random(3)
    paths = set()
    for _ in range(20_000):
        kind = rng.randrange(5)
        ident = (
            str(rng.randrange(10**9))
            if kind == 0
            else str(uuid.UUID(int=rng.getrandbits(128)))
            if kind == 1
            else f"{rng.getrandbits(128):032x}"
            if kind == 2
            else "cus_" + "".join(rng.choices(BASE62, k=14))
            if kind == 3
            else "".join(rng.choices(BASE62 + "-_", k=22))  # base64url
        )
        paths.add(endpoint_of(f"/v1/customers/{ident}/orders/{rng.randrange(10**6)}"))
    assert paths == {"/v1/customers/{id}/orders/{id}"}


def test_very_deep_paths_are_cut():
    assert endpoint_of("/a" * 50).endswith("/…")
