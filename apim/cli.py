"""`apim`: the one command. Each subcommand wires stages together; the stages do the work.

Errors a user can fix (bad settings, bad arguments, nothing running) end in one line on
stderr saying what is wrong and how to fix it, with exit code 2 (1 for runtime failures).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer

from apim import logs
from apim import settings as config

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="API usage analytics: gateway access logs → Kafka → Faust → ClickHouse → Dash.",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)

T = TypeVar("T")
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="state of the embedded stack [env APIM_DATA_DIR; default ./data]"
    ),
]


class OutputFormat(StrEnum):
    csv = "csv"
    json = "json"
    table = "table"


Output = Annotated[OutputFormat, typer.Option("--format", help="output format")]
Start = Annotated[str | None, typer.Option("--from", help="ISO time, inclusive (UTC if no zone)")]
End = Annotated[str | None, typer.Option("--to", help="ISO time, exclusive (UTC if no zone)")]


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"apim: {message}", err=True)
    raise typer.Exit(code)


def load_settings(data_dir: Path | None) -> config.Settings:
    overrides = {"data_dir": data_dir} if data_dir is not None else {}
    try:
        return config.load(**overrides)
    except config.ConfigError as exc:
        fail(str(exc).replace("\n", "\napim: "))


@app.command()
def up(
    data_dir: DataDir = None,
    simulate: Annotated[
        bool, typer.Option("--simulate/--no-simulate", help="run the traffic simulator")
    ] = True,
    rate: Annotated[
        float, typer.Option(min=0.1, help="simulated requests/s at the daily peak")
    ] = 20.0,
    history_hours: Annotated[
        float, typer.Option(min=0, help="hours of simulated history to send at start")
    ] = 6.0,
) -> None:
    """Run the whole pipeline: broker, worker, warehouse and dashboard (embedded by default)."""
    from apim.stack import Stack

    settings = load_settings(data_dir)
    logs.configure()
    stack = Stack(settings, simulate=simulate, rate=rate, history_hours=history_hours)
    try:
        asyncio.run(stack.run())
    except Exception as exc:
        fail(f"could not start: {exc}", 1)


FORMAT_HELP = (
    "log format: kong, tyk, apisix, envoy, envoy-json, traefik, nginx, nginx-json, aws-apigw, "
    "azure-apim, caddy, gravitee, mapping:<file.yaml> (docs/mapping.md), or auto"
)
SpoolMaxMb = Annotated[int, typer.Option(min=1, help="spool bound; reading pauses when it is full")]


@app.command()
def ingest(
    path: Annotated[str, typer.Argument(help="log file to ship (plain or gzip), or - for stdin")],
    fmt: Annotated[str, typer.Option("--format", "-f", help=FORMAT_HELP)],
    data_dir: DataDir = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="progress bar")] = True,
    spool_dir: Annotated[
        Path | None,
        typer.Option(
            help="disk buffer while Kafka is unreachable [default <data dir>/spool/<file>]"
        ),
    ] = None,
    spool_max_mb: SpoolMaxMb = 256,
) -> None:
    """Ship a gateway log file to Kafka; malformed lines end in the dead-letter topic.

    While Kafka is unreachable lines wait in a disk spool; when the spool is full reading
    pauses (loudly) rather than dropping anything. Run again to resume an interrupted spool.
    With --format auto the format is detected from the file's first lines (and the worker
    checks every message again)."""
    header = _format_header(fmt)
    if path != "-" and not Path(path).is_file():
        fail(f"{path}: no such file (give a log file path, or - for stdin)")
    if header == "auto" and path != "-":
        header = _detect_format(Path(path))
    settings = load_settings(data_dir)
    kafka_url = _kafka_url(settings)
    from ingest.files import ingest_file

    name = "stdin" if path == "-" else Path(path).name
    spool = _spool(spool_dir or settings.data_dir / "spool" / name, spool_max_mb)
    k = settings.kafka
    logs.configure("WARNING")
    try:
        result = asyncio.run(
            ingest_file(
                path,
                header,
                kafka_url,
                k.raw_topic,
                k.dlq_topic,
                spool=spool,
                show_progress=progress,
                hasher=_hasher(settings),
            )
        )
    except Exception as exc:
        fail(f"shipping {path} to {kafka_url} failed: {exc}", 1)
    typer.echo(f"sent {result.sent} lines, rejected {result.rejected}")


@app.command()
def tail(
    follow: Annotated[
        list[str],
        typer.Option(
            "--follow",
            "-F",
            help="FORMAT:GLOB of files to follow, e.g. nginx:'/var/log/nginx/access.log*' "
            "(quote globs; mapping:<file.yaml>:GLOB for a mapping); repeat for more",
        ),
    ],
    data_dir: DataDir = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="where positions in the files are kept [default <data dir>/tail/]"),
    ] = None,
    poll_s: Annotated[float, typer.Option(min=0.01, help="seconds between looks at idle files")] = (
        0.25
    ),
    rotate_wait_s: Annotated[
        float,
        typer.Option(
            min=0,
            help="a rotated-away file is closed, and a new gzip file read, after this long "
            "unchanged",
        ),
    ] = 5.0,
    retention_days: Annotated[
        float, typer.Option(min=0, help="forget the checkpoints of files gone for longer")
    ] = 7.0,
    spool_dir: Annotated[
        Path | None, typer.Option(help="disk buffer [default <data dir>/spool/tail]")
    ] = None,
    spool_max_mb: SpoolMaxMb = 256,
) -> None:
    """Follow live log files (rotation, copytruncate, gzip) until Ctrl-C, resuming from a
    checkpoint: a restart neither loses nor repeats lines."""
    from ingest.tail import Watch, parse_watch
    from ingest.tail import tail as run_tail

    watches = []
    for spec in follow:
        try:
            watch = parse_watch(spec)
        except ValueError as exc:
            fail(f"--follow {exc}")
        watches.append(Watch(watch.pattern, _format_header(watch.fmt)))
    settings = load_settings(data_dir)
    kafka_url = _kafka_url(settings)
    spool = _spool(spool_dir or settings.data_dir / "spool" / "tail", spool_max_mb)
    k = settings.kafka
    hasher = _hasher(settings)
    _serve_until_signal(
        settings,
        "tail",
        lambda stop: run_tail(
            watches,
            kafka_url,
            k.raw_topic,
            k.dlq_topic,
            checkpoint or settings.data_dir / "tail" / "checkpoints.json",
            stop,
            spool=spool,
            poll_s=poll_s,
            rotate_wait_s=rotate_wait_s,
            retention_s=retention_days * 86400,
            hasher=hasher,
        ),
    )


@app.command()
def backfill(
    paths: Annotated[
        list[str], typer.Argument(help="archived log files or quoted globs, plain or gzip")
    ],
    fmt: Annotated[str, typer.Option("--format", "-f", help=FORMAT_HELP)],
    data_dir: DataDir = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="where progress is kept; rerun with the same file to resume "
            "[default <data dir>/backfill/checkpoints.json]"
        ),
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="progress bar with rate and ETA")
    ] = True,
    spool_dir: Annotated[
        Path | None, typer.Option(help="disk buffer [default <data dir>/spool/backfill]")
    ] = None,
    spool_max_mb: SpoolMaxMb = 256,
) -> None:
    """Ship archived logs through the pipeline (event times kept), resumable: interrupt it
    and run the same command again to continue where it stopped."""
    from ingest.backfill import backfill as run_backfill
    from ingest.backfill import expand

    header = _format_header(fmt)
    try:
        files = expand(paths)
    except FileNotFoundError as exc:
        fail(str(exc))
    if header == "auto":
        header = _detect_format(files[0])
    settings = load_settings(data_dir)
    kafka_url = _kafka_url(settings)
    spool = _spool(spool_dir or settings.data_dir / "spool" / "backfill", spool_max_mb)
    k = settings.kafka
    logs.configure("WARNING")

    def run(stop: asyncio.Event):
        return run_backfill(
            files,
            header,
            kafka_url,
            k.raw_topic,
            k.dlq_topic,
            checkpoint or settings.data_dir / "backfill" / "checkpoints.json",
            spool=spool,
            stop=stop,
            show_progress=progress,
            hasher=hasher,
        )

    hasher = _hasher(settings)
    try:
        result = _run_until_signal(run)
    except Exception as exc:
        fail(f"backfill to {kafka_url} failed: {exc}", 1)
    typer.echo(
        f"sent {result.sent} lines, rejected {result.rejected}; "
        f"{result.shipped_files} files shipped, {result.skipped_files} already shipped"
    )
    for failure in result.failed:
        typer.echo(f"apim: {failure}", err=True)
    if result.stopped:
        fail("stopped: run the same command again to continue", 130)
    if result.failed:
        raise typer.Exit(1)


@app.command()
def receive(
    http: Annotated[
        bool,
        typer.Option(
            "--http/--no-http", help="serve the HTTP log receiver (POST /v1/logs/<format>)"
        ),
    ] = True,
    syslog: Annotated[
        list[str] | None,
        typer.Option(
            help="syslog listener udp|tcp:<port>[:<format>], e.g. udp:5514:nginx; repeat for more"
        ),
    ] = None,
    syslog_apps: Annotated[
        str,
        typer.Option(
            help="syslog app-name to format, e.g. nginx=nginx,haproxy=mapping:/etc/apim/haproxy.yaml"
        ),
    ] = "",
    data_dir: DataDir = None,
    spool_dir: Annotated[
        Path | None, typer.Option(help="disk buffer [default <data dir>/spool/receive]")
    ] = None,
    spool_max_mb: SpoolMaxMb = 256,
) -> None:
    """Take logs pushed by gateways (Kong http-log, APISIX http-logger, syslog from NGINX and
    HAProxy) until Ctrl-C; a sender gets its answer only once its lines are durable.
    Addresses, token and limits: the APIM_RECEIVER_* settings."""
    from ingest.http_receiver import HttpOptions, HttpReceiver
    from ingest.outbox import Outbox
    from ingest.receivers import serve
    from ingest.syslog import Listener, SyslogOptions, SyslogReceiver, parse_apps, parse_listener
    from processors.parsers import PARSERS

    try:
        listeners = [parse_listener(spec) for spec in syslog or []]
        apps = parse_apps(syslog_apps)
    except ValueError as exc:
        fail(f"--syslog: {exc}")
    listeners = [Listener(x.transport, x.port, x.fmt and _format_header(x.fmt)) for x in listeners]
    apps = {app_name: _format_header(f) for app_name, f in apps.items()}
    if not http and not listeners:
        fail("nothing to receive: keep --http or give --syslog udp|tcp:<port>[:<format>]")
    settings = load_settings(data_dir)
    kafka_url = _kafka_url(settings)
    r, k = settings.receiver, settings.kafka
    token = r.token.get_secret_value() if r.token else None
    hasher = _hasher(settings)
    try:
        outbox_spool = _spool(spool_dir or settings.data_dir / "spool" / "receive", spool_max_mb)

        def receivers(outbox: Outbox) -> list:
            built: list = []
            if http:
                formats = {name: name for name in PARSERS}
                built.append(
                    HttpReceiver(
                        outbox,
                        HttpOptions(
                            formats, r.host, r.http_port, token, r.max_body_bytes, r.inflight_bytes
                        ),
                        hasher,
                    )
                )
            if listeners:
                built.append(
                    SyslogReceiver(
                        outbox,
                        SyslogOptions(
                            listeners,
                            apps,
                            r.host,
                            r.syslog_max_frame_bytes,
                            r.syslog_pending_bytes,
                        ),
                        hasher,
                    )
                )
            return built

        def run(stop: asyncio.Event):
            outbox = Outbox(kafka_url, k.raw_topic, k.dlq_topic, outbox_spool)
            return serve(outbox, receivers(outbox), stop)

        _serve_until_signal(settings, "receive", run)
    except ValueError as exc:
        fail(str(exc))


@app.command()
def simulate(
    rate: Annotated[float, typer.Option(min=0.1, help="requests/s at the daily peak")] = 20.0,
    history_hours: Annotated[
        float, typer.Option(min=0, help="hours of history to send first")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="seed of the simulated API program")] = 42,
    data_dir: DataDir = None,
) -> None:
    """Send simulated gateway traffic to Kafka until Ctrl-C (a demo, or a load)."""
    from ingest.simulate import simulate as run_simulator

    settings = load_settings(data_dir)
    logs.configure()
    kafka_url = _kafka_url(settings)

    def run(stop: asyncio.Event):
        topic = settings.kafka.raw_topic
        return run_simulator(
            kafka_url, topic, stop, rate=rate, history_hours=history_hours, seed=seed
        )

    typer.echo(f"sent {_run_until_signal(run)} lines")


@app.command()
def usage(
    by: Annotated[
        str,
        typer.Option(
            help="comma-separated: consumer, endpoint, api, api_version, method, application, "
            "organisation, plan, country, client_family, minute, hour, day"
        ),
    ] = "consumer",
    where: Annotated[
        str | None,
        typer.Option(help="a segment, comma-separated: plan=pro,country=DE (same names as --by)"),
    ] = None,
    start: Start = None,
    end: End = None,
    fmt: Output = OutputFormat.csv,
    data_dir: DataDir = None,
) -> None:
    """Usage per group over a period (default: all data), exact counts and latency quantiles."""
    from warehouse.queries import QueryError, UsageQuery

    try:
        query = UsageQuery(
            by=tuple(d.strip() for d in by.split(",") if d.strip()),
            start=_time("--from", start),
            end=_time("--to", end),
            where=_segment(where),
        )
    except QueryError as exc:
        fail(str(exc))
    frame = _run(lambda wh: query.run(wh), data_dir)
    from warehouse.queries import USAGE_COLUMNS

    _print(frame.select([*query.by, *USAGE_COLUMNS]), fmt)


@app.command()
def sql(
    statement: Annotated[str, typer.Argument(help="a SELECT to run on the warehouse")],
    fmt: Output = OutputFormat.table,
    data_dir: DataDir = None,
) -> None:
    """Run SQL on the warehouse (through the running stack, or directly when none runs)."""
    _print(_run(lambda wh: wh.query_df(statement), data_dir), fmt)


@app.command("dead-letters")
def dead_letters(
    summary: Annotated[
        bool, typer.Option(help="count per source (file, topic, sender), format and reason")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="rows at most")] = 50,
    fmt: Output = OutputFormat.table,
    data_dir: DataDir = None,
) -> None:
    """Records that could not be parsed, with the reason and where they came from."""
    from warehouse.queries import DeadLetterQuery

    _print(_run(lambda wh: DeadLetterQuery(summary=summary, limit=limit).run(wh), data_dir), fmt)


@app.command()
def worker(data_dir: DataDir = None) -> None:
    """Run one Faust worker (production: one per container; scale with partitions)."""
    from processors.worker import run

    settings = load_settings(data_dir)
    logs.configure(settings.worker.log_level)
    try:
        run(settings)
    except config.ConfigError as exc:
        fail(str(exc))


@app.command()
def dashboard(data_dir: DataDir = None) -> None:
    """Serve the dashboards alone (production; `apim up` already serves them)."""
    import dashboards
    import warehouse

    settings = load_settings(data_dir)
    logs.configure()
    wh = _connect(settings)
    warehouse.migrate(wh, settings.clickhouse.raw_ttl_days)
    server = dashboards.serve(
        dashboards.create_app(wh), settings.dashboard.host, settings.dashboard.port
    )
    typer.echo(f"dashboard at {server.url} (Ctrl-C stops)")
    try:
        import signal

        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        server.shutdown()


def _format_header(fmt: str) -> str:
    """The `format` header for a --format value: a known name, auto, or a mapping file
    (checked now, sent as an absolute path: the worker opens it by that path)."""
    from processors.parsers import MAPPING_PREFIX, PARSERS, MappingError
    from processors.parsers.detect import AUTO
    from processors.parsers.mapping import validate_mapping

    if fmt == AUTO or fmt in PARSERS:
        return fmt
    if fmt.startswith(MAPPING_PREFIX):
        path = Path(fmt.removeprefix(MAPPING_PREFIX)).expanduser().resolve()
        try:
            validate_mapping(path)
        except MappingError as exc:
            fail(str(exc))
        return f"{MAPPING_PREFIX}{path}"
    fail(
        f"format {fmt!r} is not known: use one of {', '.join(sorted(PARSERS))}, "
        f"{MAPPING_PREFIX}<file.yaml> or {AUTO}"
    )


def _detect_format(path: Path) -> str:
    """--format auto for a file: detect it from its first lines, or say why not."""
    import gzip
    import itertools

    from processors.parsers import PARSERS, CredentialHasher
    from processors.parsers.detect import SAMPLE_LINES, detect

    with path.open("rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    with gzip.open(path) if gzipped else path.open("rb") as f:
        lines = [line.rstrip(b"\r\n") for line in itertools.islice(f, SAMPLE_LINES * 5)]
    detection = detect(lines, PARSERS, CredentialHasher(b"detect-only"))
    if detection.format is None:
        fail(f"{path}: {detection.reason}")
    typer.echo(f"{path}: {detection.reason}", err=True)
    return detection.format


def _hasher(settings: config.Settings) -> Callable[[str], str]:
    """The pipeline's credential hasher (the environment's secret, else the data dir's), for
    the shippers to hash credentials with before anything reaches Kafka."""
    from apim.credentials import CredentialHasher
    from apim.stack import hash_secret

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return CredentialHasher(hash_secret(settings, settings.data_dir.resolve()).encode())


def _spool(directory: Path, max_mb: int):
    from ingest.spool import Spool

    return Spool(directory, max_mb * 1024 * 1024)


def _serve_until_signal(settings: config.Settings, name: str, run) -> None:
    """Run a long-lived shipper (`run(stop)` coroutine) until SIGINT/SIGTERM, with logs and
    Prometheus metrics like every other long-running process."""
    from apim import metrics

    logs.configure()
    metrics.init_stages(metrics.INGEST)
    _, stop_metrics = metrics.publish(settings, f"{name}-{os.getpid()}")
    try:
        _run_until_signal(run)
    finally:
        stop_metrics()


def _run_until_signal(run: Callable[[asyncio.Event], Awaitable[T]]) -> T:
    """`asyncio.run(run(stop))`, where SIGINT and SIGTERM set `stop` (a clean stop)."""
    import signal

    async def main() -> T:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await run(stop)

    return asyncio.run(main())


def _segment(where: str | None) -> tuple[tuple[str, str], ...]:
    pairs = []
    for part in (where or "").split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep:
            fail(f"--where {part.strip()!r}: expected name=value, e.g. plan=pro")
        pairs.append((name.strip(), value.strip()))
    return tuple(pairs)


def _time(option: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not an ISO time: use e.g. 2026-01-31T00:00:00Z")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _kafka_url(settings: config.Settings) -> str:
    if settings.kafka.url:
        return settings.kafka.url
    from apim.stack import running_stack

    stack = running_stack(settings.data_dir)
    if stack is None:
        fail(
            f"no Kafka to ship to: start `apim up` (data dir {settings.data_dir}) "
            "or set APIM_KAFKA_URL"
        )
    return stack["kafka_url"]


def _connect(settings: config.Settings):
    import warehouse

    try:
        return warehouse.connect(settings)
    except warehouse.WarehouseError as exc:
        fail(f"warehouse {settings.clickhouse_url}: {exc}", 1)


def _run(query, data_dir: Path | None):
    import warehouse

    settings = load_settings(data_dir)
    wh = _connect(settings)
    try:
        return query(wh)
    except warehouse.WarehouseError as exc:
        fail(str(exc), 1)
    finally:
        wh.close()


def _print(frame, fmt: OutputFormat) -> None:
    if fmt is OutputFormat.csv:
        sys.stdout.write(_flat(frame).write_csv())
    elif fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(frame.to_dicts(), default=str, indent=1) + "\n")
    else:
        import polars as pl

        with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200, fmt_str_lengths=80):
            typer.echo(str(frame))


def _flat(frame):
    """CSV holds no maps or lists (headers, histograms): those columns become JSON text."""
    import polars as pl

    nested = [c for c, t in frame.schema.items() if t.is_nested()]
    return frame.with_columns(
        pl.Series(c, [json.dumps(v, default=str) for v in frame[c].to_list()], pl.String)
        for c in nested
    )


def main() -> None:
    app()


from apim import cli_registry  # noqa: E402, F401  (adds `registry`, `unmatched`, `erase`)
