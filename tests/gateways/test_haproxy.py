"""Debian's HAProxy in front of the upstream; its `option httplog` lines over UDP syslog
(RFC 3164, `log-send-hostname`) into the syslog receiver, parsed with the mapping
tests/data/mapping/haproxy.yaml.

HAProxy runs with TZ=UTC: its `[%tr]` accept date is local time and the mapping reads it as
UTC. /maintenance/ goes to a backend without servers: HAProxy answers 503 itself (timers
-1: no upstream time). No authentication: every request is anonymous. %B counts the
response as HAProxy forwarded it, so bytes out lie between the body and all the client got.
"""

from __future__ import annotations

import socket
from collections import Counter
from pathlib import Path

import pytest

from .checks import (
    assert_common,
    assert_latencies,
    assert_stored_exactly,
)
from .ingesting import port_of, receiving_syslog, wait_processed
from .traffic import HAPROXY, expected_events, plan, send_all

pytestmark = pytest.mark.e2e
MAPPING = Path(__file__).parents[1] / "data" / "mapping" / "haproxy.yaml"


def test_httplog_over_syslog_counts_exactly_with_latencies_in_ms(pipeline, start_haproxy, upstream):
    requests = plan(240, seed=31, basic_auth=False, maintenance=12)
    pipeline.start_worker()
    ingest, receiver = receiving_syslog(pipeline, "udp:0", f"haproxy=mapping:{MAPPING}")
    with ingest:
        haproxy = start_haproxy(port_of(receiver.addresses[0]))
        sent = send_all(haproxy.port, requests)
        events = expected_events(sent, HAPROXY)
        wait_processed(pipeline, ingest, len(events))
    assert receiver.dropped == 0

    apis = Counter("be_api" if e.upstream else "be_maintenance" for e in events)
    rows = assert_stored_exactly(pipeline, upstream, events, apis)
    assert_latencies(pipeline, rows, events, upstream_logged=True)
    assert_common(
        rows,
        sent,
        gateway="haproxy",
        sources=[f"syslog:{socket.gethostname()}/haproxy:{i}" for i in range(1, len(events) + 1)],
        user_agent="",
    )
