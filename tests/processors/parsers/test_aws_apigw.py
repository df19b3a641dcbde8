"""AWS API Gateway access-log parser: real-looking records from tests/data/aws_apigw."""

from __future__ import annotations

import base64
import gzip
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json_values import JSON_VALUES, check_results, paths, replace
from mutations import mutate

from apim.event import ANONYMOUS, AccessEvent
from processors.parsers import aws_apigw
from processors.parsers.base import CredentialHasher, ParseContext, Rejected

DATA = Path(__file__).parents[2] / "data" / "aws_apigw"
HASH = CredentialHasher(b"test-secret")
CTX = ParseContext(source="apim.raw-logs/2@77", hash_credential=HASH)
REST = (DATA / "rest_default.log").read_bytes().splitlines()
HTTP = (DATA / "http_api.log").read_bytes().splitlines()
MALFORMED = (DATA / "malformed.ndjson").read_bytes().splitlines()
ENVELOPE = (DATA / "cloudwatch_envelope.json").read_bytes()
RAW_KEYS = ("Xk3v9Qp2Lm7Rt5Wy8Za1Bc4De6Fg0Hj2Kl", "Zq8Wm3Ns7Tp1Vx5Yb9Cd2Ef6Gh0Jk4Lr")


def _read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _event(line: bytes) -> AccessEvent:
    results = aws_apigw.parse(line, CTX)
    assert len(results) == 1
    event = results[0]
    assert isinstance(event, AccessEvent), event
    return event


def _at(minute: int, second: int, ms: int = 0) -> datetime:
    return datetime(2024, 6, 10, 9, minute, second, ms * 1000, tzinfo=UTC)


