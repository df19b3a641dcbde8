"""`apim registry …`, `apim unmatched` and `apim erase`: who the consumers are, what the API
specs miss, and deleting one consumer's data on request.

Registry changes go to the registry topic, which every worker (and `apim up`'s registry API)
follows, so they apply to new events without a restart. Credentials in imported files are
hashed with the pipeline's key before anything is sent; the clear keys go nowhere.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer

from apim import logs
from apim import settings as config
from apim.cli import (
    DataDir,
    End,
    Output,
    OutputFormat,
    Start,
    _connect,
    _hasher,
    _kafka_url,
    _print,
    _run,
    _run_until_signal,
    _time,
    app,
    fail,
    load_settings,
)

registry = typer.Typer(
    no_args_is_help=True,
    help="The consumer registry: organisations, consumers, applications, credentials, plans.",
)
app.add_typer(registry, name="registry")


@registry.command("import")
def import_files(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="registry YAML or CSV, Kong /consumers or /key-auths JSON, Tyk keys or policies "
            "JSON (docs/registry.md)",
        ),
    ],
    data_dir: DataDir = None,
) -> None:
    """Add or update registry entities from files; workers apply them to new events at once."""
    from processors.registry.imports import RegistryFileError, load_registry_file
    from processors.registry.topic import publish

    settings = load_settings(data_dir)
    hasher = _hasher(settings)
    changes = []
    for path in files:
        if not path.is_file():
            fail(f"{path}: no such file")
        try:
            changes += load_registry_file(path, hasher)
        except RegistryFileError as exc:
            fail(str(exc))
    asyncio.run(publish(_kafka_url(settings), settings.registry.topic, changes))
    kinds = sorted({c.kind for c in changes})
    typer.echo(f"imported {len(changes)} entities ({', '.join(kinds) or 'none'})", err=True)


@registry.command("export")
def export(data_dir: DataDir = None) -> None:
    """The registry as a registry YAML file (credentials as keyed hashes only)."""
    from processors.registry.imports import dump_registry

    typer.echo(dump_registry(_current(load_settings(data_dir)).snapshot()), nl=False)


@registry.command("list")
def list_entities(
    kind: Annotated[
        str, typer.Argument(help="plan, organisation, consumer, application or credential")
    ] = "consumer",
    fmt: Output = OutputFormat.table,
    data_dir: DataDir = None,
) -> None:
    """The registry's entities of one kind."""
    import msgspec
    import polars as pl

    from processors.registry.model import KINDS

    if kind not in KINDS:
        fail(f"unknown kind {kind!r}: choose from {', '.join(KINDS)}")
    entities = _current(load_settings(data_dir)).entities(kind)
    rows = [msgspec.to_builtins(e) for e in entities]
    _print(pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame(), fmt)


@registry.command("unknown")
def unknown(
    start: Start = None,
    end: End = None,
    fmt: Output = OutputFormat.table,
    data_dir: DataDir = None,
) -> None:
    """Credentials seen in traffic that the registry does not know, busiest first: add them
    (by hash) to a registry file to name their consumer."""
    from warehouse.queries import QueryError, UnknownCredentialsQuery

    try:
        query = UnknownCredentialsQuery(start=_time("--from", start), end=_time("--to", end))
    except QueryError as exc:
        fail(str(exc))
    _print(_run(query.run, data_dir), fmt)


@registry.command("serve")
def serve(data_dir: DataDir = None) -> None:
    """Serve the registry HTTP API alone (production; `apim up` already serves it)."""
    from processors.registry.service import RegistryService

    settings = load_settings(data_dir)
    r = settings.registry
    token = r.token.get_secret_value() if r.token else None
    try:
        service = RegistryService(
            _kafka_url(settings), r.topic, _hasher(settings), r.host, r.port, token
        )
    except ValueError as exc:
        fail(str(exc))

    async def main(stop: asyncio.Event) -> None:
        typer.echo(f"registry API on {await service.start()}", err=True)
        try:
            await stop.wait()
        finally:
            await service.stop()

    logs.configure()
    try:
        _run_until_signal(main)
    except OSError as exc:
        fail(str(exc), 1)


