"""Who calls from where: client family, OS and SDK from the User-Agent, country from the IP.

`client_of` asks ua-parser (the uap-core regexes) for the user agent and OS families. When
ua-parser does not know the agent ("Other"), the family is the UA's first product token name
("Stripe/v1 PythonBindings/7.10.0" -> "Stripe"), so custom apps still group by name.

The SDK is the first product token (left to right, outside parenthesised comments) that
names an HTTP library or an API SDK, as "<name> <major>" with the name spelled as in the UA
("okhttp/4.9.3" -> "okhttp 4"); a token without a numeric version gives the name alone.
Names are matched case-insensitively against:

- HTTP libraries and tools: okhttp, python-requests, python-httpx, python-urllib,
  python-urllib3, aiohttp, HTTPie, axios, node-fetch, undici, got, superagent, Dart,
  Go-http-client, go-resty, curl, Wget, PostmanRuntime, insomnia, Apache-HttpClient, Java
  (HttpURLConnection), Java-http-client, ReactorNetty, Alamofire, GuzzleHttp, RestSharp,
  rest-client, hackney;
- API SDKs: any token starting with aws-sdk- or azsdk-, aws-cli, Boto3, Botocore,
  google-api-python-client, google-api-java-client, gcloud-python, Twilio-*, octokit-*,
  PyGithub, OpenAI;
- vendor SDKs named by two tokens: "Stripe/v1 PythonBindings/7.10.0" -> "Stripe
  PythonBindings 7" (a token ending in "Bindings" right after "Stripe").

Browsers and OS networking stacks (CFNetwork, Dalvik) are not SDKs: the family and OS say
enough. `country_of` maps an address with iptocc's offline RIR data; addresses that are
not globally routable (private, loopback, link-local, documentation, shared, reserved,
multicast) never reach it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import iptocc
from ua_parser import BestAvailableResolver, Domain, Parser, load_lazy_builtins

_SDK_NAMES = frozenset(
    {
        "okhttp",
        "python-requests",
        "python-httpx",
        "python-urllib",
        "python-urllib3",
        "aiohttp",
        "httpie",
        "axios",
        "node-fetch",
        "undici",
        "got",
        "superagent",
        "dart",
        "go-http-client",
        "go-resty",
        "curl",
        "wget",
        "postmanruntime",
        "insomnia",
        "apache-httpclient",
        "java",
        "java-http-client",
        "reactornetty",
        "alamofire",
        "guzzlehttp",
        "restsharp",
        "rest-client",
        "hackney",
        "aws-cli",
        "boto3",
        "botocore",
        "google-api-python-client",
        "google-api-java-client",
        "gcloud-python",
        "pygithub",
        "openai",
    }
)
_SDK_PREFIXES = ("aws-sdk-", "azsdk-", "twilio-", "octokit-")
_VENDOR_SDKS = {"stripe": "bindings"}  # vendor token -> suffix of the SDK token after it
MAX_NAME = 64  # names come from client-chosen text: keep them short

# Product tokens "name/version" (names use RFC 9110 token chars) and "(comments)".
_TOKEN = re.compile(r"([A-Za-z0-9!#$%&'*+.^_`|~-]+)(?:/([^\s()]*))?")
_COMMENT = re.compile(r"\([^()]*\)")
_MAJOR = re.compile(r"[vV]?(\d+)")
# Our lru_cache is the cache: ua-parser's default parser would add a second one.
_PARSER = Parser(BestAvailableResolver(load_lazy_builtins()))


@dataclass(frozen=True, slots=True)
class Client:
    family: str
    """ua-parser's user agent family, else the first product token name; "" for no UA."""
    sdk: str
    """"<name> <major>" of the HTTP library or API SDK the UA names, else ""."""
    os: str
    """ua-parser's OS family, "" when it does not know it."""


@lru_cache(maxsize=4096)
def client_of(user_agent: str) -> Client:
    """The client a User-Agent header describes."""
    if not user_agent.strip():
        return Client("", "", "")
    products = _products(user_agent)
    parsed = _PARSER(user_agent, Domain.USER_AGENT | Domain.OS)
    if parsed.user_agent is not None:
        family = parsed.user_agent.family
    else:
        family = products[0][0] if products else ""
    os = parsed.os.family if parsed.os is not None else ""
    return Client(family[:MAX_NAME], _sdk(products), os[:MAX_NAME])


def country_of(ip: str) -> str:
    """ISO 3166-1 alpha-2 country of `ip`; "" when invalid, not global, or not in RIR data
    (registries allocate no private, reserved or documentation range, so iptocc answers
    None for those; an IPv4-mapped IPv6 address is looked up as IPv4)."""
    mapped = ip[7:] if ip[:7].lower() == "::ffff:" and "." in ip else ip
    return iptocc.country_code(mapped) or ""


def _products(user_agent: str) -> list[tuple[str, str]]:
    """(name, version) of each product token outside parenthesised comments."""
    while "(" in user_agent:  # innermost comments first, for nested ones
        stripped = _COMMENT.sub(" ", user_agent)
        if stripped == user_agent:  # an unclosed "(": its text counts as tokens
            break
        user_agent = stripped
    return _TOKEN.findall(user_agent)


def _sdk(products: list[tuple[str, str]]) -> str:
    for i, (name, version) in enumerate(products):
        lower = name.lower()
        if lower in _SDK_NAMES or lower.startswith(_SDK_PREFIXES):
            return _named(name, version)
        suffix = _VENDOR_SDKS.get(lower)
        if suffix and i + 1 < len(products) and products[i + 1][0].lower().endswith(suffix):
            sdk_name, sdk_version = products[i + 1]
            return _named(f"{name} {sdk_name}", sdk_version)
    return ""


def _named(name: str, version: str) -> str:
    name = name[:MAX_NAME]
    major = _MAJOR.match(version)
    return f"{name} {major[1][:MAX_NAME]}" if major else name