def test_reference_example_maps_every_field() -> None:
    assert _event(_read("rest_extended.json")) == AccessEvent(
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
    event = _event(REST[0])
    assert event.event_time == _at(46, 2)
    assert (event.method, event.path, event.route, event.status) == ("GET", "/pets", "/pets", 200)
    assert event.consumer == ANONYMOUS  # caller and user are "-"
    assert (event.api, event.bytes_out, event.latency_ms) == ("", 184, None)
    assert event.client_ip == "198.51.100.14"


def test_spaced_json_and_time_offset() -> None:
    event = _event(REST[1])
    assert event.event_time == _at(46, 3)  # 11:46:03 +0200
    assert event.api == "k3x9q2m7p1/prod"
    assert (event.method, event.path, event.status) == ("POST", "/pets/{petId}", 403)


def test_iam_caller_and_unknown_integration_latency() -> None:
    event = _event(REST[2])
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
    event = _event(REST[3])
    assert event.request_id == "YsK2bG4zoAMFfQx="
    assert event.path == "/"  # "/prod" is the stage root
    assert event.consumer == "AIDAJQABLZS4A3QDU576R"  # user, caller being "-"


def test_http_api_epoch_seconds_and_route_key() -> None:
    event = _event(HTTP[0])
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
    event = _event(HTTP[1])
    assert (event.method, event.path, event.route) == ("POST", "/orders", "POST /orders")
    assert (event.upstream_latency_ms, event.gateway_latency_ms) == (95.0, 4.0)
    assert event.event_time == _at(46, 6)


def test_http_api_named_stage_is_stripped_from_path() -> None:
    event = _event(HTTP[2])
    assert (event.path, event.route, event.api) == ("/anything/else", "$default", "1ax3mj7iqf/v1")
    assert event.bytes_out is None  # "-"
    assert event.status == 404


def test_dotted_identity_keys_and_raw_key_never_copied() -> None:
    event = _event(_read("dotted_keys.json"))
    assert event.consumer == "9x8y7z6w5v"
    assert event.credential_hash == HASH("9x8y7z6w5v")  # the key id, not the logged raw key
    assert (event.client_ip, event.user_agent) == ("203.0.113.7", "acme-sdk-js/3.2.0")
    assert (event.latency_ms, event.upstream_latency_ms) == (230.0, 212.0)
    assert event.event_time == _at(46, 8, 89)
    assert (event.path, event.status) == ("/payments", 201)


def test_nested_identity_and_authorizer_principal() -> None:
    event = _event(_read("nested_identity.json"))
    assert event.consumer == "auth0|5f7c8ec7c33c6c004bbafe82"
    assert (event.client_ip, event.user_agent) == ("192.0.2.99", "curl/8.5.0")
    assert event.upstream_latency_ms == 60.0
    assert event.path == "/reports/2024-06"
    assert event.api == ""  # no apiId logged


def test_raw_key_only_is_hashed() -> None:
    event = _event(_read("raw_key_only.json"))
    expected = HASH("Zq8Wm3Ns7Tp1Vx5Yb9Cd2Ef6Gh0Jk4Lr")
    assert (event.credential_hash, event.consumer) == (expected, f"cred:{expected}")
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
    assert bad.reason == "status: expected an integer, got 'abc'"
    assert bad.record == events[1]["message"].encode()  # the access record, replayable
    assert clf.reason.startswith("invalid JSON: JSON is malformed: trailing characters")
    assert clf.record == events[3]["message"].encode()
    assert no_message.reason == "message: missing required field"
    assert msgspec.json.decode(no_message.record) == events[4]


def test_cloudwatch_envelope_one_result_per_log_event() -> None:
    _check_envelope(aws_apigw.parse(ENVELOPE, CTX), ENVELOPE)


@pytest.mark.parametrize(
    "encode",
    [
        lambda data: gzip.compress(data, mtime=0),  # subscription filter -> Kinesis / Firehose
        lambda data: base64.b64encode(gzip.compress(data, mtime=0)) + b"\n",  # awslogs.data
    ],
)
def test_compressed_envelopes(encode: Any) -> None:
    line = encode(ENVELOPE)
    _check_envelope(aws_apigw.parse(line, CTX), line)


def test_compressed_single_record() -> None:
    line = gzip.compress(_read("rest_extended.json"))
    assert _event(line) == _event(_read("rest_extended.json"))


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
    (rejected,) = aws_apigw.parse(line, CTX)
    assert isinstance(rejected, Rejected)
    assert rejected.reason.startswith(reason), rejected.reason
    assert rejected.record == line


def test_control_message_is_rejected_with_a_clear_reason() -> None:
    line = _read("control_message.json")
    assert aws_apigw.parse(line, CTX) == [
        Rejected("CloudWatch Logs CONTROL_MESSAGE: a health check, no access record", line)
    ]


@pytest.mark.parametrize(
    "name",
    ["rest_extended.json", "dotted_keys.json", "raw_key_only.json", "cloudwatch_envelope.json"],
)
def test_raw_api_keys_never_in_clear(name: str) -> None:
    for result in aws_apigw.parse(_read(name), CTX):
        if isinstance(result, AccessEvent):
            encoded = msgspec.json.encode(result)
            assert not any(key.encode() in encoded for key in RAW_KEYS)


def test_every_valid_line_parses() -> None:
    for line in REST + HTTP:
        assert isinstance(_event(line), AccessEvent)


MALFORMED_REASONS = [
    "status: expected an integer, got 'abc'",
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
    results = aws_apigw.parse(line, CTX)
    assert len(results) == 1
    rejected = results[0]
    assert isinstance(rejected, Rejected)
    assert rejected.reason.startswith(reason), rejected.reason
    assert rejected.record == line


@pytest.mark.parametrize("line", [b"", b"\n", b"  \r\n"])
def test_empty_line(line: bytes) -> None:
    assert aws_apigw.parse(line, CTX) == [Rejected("empty line", line)]


# --- property tests ------------------------------------------------------------------

RECORDS = (
    [
        _read(name).strip()
        for name in ("rest_extended.json", "dotted_keys.json", "nested_identity.json")
    ]
    + REST
    + HTTP
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.binary(max_size=300).map(lambda b: b"\x1f\x8b" + b))
def test_random_bytes_never_raise(line: bytes) -> None:
    check_results(aws_apigw.parse(line, CTX))


@settings(max_examples=500, deadline=None)
@given(st.sampled_from([*RECORDS, ENVELOPE, gzip.compress(ENVELOPE, mtime=0)]), st.data())
def test_mutated_lines_never_raise(line: bytes, data: st.DataObject) -> None:
    interesting = st.sampled_from([*b'{}[]",:-/\\0123456789 ', 0, 0x80, 0xFF])
    mutated = mutate(line, data, st.integers(0, 255) | interesting)
    check_results(aws_apigw.parse(mutated, CTX))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([*RECORDS, ENVELOPE]), st.data(), JSON_VALUES)
def test_mutated_json_values_never_raise(line: bytes, data: st.DataObject, new: Any) -> None:
    raw = msgspec.json.decode(line)
    mutated = msgspec.json.encode(replace(raw, data.draw(st.sampled_from(paths(raw))), new))
    check_results(aws_apigw.parse(mutated, CTX))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(RECORDS), st.data(), JSON_VALUES)
def test_mutated_messages_cost_only_their_log_event(
    record: bytes, data: st.DataObject, new: Any
) -> None:
    raw = msgspec.json.decode(record)
    message = msgspec.json.encode(replace(raw, data.draw(st.sampled_from(paths(raw))), new))
    envelope = msgspec.json.decode(ENVELOPE)
    envelope["logEvents"][1]["message"] = message.decode()
    results = aws_apigw.parse(msgspec.json.encode(envelope), CTX)
    check_results(results)
    assert len(results) == 5
    assert isinstance(results[0], AccessEvent) and isinstance(results[2], AccessEvent)
