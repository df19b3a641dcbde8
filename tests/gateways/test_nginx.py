"""Debian's nginx in front of the upstream; its own access logs through the file tailer.

One nginx writes both logs at once: the default `combined` (no timings: latencies must be
unknown) and a JSON `log_format ... escape=json` with $request_time,
$upstream_response_time (seconds), $remote_user, $time_iso8601 and the client's
X-Request-Id. /api/ is behind `auth_basic`: a request without credentials or with a wrong
password gets nginx's own 401, logged with the user name that was sent.
"""

from __future__ import annotations

import pytest

from .checks import (
    assert_by_request_id,
    assert_common,
    assert_latencies,
    assert_no_latencies,
    assert_stored_exactly,
)
from .ingesting import tailing, wait_processed
from .traffic import NGINX, USER_AGENT, Event, expected_events, plan, send_all

pytestmark = pytest.mark.e2e


def request_length(e: Event) -> int:
    """nginx's $request_length: request line, headers and body as the client sent them;
    the body of a request nginx refuses itself (401) is discarded, not counted."""
    return e.response.request_bytes - (0 if e.upstream else len(e.request.body))


def test_combined_log_counts_exactly(pipeline, nginx, upstream, tmp_path):
    requests = plan(240, seed=11, basic_auth=True)
    pipeline.start_worker()
    with tailing(pipeline, f"nginx:{nginx.dir}/access.log", tmp_path / "tail.json") as ingest:
        sent = send_all(nginx.port, requests)
        events = expected_events(sent, NGINX)
        wait_processed(pipeline, ingest, len(events))

    rows = assert_stored_exactly(pipeline, upstream, events)
    assert_no_latencies(pipeline, rows)
    assert_common(
        rows,
        sent,
        gateway="nginx",
        sources=[f"access.log:{i}" for i in range(1, len(events) + 1)],
        user_agent=USER_AGENT,
    )


def test_json_log_counts_exactly_with_latencies_in_ms(pipeline, nginx, upstream, tmp_path):
    requests = plan(240, seed=12, basic_auth=True)
    pipeline.start_worker()
    with tailing(pipeline, f"nginx-json:{nginx.dir}/access.json", tmp_path / "tail.json") as ingest:
        sent = send_all(nginx.port, requests)
        events = expected_events(sent, NGINX)
        wait_processed(pipeline, ingest, len(events))

    rows = assert_stored_exactly(pipeline, upstream, events)
    assert_by_request_id(rows, events, bytes_in=request_length)
    assert_latencies(pipeline, rows, events, upstream_logged=True)
    assert_common(
        rows,
        sent,
        gateway="nginx",
        sources=[f"access.json:{i}" for i in range(1, len(events) + 1)],
        user_agent=USER_AGENT,
    )
