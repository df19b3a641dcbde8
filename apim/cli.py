"""`apim`: the one command. Each subcommand wires stages together; the stages do the work.

Errors a user can fix (bad settings, bad arguments, nothing running) end in one line on
stderr saying what is wrong and how to fix it, with exit code 2 (1 for runtime failures).
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

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


@app.command()
def ingest(
    path: Annotated[str, typer.Argument(help="log file to ship, or - for stdin")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="log format: kong or nginx")],
    data_dir: DataDir = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="progress bar")] = True,
    spool_dir: Annotated[
        Path | None,
        typer.Option(
            help="disk buffer while Kafka is unreachable [default <data dir>/spool/<file>]"
        ),
    ] = None,
    spool_max_mb: Annotated[
        int, typer.Option(min=1, help="spool bound; reading pauses when it is full")
    ] = 256,
) -> None:
    """Ship a gateway log file to Kafka; malformed lines end in the dead-letter topic.

    While Kafka is unreachable lines wait in a disk spool; when the spool is full reading
    pauses (loudly) rather than dropping anything. Run again to resume an interrupted spool."""
    from processors.parsers import PARSERS

    if fmt not in PARSERS:
        fail(f"--format {fmt!r} is not known: use one of {', '.join(sorted(PARSERS))}")
    if path != "-" and not Path(path).is_file():
        fail(f"{path}: no such file (give a log file path, or - for stdin)")
    settings = load_settings(data_dir)
    kafka_url = _kafka_url(settings)
    from ingest.files import ingest_file
    from ingest.spool import Spool

    name = "stdin" if path == "-" else Path(path).name
    spool = Spool(spool_dir or settings.data_dir / "spool" / name, spool_max_mb * 1024 * 1024)
    k = settings.kafka
    logs.configure("WARNING")
    try:
        result = asyncio.run(
            ingest_file(
                path, fmt, kafka_url, k.raw_topic, k.dlq_topic, spool=spool, show_progress=progress
            )
        )
    except Exception as exc:
        fail(f"shipping {path} to {kafka_url} failed: {exc}", 1)
    typer.echo(f"sent {result.sent} lines, rejected {result.rejected}")


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
    import signal

    from ingest.simulate import simulate as run_simulator

    settings = load_settings(data_dir)
    logs.configure()
    kafka_url = _kafka_url(settings)

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        topic = settings.kafka.raw_topic
        return await run_simulator(
            kafka_url, topic, stop, rate=rate, history_hours=history_hours, seed=seed
        )

    typer.echo(f"sent {asyncio.run(main())} lines")


@app.command()
def usage(
    by: Annotated[
        str,
        typer.Option(help="comma-separated: consumer, endpoint, api, method, minute, hour, day"),
    ] = "consumer",
    start: Annotated[
        str | None, typer.Option("--from", help="ISO time, inclusive (UTC if no zone)")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="ISO time, exclusive (UTC if no zone)")
    ] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="output format")] = OutputFormat.csv,
    data_dir: DataDir = None,
) -> None:
    """Usage per group over a period (default: all data), exact counts and latency quantiles."""
    from warehouse.queries import QueryError, UsageQuery

    try:
        query = UsageQuery(
            by=tuple(d.strip() for d in by.split(",") if d.strip()),
            start=_time("--from", start),
            end=_time("--to", end),
        )
    except QueryError as exc:
        fail(str(exc))
    frame = _run(lambda wh: query.run(wh), data_dir)
    from warehouse.queries import USAGE_COLUMNS

    _print(frame.select([*query.by, *USAGE_COLUMNS]), fmt)


@app.command()
def sql(
    statement: Annotated[str, typer.Argument(help="a SELECT to run on the warehouse")],
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="output format")
    ] = OutputFormat.table,
    data_dir: DataDir = None,
) -> None:
    """Run SQL on the warehouse (through the running stack, or directly when none runs)."""
    _print(_run(lambda wh: wh.query_df(statement), data_dir), fmt)


@app.command("dead-letters")
def dead_letters(
    summary: Annotated[bool, typer.Option(help="count per format and reason")] = False,
    limit: Annotated[int, typer.Option(min=1, help="rows at most")] = 50,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="output format")
    ] = OutputFormat.table,
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
        sys.stdout.write(frame.write_csv())
    elif fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(frame.to_dicts(), default=str, indent=1) + "\n")
    else:
        import polars as pl

        with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200, fmt_str_lengths=80):
            typer.echo(str(frame))


def main() -> None:
    app()
