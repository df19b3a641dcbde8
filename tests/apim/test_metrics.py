from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from apim import metrics, settings


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture
def served():
    metrics.register_worker_metrics()
    url, stop = metrics.serve("127.0.0.1", 0)
    yield url
    stop()


def test_serves_on_loopback_on_a_free_port_and_stops(served):
    host_port = served.removeprefix("http://").removesuffix("/metrics")
    host, port = host_port.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    assert scrape(served)
    _, stop = metrics.serve("127.0.0.1", 0)
    stop()


def test_stopped_server_no_longer_listens():
    url, stop = metrics.serve("127.0.0.1", 0)
    stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=2)


def test_every_stage_reports_received_sent_and_errors(served):
    metrics.init_stages(*metrics.STAGES)
    samples = scrape(served)
    for stage in metrics.STAGES:
        assert ("apim_events_received_total", frozenset({("stage", stage)})) in samples
        assert ("apim_events_sent_total", frozenset({("stage", stage)})) in samples
        for reason in metrics.REASONS.get(stage, ()):
            labels = frozenset({("stage", stage), ("reason", reason)})
            assert ("apim_events_errors_total", labels) in samples
    names = {name for name, _ in samples}
    for name in (
        "apim_messages_received_total",
        "apim_messages_skipped_total",
        "apim_batches_retried_total",
        "apim_sink_batch_seconds_count",
        "apim_sink_batch_seconds_bucket",
        "apim_last_complete_minute_seconds",
    ):
        assert name in names, name


