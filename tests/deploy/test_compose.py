"""docker-compose.yml cannot run here (no Docker engine): check by reading it that every
setting it passes is one the code reads, and every command one the CLI has."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.main import get_command

from apim import settings
from apim.cli import app

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _our_services(compose: dict) -> dict[str, dict]:
    return {name: s for name, s in compose["services"].items() if s.get("build")}


def test_every_apim_variable_in_compose_is_read_by_the_settings():
    known = set(settings.env_names())
    for name, service in _our_services(_compose()).items():
        used = {k for k in service["environment"] if k.startswith("APIM_")}
        assert used, name
        assert used <= known, (name, sorted(used - known))


def test_compose_values_validate_as_settings(monkeypatch):
    for service in _our_services(_compose()).values():
        for key, value in service["environment"].items():
            if key.startswith("APIM_"):
                monkeypatch.setenv(key, "compose-secret" if "${" in str(value) else str(value))
        loaded = settings.load()
        assert loaded.mode == "production"
        assert loaded.kafka.url == "kafka://kafka:9092"
        assert loaded.clickhouse_url == "http://clickhouse:8123/apim"


def test_every_service_command_is_an_apim_subcommand():
    commands = set(get_command(app).commands)
    for name, service in _our_services(_compose()).items():
        assert service["command"][0] in commands, name


def test_dashboard_is_published_on_loopback_only():
    ports = _compose()["services"]["dashboards"]["ports"]
    assert all(p.startswith("127.0.0.1:") for p in ports)


def test_production_mode_refuses_to_start_without_a_hash_secret(monkeypatch):
    monkeypatch.setenv("APIM_MODE", "production")
    monkeypatch.delenv("APIM_SECURITY_HASH_SECRET", raising=False)
    try:
        settings.load()
    except settings.ConfigError as exc:
        assert "APIM_SECURITY_HASH_SECRET" in str(exc)
    else:
        raise AssertionError("production mode started without a hash secret")