@app.command()
def unmatched(
    start: Start = None,
    end: End = None,
    fmt: Output = OutputFormat.table,
    data_dir: DataDir = None,
) -> None:
    """Requests to catalog APIs that no path of their OpenAPI document matched, per API,
    version and folded endpoint: what the specs miss."""
    from warehouse.queries import QueryError, UsageQuery

    try:
        query = UsageQuery(
            by=("api", "api_version", "endpoint"),
            start=_time("--from", start),
            end=_time("--to", end),
        )
    except QueryError as exc:
        fail(str(exc))
    frame = _run(query.run, data_dir)
    columns = ["api", "api_version", "endpoint", "spec_unmatched", "requests"]
    _print(frame.filter(frame["spec_unmatched"] > 0).select(columns), fmt)


@app.command()
def erase(
    consumer: Annotated[str, typer.Argument(help="the consumer as the dashboards show it")],
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    settle_s: Annotated[
        float, typer.Option("--settle-seconds", min=0, help="wait for workers to forget it")
    ] = 5.0,
    data_dir: DataDir = None,
) -> None:
    """Delete every trace of one consumer (right to erasure): raw events, usage rollups,
    dead letters naming it, and its registry entities (consumer, applications, credentials).

    Traffic of the consumer still in Kafka when this runs is counted again when processed:
    block the consumer at the gateway first, or erase once the pipeline has caught up."""
    from processors.registry.topic import Erasure, publish
    from warehouse.erasure import erase_consumer

    settings = load_settings(data_dir)
    if not yes:
        typer.confirm(f"Delete all data of consumer {consumer!r}?", abort=True)
    hasher = _hasher(settings)
    names, deletions = _traces(_current(settings), consumer)
    wh = _connect(settings)
    try:
        ids = [(c.kind, c.id) for c in deletions]
        deleted = erase_consumer(wh, names, ids)
        markers = [Erasure(hasher(name)) for name in names]
        asyncio.run(publish(_kafka_url(settings), settings.registry.topic, [*deletions, *markers]))
        time.sleep(settle_s)  # a worker's batch in flight may write its cells once more
        again = erase_consumer(wh, names, ids)
    finally:
        wh.close()
    typer.echo(
        f"erased {consumer!r}, also known as: {', '.join(names[1:]) or 'nothing else'}", err=True
    )
    for table, rows in deleted.items():
        typer.echo(f"{table}: {rows + again[table]} rows deleted", err=True)


def _traces(current, consumer: str) -> tuple[list[str], list]:
    """Every name the consumer's data is stored under (`consumer` first: its id, aliases,
    `unknown:…` of its credentials) and its registry entities, as deletions."""
    from apim.event import unknown_consumer
    from processors.registry.model import deletion

    found = current.get("consumer", consumer) or next(
        (c for c in current.entities("consumer") if consumer in c.aliases), None
    )
    if found is None:
        return [consumer], []
    own = {found.id, *found.aliases}  # a credential may name its consumer by an alias
    apps = [a for a in current.entities("application") if a.consumer_id in own]
    credentials = [c for c in current.entities("credential") if c.consumer_id in own]
    names = dict.fromkeys(
        [consumer, found.id, *found.aliases, *(unknown_consumer(c.hash) for c in credentials)]
    )
    deletions = [
        *(deletion("credential", c.hash) for c in credentials),
        *(deletion("application", a.id) for a in apps),
        deletion("consumer", found.id),
    ]
    return list(names), deletions


def _current(settings: config.Settings):
    """The registry as the registry topic holds it now."""
    from processors.registry.model import Change
    from processors.registry.registry import Registry
    from processors.registry.topic import ensure_registry_topic, read_all

    async def updates() -> list:
        url, topic = _kafka_url(settings), settings.registry.topic
        await ensure_registry_topic(url, topic)
        return (await read_all(url, topic))[0]

    return Registry([u for u in asyncio.run(updates()) if isinstance(u, Change)])
