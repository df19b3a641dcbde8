"""AWS API Gateway access-log parser: real-looking records from tests/data/aws_apigw."""

from __future__ import annotations

import base64
import gzip
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parser_properties import JSON_VALUES, check_results, paths, replace
from parser_samples import HASH, RANDOM_LINES, Samples, assert_never_in_events

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers import aws_apigw

AWS = Samples("aws_apigw", aws_apigw.parse, "apim.raw-logs/2@77")
REST = AWS.lines("rest_default.log")
HTTP = AWS.lines("http_api.log")
MALFORMED = AWS.lines("malformed.ndjson")
ENVELOPE = AWS.read("cloudwatch_envelope.json")
RAW_KEYS = ("Xk3v9Qp2Lm7Rt5Wy8Za1Bc4De6Fg0Hj2Kl", "Zq8Wm3Ns7Tp1Vx5Yb9Cd2Ef6Gh0Jk4Lr")


def _at(minute: int, second: int, ms: int = 0) -> datetime:
    return datetime(2024, 6, 10, 9, minute, second, ms * 1000, tzinfo=UTC)


def test_reference_example_maps_every_field() -> None:
    assert AWS.event(AWS.read("rest_extended.json")) == AccessEvent(
        event_time=_at(45, 45, 678),  # requestTimeEpoch, in ms for REST APIs
        gateway="aws-apigw",
        method="GET",
        path="/orders/1234",  # "/prod/orders/1234" without its stage
        status=200,
        request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        api="a1b2c3d4e5/prod",
        route="/orders/{orderId}",
        latency_ms=41.0,
        upstream_latency_ms=38.0,
        gateway_latency_ms=3.0,
        bytes_in=None,
        bytes_out=1530,
        consumer="9x8y7z6w5v",  # the API key id: an identifier, not the key
        application="",
        credential_hash=HASH("9x8y7z6w5v"),
        client_ip="203.0.113.7",
        user_agent="okhttp/4.12.0",
        source="apim.raw-logs/2@77",
    )


def test_documented_rest_template() -> None:
    event = AWS.event(REST[0])
    assert event.event_time == _at(46, 2)
    assert (event.method, event.path, event.route, event.status) == ("GET", "/pets", "/pets", 200)
    assert event.consumer == ANONYMOUS  # caller and user are "-"
    assert (event.api, event.bytes_out, event.latency_ms) == ("", 184, None)
    assert event.client_ip == "198.51.100.14"


def test_spaced_json_and_time_offset() -> None:
    event = AWS.event(REST[1])
    assert event.event_time == _at(46, 3)  # 11:46:03 +0200
    assert event.api == "k3x9q2m7p1/prod"
    assert (event.method, event.path, event.status) == ("POST", "/pets/{petId}", 403)


def test_iam_caller_and_unknown_integration_latency() -> None:
    event = AWS.event(REST[2])
    assert event.consumer == "AIDAJQABLZS4A3QDU576Q:alice-session"
    assert event.credential_hash == ""
    assert event.event_time == _at(46, 4, 321)
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        120.0,
        None,  # "-"
        None,
    )
    assert (event.path, event.route) == ("/orders/77", "/orders/{orderId}")


def test_replaced_request_id_falls_back_to_extended_request_id() -> None:
    event = AWS.event(REST[3])
    assert event.request_id == "YsK2bG4zoAMFfQx="
    assert event.path == "/"  # "/prod" is the stage root
    assert event.consumer == "AIDAJQABLZS4A3QDU576R"  # user, caller being "-"


def test_http_api_epoch_seconds_and_route_key() -> None:
    event = AWS.event(HTTP[0])
    assert event.event_time == _at(46, 5)  # requestTimeEpoch in seconds for HTTP APIs
    assert (event.route, event.path) == ("GET /pets/{id}", "/pets/42")
    assert event.api == "1ax3mj7iqf/$default"
    assert event.request_id == "GQIVriFLIAMEMsA="
    assert (event.latency_ms, event.upstream_latency_ms, event.gateway_latency_ms) == (
        18.0,
        15.0,
        3.0,
    )


