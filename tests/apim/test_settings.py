from __future__ import annotations

from pathlib import Path

import pytest

from apim import settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_defaults_are_the_embedded_stack(monkeypatch, tmp_path):
    for name in settings.env_names():
        monkeypatch.delenv(name, raising=False)
    loaded = settings.load(data_dir=tmp_path)
    assert loaded.mode == "embedded"
    assert loaded.kafka.url is None
    assert loaded.clickhouse_url == f"chdb://{tmp_path.resolve() / 'warehouse'}"


def test_every_problem_is_reported_at_once_naming_the_variable(monkeypatch):
    monkeypatch.setenv("APIM_KAFKA_PARTITIONS", "many")
    monkeypatch.setenv("APIM_WORKER_BATCH_MAX", "0")
    monkeypatch.setenv("APIM_MODE", "prod")
    with pytest.raises(settings.ConfigError) as error:
        settings.load()
    lines = str(error.value).splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "APIM_MODE",
        "APIM_KAFKA_PARTITIONS",
        "APIM_WORKER_BATCH_MAX",
    ]


def test_nested_variables_reach_their_section(monkeypatch):
    monkeypatch.setenv("APIM_KAFKA_RAW_TOPIC", "gw.logs")
    monkeypatch.setenv("APIM_CLICKHOUSE_PASSWORD", "s3cret")
    loaded = settings.load()
    assert loaded.kafka.raw_topic == "gw.logs"
    assert loaded.clickhouse.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(loaded)


def test_readme_documents_every_variable():
    missing = [name for name in settings.env_names() if f"`{name}`" not in README]
    assert not missing