def test_values_move_when_counted(served):
    before = scrape(served)
    metrics.EVENTS_RECEIVED.labels(stage=metrics.PARSE).inc(7)
    metrics.EVENTS_SENT.labels(stage=metrics.PARSE).inc(5)
    metrics.count_errors(metrics.PARSE, metrics.MALFORMED, 2)
    metrics.DEAD_LETTERS.labels(format="kong").inc(2)
    metrics.SINK_BATCH_SECONDS.observe(0.2)
    metrics.CONSUMER_LAG.labels(topic="raw", partition="3").set(42)
    metrics.LAST_COMPLETE_MINUTE.set(1_800_000_000)
    after = scrape(served)

    def delta(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after[key] - before.get(key, 0.0)

    assert delta("apim_events_received_total", stage="parse") == 7
    assert delta("apim_events_sent_total", stage="parse") == 5
    assert delta("apim_events_errors_total", stage="parse", reason="malformed") == 2
    assert delta("apim_dead_letters_total", format="kong") == 2
    assert delta("apim_sink_batch_seconds_count") == 1
    assert delta("apim_sink_batch_seconds_bucket", le="0.25") == 1
    assert value(after, "apim_consumer_lag", topic="raw", partition="3") == 42
    assert value(after, "apim_last_complete_minute_seconds") == 1_800_000_000
    assert not [name for name, _ in after if name.endswith("_created")]
    metrics.CONSUMER_LAG.remove("raw", "3")
    assert ("apim_consumer_lag", frozenset({("topic", "raw"), ("partition", "3")})) not in scrape(
        served
    )


def test_error_reasons_are_bounded():
    with pytest.raises(ValueError):
        metrics.count_errors(metrics.PARSE, "JSON error at byte 17")
    with pytest.raises(ValueError):
        metrics.count_errors(metrics.AGGREGATE, metrics.MALFORMED)


def test_running_total_counts_only_the_increase():
    def sent() -> float:
        return REGISTRY.get_sample_value("apim_events_sent_total", {"stage": "ingest"}) or 0.0

    start = sent()
    total = metrics.RunningTotal(metrics.EVENTS_SENT.labels(stage=metrics.INGEST))
    for running in (0, 3, 3, 10):
        total.update(running)
    assert sent() - start == 10


@pytest.mark.parametrize(
    ("watermarks", "expected"),
    [
        ([], None),
        ([0, 0], None),  # partitions that delivered no event yet say nothing
        ([1_800_000_000 + 59], 1_800_000_000 - 60),  # 12:00:59 → 11:59 is complete
        ([1_800_000_000 + 60], 1_800_000_000),  # 12:01:00 → 12:00 is complete
        ([1_800_000_000 + 3600, 1_800_000_000 + 130, 0], 1_800_000_000 + 60),  # the slowest
    ],
)
def test_last_complete_minute(watermarks, expected):
    assert metrics.last_complete_minute(watermarks) == expected


def test_settings_section(monkeypatch, tmp_path):
    for name in settings.env_names():
        monkeypatch.delenv(name, raising=False)
    defaults = settings.load(data_dir=tmp_path).metrics
    assert (defaults.enabled, defaults.host, defaults.port) == (True, "127.0.0.1", 0)
    for name in ("APIM_METRICS_ENABLED", "APIM_METRICS_HOST", "APIM_METRICS_PORT"):
        assert name in settings.env_names()
    monkeypatch.setenv("APIM_METRICS_PORT", "9464")
    monkeypatch.setenv("APIM_METRICS_ENABLED", "false")
    loaded = settings.load(data_dir=tmp_path).metrics
    assert (loaded.port, loaded.enabled) == (9464, False)
    monkeypatch.setenv("APIM_METRICS_PORT", "70000")
    with pytest.raises(settings.ConfigError, match=r"^APIM_METRICS_PORT:"):
        settings.load(data_dir=tmp_path)


def test_publish_writes_the_url_file_and_removes_it(tmp_path):
    config = settings.load(data_dir=tmp_path, metrics={"port": 0})
    url, stop = metrics.publish(config, "worker-123")
    path = tmp_path / "metrics" / "worker-123.url"
    try:
        assert path.read_text().strip() == url
        assert scrape(url)
    finally:
        stop()
    assert not path.exists()
    assert list((tmp_path / "metrics").iterdir()) == []  # no temporary file left


def test_publish_disabled_serves_nothing(tmp_path):
    config = settings.load(data_dir=tmp_path, metrics={"enabled": False})
    url, stop = metrics.publish(config, "stack")
    stop()
    assert url is None
    assert not (tmp_path / "metrics").exists()


def test_publish_on_a_taken_port_names_the_variables(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = settings.load(data_dir=tmp_path, metrics={"port": port})
        with pytest.raises(settings.ConfigError, match="APIM_METRICS_PORT"):
            metrics.publish(config, "stack")


class _FakeConsumer:
    """What `processors.agents._report_lag` uses of a Faust consumer."""

    def __init__(self, assigned, ends, committed, earliest):
        self._assigned, self._ends, self._earliest = assigned, ends, earliest
        self._committed_offset = committed

    def assignment(self):
        return set(self._assigned)

    async def highwaters(self, *tps):
        return {tp: self._ends[tp] for tp in tps}

    async def earliest_offsets(self, *tps):
        return {tp: self._earliest[tp] for tp in tps}


def test_consumer_lag_is_end_minus_next_offset_to_process():
    import asyncio

    metrics.register_worker_metrics()

    from faust.types import TP

    from processors.agents import _report_lag

    a, b, c, other = TP("raw-lag", 0), TP("raw-lag", 1), TP("raw-lag", 2), TP("dlq", 0)
    consumer = _FakeConsumer(
        assigned=[a, b, c, other],
        ends={a: 100, b: 50, c: 30, other: 9},
        committed={b: 40},  # what the previous owner made durable
        earliest={c: 10},  # nothing processed or committed: consumption starts here
    )
    asyncio.run(_report_lag(consumer, "raw-lag", processed={a: 100}))
    lag = {
        p: REGISTRY.get_sample_value("apim_consumer_lag", {"topic": "raw-lag", "partition": p})
        for p in ("0", "1", "2")
    }
    assert lag == {"0": 0, "1": 10, "2": 20}
    assert (
        REGISTRY.get_sample_value("apim_consumer_lag", {"topic": "dlq", "partition": "0"}) is None
    )


def test_worker_only_metrics_appear_only_where_registered():
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    url, stop = metrics.serve("127.0.0.1", 0, registry)
    try:
        assert scrape(url) == {}
        metrics.register_worker_metrics(registry)
        metrics.register_worker_metrics(registry)  # idempotent
        names = {name for name, _ in scrape(url)}
        assert "apim_last_complete_minute_seconds" in names
        assert "apim_events_received_total" not in names  # the stage counters live in REGISTRY
    finally:
        stop()
