"""Debian's Caddy in front of the upstream; its default JSON access log through the file
tailer.

/api/* is behind `basicauth` (bcrypt): a request without good credentials gets Caddy's own
401 with an empty `user_id`, so it is anonymous. `duration` is in seconds, `size` is the
response body; Caddy logs no upstream time, and 2.6 (Debian bookworm) no `bytes_read`.
"""

from __future__ import annotations

import pytest

from .checks import (
    assert_by_request_id,
    assert_common,
    assert_latencies,
    assert_stored_exactly,
)
from .ingesting import tailing, wait_processed
from .traffic import CADDY, USER_AGENT, expected_events, plan, send_all

pytestmark = pytest.mark.e2e


def test_json_access_log_counts_exactly_with_latencies_in_ms(pipeline, caddy, upstream, tmp_path):
    requests = plan(240, seed=21, basic_auth=True)
    pipeline.start_worker()
    with tailing(pipeline, f"caddy:{caddy.dir}/access.json", tmp_path / "tail.json") as ingest:
        sent = send_all(caddy.port, requests)
        events = expected_events(sent, CADDY)
        wait_processed(pipeline, ingest, len(events))

    rows = assert_stored_exactly(pipeline, upstream, events)
    assert_by_request_id(rows, events, bytes_in=lambda e: None)  # 2.6 logs no bytes_read
    assert_latencies(pipeline, rows, events, upstream_logged=False)
    assert_common(
        rows,
        sent,
        gateway="caddy",
        sources=[f"access.json:{i}" for i in range(1, len(events) + 1)],
        user_agent=USER_AGENT,
    )
