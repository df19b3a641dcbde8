from __future__ import annotations

import hashlib
import ipaddress
from urllib.parse import unquote_plus

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from processors.enrichment.privacy import (
    DEFAULT_DROPPED_HEADERS,
    DEFAULT_DROPPED_QUERY,
    PrivacyRules,
    protect_ip,
)


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


RULES = PrivacyRules()


@pytest.mark.parametrize(
    ("ip", "truncated"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("81.2.69.160", "81.2.69.0"),
        ("10.1.2.3", "10.1.2.0"),
        ("2001:db8:1:2::5", "2001:db8:1::"),
        ("2a00:1450:4001:82f::200e", "2a00:1450:4001::"),
        ("::ffff:203.0.113.77", "203.0.113.0"),  # IPv4-mapped: truncated as IPv4
        ("fe80::1%eth0", "fe80::"),
        ("::1", "::"),
        ("not an ip", ""),
        ("203.0.113.77:443", ""),
        ("", ""),
    ],
)
def test_truncate(ip, truncated):
    assert protect_ip(ip, "truncate", sha) == truncated


def test_hash_uses_the_canonical_address():
    expected = "h:" + sha("2001:db8::1")[:16]
    assert protect_ip("2001:db8::1", "hash", sha) == expected
    assert protect_ip("2001:DB8:0:0::1", "hash", sha) == expected
    assert protect_ip("::ffff:203.0.113.77", "hash", sha) == "h:" + sha("203.0.113.77")[:16]
    assert protect_ip("203.0.113.77", "hash", sha) == "h:" + sha("203.0.113.77")[:16]
    assert protect_ip("nope", "hash", sha) == ""


def test_keep_and_drop():
    assert protect_ip("203.0.113.77", "keep", sha) == "203.0.113.77"
    assert protect_ip("nope", "keep", sha) == "nope"
    assert protect_ip("203.0.113.77", "drop", sha) == ""


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="unknown IP mode 'mask': use one of keep, truncate"):
        protect_ip("203.0.113.77", "mask", sha)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown IP mode 'mask'"):
        PrivacyRules.from_config("mask")


def test_defaults_and_operator_additions():
    rules = PrivacyRules.from_config("hash", [" X-Tenant-Secret ", ""], ["Session"])
    assert rules.ip_mode == "hash"
    assert rules.dropped_headers == DEFAULT_DROPPED_HEADERS | {"x-tenant-secret"}
    assert rules.dropped_query == DEFAULT_DROPPED_QUERY | {"session"}
    assert rules.query("session=s1&page=2") == "page=2"
    assert rules.headers({"X-Tenant-Secret": "t", "host": "h"}) == {"host": "h"}
    assert rules.redact("X-Tenant-Secret: abc") == "X-Tenant-Secret: [redacted]"
    assert PrivacyRules() == PrivacyRules.from_config()
    nothing = PrivacyRules(dropped_headers=frozenset(), dropped_query=frozenset())
    assert nothing.redact('{"apikey": "k"} token=t') == '{"apikey": "k"} token=t'
    assert RULES.ip_mode == "truncate"


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("api_key=s3cr3t&page=2", "page=2"),
        ("page=2&API_KEY=s3cr3t&sort=-created", "page=2&sort=-created"),
        ("q=caf%C3%A9+au+lait&token=abc&limit=10", "q=caf%C3%A9+au+lait&limit=10"),
        ("api%5Fkey=s3cr3t&x=1", "x=1"),  # names compare percent-decoded
        (
            "X-Amz-Credential=AKIA%2F20240101&X-Amz-Signature=ab12&X-Amz-Date=20240101",
            "X-Amz-Date=20240101",
        ),
        ("code=4%2F0AY0e&state=xyz", "state=xyz"),
        ("access_token", ""),  # a bare name is dropped too
        ("a=1&&b=2", "a=1&&b=2"),
        ("keyword=shoes&monkey=1", "keyword=shoes&monkey=1"),
        ("", ""),
    ],
)
def test_query_drops_listed_parameters_keeping_order_and_encoding(query, kept):
    assert RULES.query(query) == kept


def test_headers_drop_listed_names_case_insensitively():
    headers = {
        "authorization": "Bearer eyJhbGciOi",
        "Cookie": "session=abc",
        "x-api-key": "k-123",
        "apikey": "kong-key",
        "ocp-apim-subscription-key": "azure",
        "user-agent": "curl/8.5.0",
        "x-request-id": "r-1",
    }
    assert RULES.headers(headers) == {"user-agent": "curl/8.5.0", "x-request-id": "r-1"}
    assert RULES.headers({}) == {}


