from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.enrichment.clients import MAX_NAME, Client, client_of, country_of

ANDROID_OKHTTP = "Dalvik/2.1.0 (Linux; U; Android 13; SM-S911B Build/TP1A.220624.014) okhttp/4.9.3"
IOS_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
AWS_SDK_JAVA = (
    "aws-sdk-java/2.25.11 Linux/5.10.210-201.852.amzn2.x86_64 "
    "OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. "
    "io/sync http/Apache cfg/retry-mode/legacy"
)
BOTO3 = (
    "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.1 md/arch#x86_64 "
    "lang/python#3.11.6 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.0"
)


@pytest.mark.parametrize(
    ("user_agent", "client"),
    [
        (ANDROID_OKHTTP, Client("okhttp", "okhttp 4", "Android")),
        ("okhttp/4.12.0", Client("okhttp", "okhttp 4", "")),
        (IOS_SAFARI, Client("Mobile Safari", "", "iOS")),
        (WINDOWS_CHROME, Client("Chrome", "", "Windows")),
        ("python-requests/2.31.0", Client("Python Requests", "python-requests 2", "")),
        ("curl/8.5.0", Client("curl", "curl 8", "")),
        (AWS_SDK_JAVA, Client("aws-sdk-java", "aws-sdk-java 2", "Linux")),
        (BOTO3, Client("Boto3", "Boto3 1", "Linux")),
        (
            "Stripe/v1 PythonBindings/7.10.0",
            Client("Stripe", "Stripe PythonBindings 7", ""),
        ),
        ("PostmanRuntime/7.37.3", Client("PostmanRuntime", "PostmanRuntime 7", "")),
        ("Go-http-client/1.1", Client("Go-http-client", "Go-http-client 1", "")),
        ("Go-http-client/2.0", Client("Go-http-client", "Go-http-client 2", "")),
        ("axios/1.6.8", Client("axios", "axios 1", "")),
        ("Python/3.11 aiohttp/3.9.1", Client("Python aiohttp", "aiohttp 3", "")),
        (
            # the Java inside the comment is not the SDK: the first token outside is
            "Apache-HttpClient/4.5.14 (Java/17.0.10)",
            Client("Apache-HttpClient", "Apache-HttpClient 4", ""),
        ),
        (
            "azsdk-python-storage-blob/12.19.0 Python/3.11.4 (Linux-6.1-x86_64-with-glibc2.36)",
            Client("azsdk-python-storage-blob", "azsdk-python-storage-blob 12", "Linux"),
        ),
        (
            # a custom iOS app: ua-parser knows the OS, the family is the app's name
            "ShopApp/3.2 CFNetwork/1494.0.7 Darwin/23.4.0",
            Client("ShopApp", "", "iOS"),
        ),
        (
            "Twilio-python/8.0 (Linux x86_64) Python/3.11",
            Client("Twilio-python", "Twilio-python 8", "Linux"),
        ),
        ("okhttp", Client("okhttp", "okhttp", "")),
        ("weird", Client("weird", "", "")),
        ("(only a comment)", Client("", "", "")),
        ("", Client("", "", "")),
        ("   ", Client("", "", "")),
    ],
)
def test_client_of_real_user_agents(user_agent, client):
    assert client_of(user_agent) == client


def test_names_from_the_user_agent_are_cut():
    assert client_of("x" * 500 + "/1.0").family == "x" * MAX_NAME
    assert client_of("aws-sdk-" + "y" * 500 + "/2.1").sdk == "aws-sdk-" + "y" * 56 + " 2"


def test_client_of_is_cached_and_bounded():
    assert client_of(IOS_SAFARI) is client_of(IOS_SAFARI)
    assert client_of.cache_info().maxsize == 4096


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_client_of_never_raises_and_names_stay_short(user_agent):
    client = client_of(user_agent)
    assert len(client.family) <= MAX_NAME
    assert len(client.os) <= MAX_NAME
    assert len(client.sdk) <= 2 * MAX_NAME + 1  # "<name> <major>", each cut


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("8.8.8.8", "US"),
        ("81.2.69.160", "GB"),
        ("1.1.1.1", "AU"),
        ("193.0.6.139", "NL"),
        ("200.3.12.1", "UY"),
        ("196.216.2.1", "ZA"),
        ("2001:4860:4860::8888", "US"),
        ("2a00:1450:4001::1", "IE"),
        ("2001:67c:2e8::1", "NL"),
        ("::ffff:81.2.69.160", "GB"),  # IPv4-mapped: the IPv4 address's country
        ("10.0.0.1", ""),
        ("172.16.5.4", ""),
        ("192.168.1.1", ""),
        ("100.64.0.1", ""),  # carrier-grade NAT
        ("127.0.0.1", ""),
        ("::1", ""),
        ("169.254.1.1", ""),
        ("fe80::1%eth0", ""),
        ("fd12:3456:789a::1", ""),
        ("192.0.2.1", ""),  # documentation ranges
        ("198.51.100.7", ""),
        ("203.0.113.9", ""),
        ("2001:db8::1", ""),
        ("224.0.0.1", ""),  # multicast
        ("ff02::1", ""),
        ("0.0.0.0", ""),
        ("255.255.255.255", ""),
        ("240.0.0.1", ""),
        ("garbage", ""),
        ("", ""),
        ("8.8.8.8:53", ""),  # the parsers strip ports; anything else is not an IP
        ("[2001:4860:4860::8888]", ""),
        ("08.8.8.8", ""),
    ],
)
def test_country_of(ip, country):
    assert country_of(ip) == country


@given(st.text(max_size=60) | st.ip_addresses().map(str))
@settings(max_examples=500, deadline=None)
def test_country_of_never_raises(ip):
    country = country_of(ip)
    assert country == "" or (len(country) == 2 and country.isupper())