def test_http_api_dotted_integration_latency_and_route_key_path() -> None:
    event = AWS.event(HTTP[1])
    assert (event.method, event.path, event.route) == ("POST", "/orders", "POST /orders")
    assert (event.upstream_latency_ms, event.gateway_latency_ms) == (95.0, 4.0)
    assert event.event_time == _at(46, 6)


def test_http_api_named_stage_is_stripped_from_path() -> None:
    event = AWS.event(HTTP[2])
    assert (event.path, event.route, event.api) == ("/anything/else", "$default", "1ax3mj7iqf/v1")
    assert event.bytes_out is None  # "-"
    assert event.status == 404


def test_dotted_identity_keys_and_raw_key_never_copied() -> None:
    event = AWS.event(AWS.read("dotted_keys.json"))
    assert event.consumer == "9x8y7z6w5v"
    assert event.credential_hash == HASH("9x8y7z6w5v")  # the key id, not the logged raw key
    assert (event.client_ip, event.user_agent) == ("203.0.113.7", "acme-sdk-js/3.2.0")
    assert (event.latency_ms, event.upstream_latency_ms) == (230.0, 212.0)
    assert event.event_time == _at(46, 8, 89)
    assert (event.path, event.status) == ("/payments", 201)


def test_nested_identity_and_authorizer_principal() -> None:
    event = AWS.event(AWS.read("nested_identity.json"))
    assert event.consumer == "auth0|5f7c8ec7c33c6c004bbafe82"
    assert (event.client_ip, event.user_agent) == ("192.0.2.99", "curl/8.5.0")
    assert event.upstream_latency_ms == 60.0
    assert event.path == "/reports/2024-06"
    assert event.api == ""  # no apiId logged


def test_raw_key_only_is_hashed() -> None:
    event = AWS.event(AWS.read("raw_key_only.json"))
    expected = HASH("Zq8Wm3Ns7Tp1Vx5Yb9Cd2Ef6Gh0Jk4Lr")
    assert (event.credential_hash, event.consumer) == (expected, "unknown:aaecb3f7d5d0")
    assert event.query == ""  # API Gateway logs no query string
    assert event.status == 429


def _check_envelope(results: list[Any], line: bytes) -> None:
    assert [type(r).__name__ for r in results] == [
        "AccessEvent",
        "Rejected",
        "AccessEvent",
        "Rejected",
        "Rejected",
    ]
    assert [r.source for r in results if isinstance(r, AccessEvent)] == [
        "apim.raw-logs/2@77#0",
        "apim.raw-logs/2@77#2",
    ]
    first, bad, no_time, clf, no_message = results
    assert (first.path, first.consumer, first.event_time) == (
        "/orders/9",
        "4h5j6k7l8m",
        _at(46, 11, 234),
    )
    assert no_time.event_time == _at(46, 11, 555)  # the log event's timestamp
    assert (no_time.route, no_time.path) == ("POST /events", "/events")
    events = msgspec.json.decode(ENVELOPE)["logEvents"]
    assert bad.reason == "status: expected a status code, got 'abc'"
    assert bad.record == events[1]["message"].encode()  # the access record, replayable
    assert clf.reason.startswith("invalid JSON: JSON is malformed: trailing characters")
    assert clf.record == events[3]["message"].encode()
    assert no_message.reason == "message: missing required field"
    assert msgspec.json.decode(no_message.record) == events[4]


def test_cloudwatch_envelope_one_result_per_log_event() -> None:
    _check_envelope(AWS.results(ENVELOPE), ENVELOPE)


@pytest.mark.parametrize(
    "encode",
    [
        lambda data: gzip.compress(data, mtime=0),  # subscription filter -> Kinesis / Firehose
        lambda data: base64.b64encode(gzip.compress(data, mtime=0)) + b"\n",  # awslogs.data
    ],
)
def test_compressed_envelopes(encode: Any) -> None:
    line = encode(ENVELOPE)
    _check_envelope(AWS.results(line), line)


