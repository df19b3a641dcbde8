"""The README's story, as a user runs it: `apim up`, ship a real log file, read it back.

Everything real: `apim up --no-simulate` starts the embedded broker, a Faust worker, chDB
and the dashboard; `apim ingest`, `apim usage` and `apim sql` are separate processes that
reach the running stack, then open chDB directly once it has stopped.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from known_traffic_files import nginx_log

pytestmark = pytest.mark.e2e
APIM = [sys.executable, "-m", "apim"]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APIM_")}
    env.update(
        APIM_DATA_DIR=str(data_dir),
        APIM_DASHBOARD_PORT="0",
        APIM_REGISTRY_PORT="0",
        PYTHONUNBUFFERED="1",
    )
    return env


def apim(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([*APIM, *args], env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def start_stack(env: dict[str, str]) -> subprocess.Popen:
    """`apim up --no-simulate` in the background, its output piped."""
    return subprocess.Popen(
        [*APIM, "up", "--no-simulate"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def test_up_ingest_usage_and_sql_while_running_and_after(tmp_path):
    env = _env(tmp_path / "data")
    log_file, expected = nginx_log(tmp_path / "access.log", lines=400, now=datetime.now(UTC))
    stack = start_stack(env)
    try:
        banner = stack.stdout.readline()
        assert "apim is up: dashboard http://127.0.0.1:" in banner, stack.stderr.read()
        dashboard = banner.split("dashboard ")[1].split()[0]
        with urllib.request.urlopen(dashboard, timeout=10) as page:
            assert page.status == 200
        children = _children(stack.pid)
        assert len(children) == 2  # the broker and the worker

        shipped = apim("ingest", "--format", "nginx", "--no-progress", str(log_file), env=env)
        assert shipped.stdout.strip().endswith("sent 400 lines, rejected 0")

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            out = apim("usage", "--by", "consumer", "--format", "json", env=env).stdout
            if {r["consumer"]: r["requests"] for r in json.loads(out)} == expected:
                break
            time.sleep(1)
        else:
            pytest.fail(f"usage never matched: {out}")

        csv_out = apim("usage", "--by", "consumer,endpoint", env=env).stdout
        header = next(csv.reader(io.StringIO(csv_out)))
        assert header == [
            "consumer", "endpoint", "requests", "status_2xx", "status_3xx", "status_4xx",
            "status_5xx", "bytes_out", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
        ]  # fmt: skip
        counted = apim(
            "sql", "SELECT count() AS n FROM access_events FINAL", "--format", "json", env=env
        )
        assert json.loads(counted.stdout) == [{"n": 400}]
        bad = apim("sql", "SELEC nonsense", env=env, check=False)
        assert (
            bad.returncode == 1 and bad.stderr.startswith("apim: ") and "Syntax error" in bad.stderr
        )
    finally:
        stack.send_signal(signal.SIGINT)
        assert stack.wait(timeout=60) == 0, stack.stderr.read()
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)  # nothing orphaned

    after = apim("usage", "--by", "consumer", "--format", "json", env=env)
    assert {r["consumer"]: r["requests"] for r in json.loads(after.stdout)} == expected


def test_ingest_without_a_running_stack_says_how_to_fix_it(tmp_path):
    env = _env(tmp_path / "data")
    log_file, _ = nginx_log(tmp_path / "access.log", lines=3, now=datetime.now(UTC))
    result = apim("ingest", "-f", "nginx", str(log_file), env=env, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("apim: no Kafka to ship to: start `apim up`")


REGISTRY = Path(__file__).resolve().parents[1] / "data" / "registry" / "registry.yaml"


def _consumers(api: str) -> set[str]:
    with urllib.request.urlopen(f"{api}/consumers", timeout=10) as answer:
        return {c["id"] for c in json.loads(answer.read())}


def test_the_registry_survives_a_restart_of_the_memory_only_broker(tmp_path):
    """Imported through the CLI and read back through the HTTP API; after `apim up` stops
    (its broker forgets every topic) and starts again, the registry is still there."""
    env = _env(tmp_path / "data")
    for run in range(2):
        stack = start_stack(env)
        try:
            banner = stack.stdout.readline()
            assert "apim is up" in banner, stack.stderr.read()
            api = banner.split("registry ")[1].split()[0].rstrip(",;")
            if run == 0:
                imported = apim("registry", "import", str(REGISTRY), env=env)
                assert imported.stderr.startswith("imported 19 entities"), imported.stderr
            expected = {"acme-mobile", "acme-web", "globex-etl", "jane-hobby"}
            deadline = time.monotonic() + 10  # the API follows the registry topic
            while (served := _consumers(api)) != expected and time.monotonic() < deadline:
                time.sleep(0.2)
            assert served == expected
            listed = apim("registry", "list", "plan", "--format", "json", env=env)
            assert [p["id"] for p in json.loads(listed.stdout)] == ["enterprise", "free", "pro"]
        finally:
            stack.send_signal(signal.SIGINT)
            assert stack.wait(timeout=60) == 0, stack.stderr.read()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "-f", "iis", "x.log"], "format 'iis' is not known: use one of"),
        (["ingest", "-f", "mapping:nope.yaml", "x.log"], "nope.yaml: cannot read"),
        (["tail", "-F", "nginx"], "--follow 'nginx': give FORMAT:GLOB"),
        (["tail", "-F", "iis:/var/log/*"], "format 'iis' is not known"),
        (["backfill", "-f", "nginx", "/nonexistent/*.gz"], "no file matches /nonexistent/*.gz"),
        (["receive", "--syslog", "udp:x"], "--syslog: listener 'udp:x': expected udp|tcp"),
        (["receive", "--no-http"], "nothing to receive"),
        (["ingest", "-f", "nginx", "missing.log"], "missing.log: no such file"),
        (["usage", "--by", "planet"], "unknown dimension 'planet'"),
        (["usage", "--from", "yesterday"], "--from 'yesterday' is not an ISO time"),
        (["usage", "--where", "plan"], "--where 'plan': expected name=value"),
        (["usage", "--where", "tier=gold"], "cannot filter on 'tier'"),
        (["registry", "list", "planet"], "unknown kind 'planet'"),
        (["registry", "import", "nope.yaml"], "nope.yaml: no such file"),
        (["erase", "acme", "--yes"], "no Kafka to ship to"),
    ],
)
def test_bad_arguments_get_one_line_saying_what_is_wrong(tmp_path, args, message):
    result = apim(*args, env=_env(tmp_path / "data"), check=False)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr


def test_a_bad_registry_file_is_one_line_naming_file_line_and_field(tmp_path):
    registry = tmp_path / "registry.yaml"
    registry.write_text("consumers:\n  - id: acme\n    name: Acme\n    plan: pro\n")
    env = {**_env(tmp_path / "data"), "APIM_KAFKA_URL": "kafka://127.0.0.1:9"}
    result = apim("registry", "import", str(registry), env=env, check=False)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"apim: {registry}:") and "plan" in line, line


def test_every_command_has_help(tmp_path):
    from typer.main import get_command

    from apim.cli import app

    for name in get_command(app).commands:
        out = apim(name, "--help", env=_env(tmp_path)).stdout
        assert "Usage:" in out and "--help" in out, name


def test_killing_apim_up_leaves_no_orphans(tmp_path):
    stack = subprocess.Popen(
        [*APIM, "up", "--no-simulate"],
        env=_env(tmp_path / "data"),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "apim is up" in stack.stdout.readline()
        children = _children(stack.pid)
        assert len(children) == 2
    finally:
        stack.send_signal(signal.SIGKILL)
        stack.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in children):
        time.sleep(0.2)
    alive = [p for p in children if Path(f"/proc/{p}").exists()]
    assert not alive, f"orphaned: {alive}"


def test_a_taken_dashboard_port_is_one_clear_error_and_nothing_left_running(tmp_path):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        env = _env(tmp_path / "data")
        env["APIM_DASHBOARD_PORT"] = str(taken.getsockname()[1])
        result = subprocess.run(
            [*APIM, "up", "--no-simulate"], env=env, capture_output=True, text=True, timeout=120
        )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("apim: could not start: dashboard address 127.0.0.1:")
    assert "set APIM_DASHBOARD_PORT" in last
    assert not (tmp_path / "data" / "warehouse.owner.json").exists()


def _usage_by_consumer(env: dict[str, str]) -> dict[str, int]:
    out = apim("usage", "--by", "consumer", "--format", "json", env=env).stdout
    return {r["consumer"]: r["requests"] for r in json.loads(out)}


def test_stopping_with_data_in_flight_loses_nothing_and_restarting_counts_nothing_twice(tmp_path):
    env = _env(tmp_path / "data")
    log_file, expected = nginx_log(tmp_path / "access.log", lines=20_000, now=datetime.now(UTC))
    for _ in range(2):  # the second run finds the warehouse of the first and a new, empty broker
        stack = start_stack(env)
        try:
            assert "apim is up" in stack.stdout.readline()
            if expected:
                apim("ingest", "-f", "nginx", "--no-progress", str(log_file), env=env)
        finally:
            stack.send_signal(signal.SIGINT)  # at once: the worker is still counting
            _, errors = stack.communicate(timeout=120)
        assert stack.returncode == 0, errors
        if expected:
            assert '"backlog drained"' in errors or "backlog drained" in errors
            assert _usage_by_consumer(env) == expected
            first_run, expected = expected, {}
    assert _usage_by_consumer(env) == first_run