@pytest.mark.parametrize(
    ("record", "redacted"),
    [
        ('{"apikey": "k-123", "x": 1}', '{"apikey": "[redacted]", "x": 1}'),
        (
            '{"Authorization":"Bearer eyJhbGciOi","host":"h"}',
            '{"Authorization":"[redacted]","host":"h"}',
        ),
        ("{'password': 'hunter2', 'user': 'bob'}", "{'password': '[redacted]', 'user': 'bob'}"),
        (
            '{"request":{"headers":{"authorization":["Bearer a","Bearer b"],"host":"x"},'
            '"querystring":{"token":"t1"}}}',
            '{"request":{"headers":{"authorization":"[redacted]","host":"x"},'
            '"querystring":{"token":"[redacted]"}}}',
        ),
        ('{"key": 12345, "n": 2}', '{"key": "[redacted]", "n": 2}'),
        ('{"apikey": "cut off by trunc', '{"apikey": "[redacted]"'),
        (
            '{"message": "{\\"apikey\\": \\"k-123\\", \\"x\\": 1}"}',
            '{"message": "{\\"apikey\\": \\"[redacted]\\", \\"x\\": 1}"}',
        ),
        (
            '{"http_x_api_key": "k-1", "http_authorization": "Basic dXNlcjpwYXNz"}',
            '{"http_x_api_key": "[redacted]", "http_authorization": "[redacted]"}',
        ),
        (
            "GET /v1/orders?api_key=k-123&x=1 HTTP/1.1",
            "GET /v1/orders?api_key=[redacted]&x=1 HTTP/1.1",
        ),
        (
            '203.0.113.7 - - "GET /a?monkey=1&KEY=k-1#f HTTP/1.1" 200',
            '203.0.113.7 - - "GET /a?monkey=1&KEY=[redacted]#f HTTP/1.1" 200',
        ),
        ('{"uri": "/pay?sig=abc", "ok": 1}', '{"uri": "/pay?sig=[redacted]", "ok": 1}'),
        ("Authorization: Bearer eyJhbGciOi\r\nHost: api", "Authorization: [redacted]\r\nHost: api"),
        ("host: api\ncookie: a=1; b=2\n", "host: api\ncookie: [redacted]\n"),
        ('["Authorization: Bearer v1", "Host: y"]', '["Authorization: [redacted]", "Host: y"]'),
        ('{"keyword": "shoes", "x-api-keys": 3}', '{"keyword": "shoes", "x-api-keys": 3}'),
        ("nothing to hide", "nothing to hide"),
        ("", ""),
    ],
)
def test_redact(record, redacted):
    assert RULES.redact(record) == redacted


# Property tests: the secret is "S3CR3T…", the surrounding text never holds an "S", so
# any "S3CR3T" in the output is a leak.
SECRET = st.text("abcdefghijklmnopqrstuvwxyz0123456789_-.~", max_size=30).map(
    lambda s: "S3CR3T" + s
)
NOISE = st.text(st.characters(blacklist_characters="S"), max_size=40)


def spelled(names: frozenset[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(names)).flatmap(
        lambda n: st.sampled_from([n, n.upper(), n.title()])
    )


NAME = spelled(DEFAULT_DROPPED_HEADERS | DEFAULT_DROPPED_QUERY)


def json_form(name: str, secret: str, quote: str) -> str:
    return f"{quote}{name}{quote}: {quote}{secret}{quote}"


FORMS = st.one_of(
    st.builds(json_form, NAME, SECRET, st.sampled_from(['"', "'"])),
    st.builds(lambda n, s: f'"{n}":{s}', NAME, SECRET),
    st.builds(lambda n, s: f'"{n}": ["Bearer {s}", "x"]', NAME, SECRET),
    st.builds(lambda n, s: f'\\"{n}\\": \\"{s}\\"', NAME, SECRET),
    st.builds(lambda sep, n, s: f"{sep}{n}={s}", st.sampled_from("?& \"'"), NAME, SECRET),
    st.builds(lambda n, s: f"\n{n}: Bearer {s}", NAME, SECRET),
    st.builds(lambda n, s: f'"{n}: {s}"', NAME, SECRET),
)


@given(NOISE, FORMS, NOISE)
@example('{"token":', "\nAuthorization: Bearer S3CR3T", "}")  # header lines must go first
@settings(max_examples=1500, deadline=None)
def test_redact_never_leaves_a_dropped_value(before, form, after):
    assert "S3CR3T" not in RULES.redact(before + form + after)


@given(st.text(max_size=200))
@settings(max_examples=500, deadline=None)
def test_redact_never_raises(record):
    assert isinstance(RULES.redact(record), str)


@given(
    st.lists(NOISE.map(lambda s: s.replace("&", "")), max_size=6),
    st.lists(st.tuples(spelled(DEFAULT_DROPPED_QUERY), SECRET), min_size=1, max_size=3),
    st.randoms(),
)
@settings(max_examples=500, deadline=None)
def test_query_never_leaves_a_dropped_value(kept, dropped, rnd):
    params = kept + [f"{n}={s}" for n, s in dropped]
    rnd.shuffle(params)
    out = RULES.query("&".join(params))
    assert "S3CR3T" not in out
    for param in kept:  # what is not a dropped name stays, unchanged
        if unquote_plus(param.partition("=")[0]).strip().lower() not in DEFAULT_DROPPED_QUERY:
            assert param in out.split("&")


@given(
    st.dictionaries(st.text(max_size=20), st.text(max_size=20), max_size=8),
    st.dictionaries(spelled(DEFAULT_DROPPED_HEADERS), SECRET, max_size=4),
)
@settings(max_examples=300, deadline=None)
def test_headers_never_leave_a_dropped_value(other, dropped):
    kept = {k: v for k, v in other.items() if k.lower() not in DEFAULT_DROPPED_HEADERS}
    out = RULES.headers({**kept, **dropped})
    assert out == kept


@given(st.text(max_size=60) | st.ip_addresses().map(str))
@settings(max_examples=500, deadline=None)
def test_protect_ip_never_raises_and_masks(ip):
    assert protect_ip(ip, "drop", sha) == ""
    hashed = protect_ip(ip, "hash", sha)
    assert hashed == "" or (hashed.startswith("h:") and len(hashed) == 18)
    truncated = protect_ip(ip, "truncate", sha)
    if truncated:
        network = ipaddress.ip_address(truncated)
        prefix = 24 if network.version == 4 else 48
        assert ipaddress.ip_network(f"{network}/{prefix}").network_address == network