def test_compressed_single_record() -> None:
    line = gzip.compress(AWS.read("rest_extended.json"))
    assert AWS.event(line) == AWS.event(AWS.read("rest_extended.json"))


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (gzip.compress(ENVELOPE, mtime=0)[:-30], "gzip: truncated data"),
        (gzip.compress(ENVELOPE, mtime=0)[:12] + b"\xff" * 40, "gzip: Error -3"),
        (gzip.compress(b" " * ((64 << 20) + 1)), "gzip: inflates to more than 67108864 bytes"),
        (base64.b64encode(gzip.compress(b"[1, 2]")), "expected object, got array"),
    ],
)
def test_bad_compressed_lines_are_rejected(line: bytes, reason: str) -> None:
    rejected = AWS.rejected(line)
    assert rejected.reason.startswith(reason), rejected.reason


def test_control_message_is_rejected_with_a_clear_reason() -> None:
    rejected = AWS.rejected(AWS.read("control_message.json"))
    assert rejected.reason == "CloudWatch Logs CONTROL_MESSAGE: a health check, no access record"


@pytest.mark.parametrize(
    "name",
    ["rest_extended.json", "dotted_keys.json", "raw_key_only.json", "cloudwatch_envelope.json"],
)
def test_raw_api_keys_never_in_clear(name: str) -> None:
    assert_never_in_events(AWS.results(AWS.read(name)), RAW_KEYS)


def test_every_valid_line_parses() -> None:
    for line in REST + HTTP:
        assert isinstance(AWS.event(line), AccessEvent)


MALFORMED_REASONS = [
    "status: expected a status code, got 'abc'",
    "status: missing required field",
    "status: 42 not in 100-599",
    "status: expected int | float | str | null, got bool",
    "responseLength: negative (-1)",
    "responseLatency: expected milliseconds, got 'fast'",
    "integrationLatency: expected milliseconds, got '38ms'",
    "requestTime: expected dd/Mon/yyyy:HH:MM:SS +hhmm, got '2024-06-10T09:47:00Z'",
    "requestTime: missing required field",
    "requestTimeEpoch: '17180127' is not epoch seconds or milliseconds",
    "httpMethod: missing required field",  # a WebSocket API record
    "path: missing required field (nor resourcePath, nor routeKey path)",
    "invalid JSON: JSON is malformed: invalid character",  # unquoted template logging "-"
    "identity: expected object | null, got str",
    "identity.apiKeyId: expected str | null, got int",
    "messageType: unknown 'SNAPSHOT'",
    "logEvents: no log event",
    "logEvents: expected array | null, got str",
    "expected object, got array",
    "base64: Only base64 data is allowed",
    "invalid JSON: JSON is malformed: trailing characters",  # a CLF template
    "invalid JSON: Input data was truncated",
]


@pytest.mark.parametrize(("line", "reason"), list(zip(MALFORMED, MALFORMED_REASONS, strict=True)))
def test_malformed_lines_are_rejected(line: bytes, reason: str) -> None:
    rejected = AWS.rejected(line)
    assert rejected.reason.startswith(reason), rejected.reason


test_empty_line = AWS.empty_lines_test()


# --- property tests ------------------------------------------------------------------

RECORDS = [
    *(AWS.read(name).strip() for name in ("rest_extended.json", "dotted_keys.json")),
    AWS.read("nested_identity.json").strip(),
    *REST,
    *HTTP,
]

test_random_bytes_never_raise = AWS.random_bytes_test(
    lines=RANDOM_LINES | RANDOM_LINES.map(lambda b: b"\x1f\x8b" + b)
)
test_mutated_lines_never_raise = AWS.mutated_lines_test(
    [*RECORDS, ENVELOPE, gzip.compress(ENVELOPE, mtime=0)],
    b'{}[]",:-/\\0123456789 \x00\x80\xff',
)
test_mutated_json_values_never_raise = AWS.mutated_json_test(
    [*RECORDS, ENVELOPE], results_owed=lambda _: None
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(RECORDS), st.data(), JSON_VALUES)
def test_mutated_messages_cost_only_their_log_event(
    record: bytes, data: st.DataObject, new: Any
) -> None:
    raw = msgspec.json.decode(record)
    message = msgspec.json.encode(replace(raw, data.draw(st.sampled_from(paths(raw))), new))
    envelope = msgspec.json.decode(ENVELOPE)
    envelope["logEvents"][1]["message"] = message.decode()
    results = AWS.results(msgspec.json.encode(envelope))
    check_results(results)
    assert len(results) == 5
    assert isinstance(results[0], AccessEvent) and isinstance(results[2], AccessEvent)
