"""Traefik access-log parser, JSON (v1-v3) and CLF: real-looking lines from tests/data/traefik."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
from parser_samples import HASH, Samples

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers import traefik
from processors.parsers.base import Rejected

TRAEFIK = Samples("traefik", traefik.parse, "traefik.log:9")
V3 = TRAEFIK.lines("v3.ndjson")
V2 = TRAEFIK.lines("v2.ndjson")
V1 = TRAEFIK.lines("v1.ndjson")
CLF = TRAEFIK.lines("clf.log", keepends=True)
NON_UTF8 = TRAEFIK.lines("non_utf8.log", keepends=True)
MALFORMED_CLF = TRAEFIK.lines("malformed_clf.log", keepends=True)
MALFORMED_JSON = TRAEFIK.lines("malformed_json.ndjson")


# --- JSON ------------------------------------------------------------------------------


def test_v3_reference_example_maps_every_field() -> None:
    assert TRAEFIK.event(V3[0]) == AccessEvent(
        event_time=datetime(2024, 6, 10, 9, 45, 45, 678000, tzinfo=UTC),
        gateway="traefik",
        method="GET",
        path="/orders/1234",
        query="expand=items",
        status=200,
        request_id="",
        api="prod-orders-8080@kubernetescrd",
        route="orders@kubernetescrd",
        latency_ms=41.235,  # Duration 41234567 ns
        upstream_latency_ms=38.012,  # OriginDuration 38012345 ns
        gateway_latency_ms=3.222,  # Overhead 3222222 ns
        bytes_in=0,
        bytes_out=1530,
        consumer=ANONYMOUS,  # ClientUsername "-"
        application="",
        credential_hash="",
        client_ip="203.0.113.7",
        user_agent="okhttp/4.12.0",
        source="traefik.log:9",
    )


def test_basic_auth_user_request_id_and_hashed_authorization() -> None:
    event = TRAEFIK.event(V3[1])
    assert event.consumer == "acme-billing"
    assert event.credential_hash == HASH("Basic YWNtZS1iaWxsaW5nOnMzY3IzdC1rZXk=")
    assert event.request_id == "0b9b1d5e-8a54-4c38-a2f4-71f2d1b3a6e1"
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        120.5,
        115.25,
        5.25,
    )
    assert event.event_time == datetime(2024, 6, 10, 9, 45, 46, 500000, tzinfo=UTC)
    assert b"YWNtZS1iaWxsaW5n" not in msgspec.json.encode(event)


def test_answered_by_traefik_itself_has_no_upstream() -> None:
    event = TRAEFIK.event(V3[2])  # no router matched: no Origin* fields, Overhead == Duration
    assert (event.status, event.api, event.route) == (404, "", "")
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        0.033,
        None,
        0.033,
    )
    assert event.client_ip == "::1"


def test_client_host_from_forwarded_for_list() -> None:
    event = TRAEFIK.event(V3[3])
    assert event.client_ip == "175.16.199.10"
    assert event.path == "/api/v1/study/140410210038/card/comment"
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        59.519,
        59.429,
        0.09,
    )


def test_start_local_with_offset_when_start_utc_is_dropped() -> None:
    event = TRAEFIK.event(V3[4])
    assert event.event_time == datetime(2024, 6, 10, 9, 45, 49, 250000, tzinfo=UTC)
    assert (event.method, event.status, event.bytes_out) == ("DELETE", 204, 0)


def test_logger_time_when_start_fields_are_dropped_and_overhead_computed() -> None:
    event = TRAEFIK.event(V3[5])
    assert event.event_time == datetime(2024, 6, 10, 9, 45, 50, tzinfo=UTC)  # whole seconds
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        9.0,
        7.0,
        2.0,  # no Overhead: Duration - OriginDuration
    )
    assert (event.bytes_in, event.user_agent, event.consumer) == (None, "", ANONYMOUS)


def test_nested_routers_redacted_authorization_and_unicode() -> None:
    event = TRAEFIK.event(V3[6])
    assert event.route == "websecure-root@file -> orders@kubernetescrd"
    assert event.credential_hash == ""  # "REDACTED" is not a credential
    assert event.consumer == "jürgen"
    assert event.user_agent == 'Mozilla/5.0 (é中😀) "quoted"'
    assert event.event_time == datetime(2024, 6, 10, 9, 45, 51, 999000, tzinfo=UTC)
    assert event.status == 429


def test_v2_service_url_object_is_ignored() -> None:
    first, second = (TRAEFIK.event(line) for line in V2)
    assert first.event_time == datetime(2024, 2, 2, 17, 7, 8, 48000, tzinfo=UTC)  # StartLocal
    assert (first.api, first.route) == (
        "service-foo-0120101010101@kubernetescrd",
        "service-foo-0101010101010101@kubernetescrd",
    )
    assert first.client_ip == "10.10.10.20"  # no ClientHost: ClientAddr without the port
    assert (first.bytes_in, first.bytes_out, first.status) == (814, 19, 404)
    assert (second.status, second.latency_ms, second.upstream_latency_ms) == (304, 46.382, 46.361)


def test_v1_backend_and_frontend_names() -> None:
    event = TRAEFIK.event(V1[0])
    assert (event.api, event.route) == (
        "backend-backend-docker",
        "Host-backend-docker-docker-localhost-2",
    )
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        3.035,
        2.155,
        0.879,
    )
    assert event.user_agent == "curl/7.64.1"


def test_array_with_one_bad_record_keeps_the_others() -> None:
    first, bad, third = TRAEFIK.results(TRAEFIK.read("batch_one_bad.json"))
    assert isinstance(first, AccessEvent)
    assert (first.source, first.path, first.latency_ms) == (
        "traefik.log:9#0",
        "/orders/1234",
        41.235,
    )
    assert isinstance(bad, Rejected)
    assert bad.reason == "DownstreamStatus: expected int, got str"
    assert msgspec.json.decode(bad.record)["RequestPath"] == "/orders/1235"
    assert isinstance(third, AccessEvent)
    assert (third.source, third.client_ip, third.status) == ("traefik.log:9#2", "2001:db8::7", 204)


MALFORMED_JSON_REASONS = [
    "DownstreamStatus: expected int, got str",
    "DownstreamStatus: 0 not in 100-599",
    "RequestPath: missing required field",
    "Duration: expected int | null, got str",
    "StartUTC: missing required field (and no StartLocal or time)",
    "StartUTC: '0001-01-01T00:00:00Z' is before 1973 or after 2286",  # Go's zero time
    "StartUTC: expected an ISO 8601 time, got '10/Jun/2024:09:46:06 +0000'",
    "DownstreamContentSize: negative (-5)",
    "RequestPath: empty",
    "RequestMethod: empty",
    "RequestMethod: missing required field",  # a Traefik server log line
    "ClientUsername: expected str | null, got int",
    "invalid JSON: Input data was truncated",
    "empty JSON array",
    "record: expected object, got int",
]


@pytest.mark.parametrize(
    ("line", "reason"), list(zip(MALFORMED_JSON, MALFORMED_JSON_REASONS, strict=True))
)
def test_malformed_json_is_rejected(line: bytes, reason: str) -> None:
    record = line if reason != "record: expected object, got int" else b"1"
    assert TRAEFIK.results(line) == [Rejected(reason, record)]


# --- CLF -------------------------------------------------------------------------------


def test_clf_reference_line_maps_every_field() -> None:
    assert TRAEFIK.event(CLF[0]) == AccessEvent(
        event_time=datetime(2024, 6, 10, 9, 45, 45, tzinfo=UTC),
        gateway="traefik",
        method="GET",
        path="/orders/1234",
        query="expand=items",
        status=200,
        request_id="",
        api="",
        route="orders@kubernetescrd",
        latency_ms=41.0,
        upstream_latency_ms=None,
        gateway_latency_ms=None,
        bytes_in=None,
        bytes_out=1530,
        consumer=ANONYMOUS,
        application="",
        credential_hash="",
        client_ip="203.0.113.7",
        user_agent="okhttp/4.12.0",
        source="traefik.log:9",
    )


def test_clf_user_name_and_local_time_offset() -> None:
    event = TRAEFIK.event(CLF[1])
    assert event.consumer == "acme-billing"
    assert event.event_time == datetime(2024, 6, 10, 9, 45, 46, tzinfo=UTC)  # 11:45:46 +0200
    assert (event.method, event.path, event.status, event.bytes_out) == (
        "POST",
        "/v2/payments",
        201,
        88,
    )
    assert (event.latency_ms, event.route) == (120.0, "payments@file")


def test_clf_unquoted_referer_of_older_versions() -> None:
    event = TRAEFIK.event(CLF[2])
    assert (event.status, event.bytes_out, event.latency_ms) == (200, 2814, 247.0)
    assert event.route == "Host-host1-com-0"
    assert event.user_agent.startswith("Mozilla/5.0 (iPhone;")


def test_clf_forwarded_for_list_and_unescaped_quotes() -> None:
    event = TRAEFIK.event(CLF[3])
    assert event.client_ip == "203.0.113.50"
    assert event.user_agent == 'Mozilla/5.0 "quoted" (X11; Linux x86_64)'
    assert (event.path, event.query) == ("/search", "q=%22x%22")


def test_clf_v1_frontend_name() -> None:
    event = TRAEFIK.event(CLF[4])
    assert (event.route, event.status, event.latency_ms, event.client_ip) == (
        "backend not found",
        404,
        0.0,
        "::1",
    )


def test_clf_dash_values() -> None:
    event = TRAEFIK.event(CLF[5])
    assert (event.status, event.bytes_out, event.route, event.user_agent) == (101, None, "", "")
    assert event.latency_ms == 15000.0


def test_clf_raw_non_utf8_bytes() -> None:
    event = TRAEFIK.event(NON_UTF8[0])
    assert event.path == "/café/\ufffd\ufffd"
    assert event.user_agent == "raw-bytes-agent \ufffd\ufffd("


MALFORMED_CLF_REASONS = [
    "OriginStatus: '-', Traefik answered without an upstream",
    "OriginStatus: '0', Traefik answered without an upstream",
    "OriginStatus: 999 not in 100-599",
    "OriginStatus: expected a status code, got 'abc'",
    "OriginContentSize: expected a byte count, got '12k'",
    "Duration: expected '<n>ms', got '41'",
    "Duration: expected '<n>ms', got '1.5ms'",
    "StartUTC: not logged ('-')",
    "StartUTC: expected dd/Mon/yyyy:HH:MM:SS +hhmm, got '2024-06-10T09:46:08Z'",
    "StartUTC: day is out of range for month: '31/Feb/2024:09:46:09 +0000'",
    "Referer: missing or malformed (line does not match Traefik's CLF)",  # Apache CLF
    "RequestCount: missing or malformed (line does not match Traefik's CLF)",  # genericCLF
    "ServiceURL: missing or malformed (line does not match Traefik's CLF)",
    "request: missing or malformed (line does not match Traefik's CLF)",
]


@pytest.mark.parametrize(
    ("line", "reason"), list(zip(MALFORMED_CLF, MALFORMED_CLF_REASONS, strict=True))
)
def test_malformed_clf_is_rejected(line: bytes, reason: str) -> None:
    assert TRAEFIK.results(line) == [Rejected(reason, line)]


test_empty_line = TRAEFIK.empty_lines_test()


def test_leading_blanks_before_json() -> None:
    assert TRAEFIK.event(b"  " + V3[0]).path == "/orders/1234"


# --- property tests ------------------------------------------------------------------

JSON_LINES = V3 + V2 + V1
TEXT_LINES = CLF + NON_UTF8 + MALFORMED_CLF

test_random_bytes_never_raise = TRAEFIK.random_bytes_test()
test_mutated_lines_never_raise = TRAEFIK.mutated_lines_test(
    JSON_LINES + TEXT_LINES + MALFORMED_JSON,
    b' "[]{}-:.,0123456789\x00\x7f\xff\n',
)
test_mutated_json_values_never_raise = TRAEFIK.mutated_json_test(JSON_LINES, batch_with=V3[0])
