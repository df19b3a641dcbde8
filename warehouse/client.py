"""How every process reaches ClickHouse: one small `Warehouse` interface, three ways in.

- `ClickHouseWarehouse`: clickhouse-connect on a server (`http://host:8123`) or on chDB
  (`chdb:///abs/dir`, in this process).
- `RemoteWarehouse`: the embedded stack's authenticated loopback API, used while `apim up`
  owns the chDB directory (a chDB directory opens in one process at a time).
- `connect(settings)` picks the right one: server URL → server; chDB directory owned by a
  running stack → its API; chDB directory free → open it here, holding its lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import polars as pl
import pyarrow as pa

from apim.processes import pid_alive
from apim.settings import Settings
from warehouse.errors import WarehouseBusyError, WarehouseError

Parameters = dict[str, Any] | None


class Warehouse(Protocol):
    """The whole surface the other stages use. Parameters are bound server-side
    (`{name:Type}` placeholders): no value is ever formatted into SQL."""

    def query_df(self, sql: str, parameters: Parameters = None) -> pl.DataFrame: ...

    def command(self, sql: str, parameters: Parameters = None) -> None: ...

    def insert_arrow(self, table: str, data: pa.Table) -> None: ...

    def close(self) -> None: ...


class ClickHouseWarehouse:
    """clickhouse-connect, on a ClickHouse server or on chDB in this process."""

    def __init__(self, client: Any, *, lock_file: Any = None) -> None:
        self._client = client
        self._lock_file = lock_file
        # chDB runs in-process: one statement at a time keeps its session consistent.
        self._serial = threading.Lock()

    def query_df(self, sql: str, parameters: Parameters = None) -> pl.DataFrame:
        with self._serial, _errors():
            return pl.from_arrow(self._client.query_arrow(sql, parameters=parameters or {}))

    def command(self, sql: str, parameters: Parameters = None) -> None:
        with self._serial, _errors():
            self._client.command(sql, parameters=parameters or {})

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        if data.num_rows == 0:
            return
        with self._serial, _errors():
            self._client.insert_arrow(table, data)

    def close(self) -> None:
        with self._serial:
            self._client.close()
            if self._lock_file is not None:
                self._lock_file.close()


class RemoteWarehouse:
    """The embedded stack's warehouse API (see `warehouse.service`)."""

    def __init__(self, url: str, token: str, timeout_s: float = 60.0) -> None:
        self._url = url.rstrip("/")
        self._token = token
        self._timeout_s = timeout_s

    def query_df(self, sql: str, parameters: Parameters = None) -> pl.DataFrame:
        body = self._post("/v1/query", _json_body(sql, parameters))
        return pl.from_arrow(pa.ipc.open_stream(body).read_all())

    def command(self, sql: str, parameters: Parameters = None) -> None:
        self._post("/v1/command", _json_body(sql, parameters))

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        if data.num_rows == 0:
            return
        self._post(f"/v1/insert/{table}", arrow_ipc(data), "application/vnd.apache.arrow.stream")

    def close(self) -> None:
        pass

    def _post(self, path: str, body: bytes, content_type: str = "application/json") -> bytes:
        request = urllib.request.Request(
            self._url + path,
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": content_type},
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise WarehouseError(f"warehouse API {path}: {exc.code} {detail}") from None
        except OSError as exc:
            raise WarehouseError(f"warehouse API at {self._url} unreachable: {exc}") from None


@dataclass(frozen=True)
class Owner:
    """The process that holds a chDB directory open and serves it on loopback."""

    pid: int
    url: str
    token: str


def owner_file(chdb_dir: Path) -> Path:
    return chdb_dir.with_name(chdb_dir.name + ".owner.json")


def read_owner(chdb_dir: Path) -> Owner | None:
    """The live owner of the directory, or None (a stale file of a dead process is ignored)."""
    try:
        data = json.loads(owner_file(chdb_dir).read_text())
        owner = Owner(int(data["pid"]), str(data["url"]), str(data["token"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return owner if pid_alive(owner.pid) else None


def connect(settings: Settings) -> Warehouse:
    """The warehouse for this process, by the rule in the module docstring."""
    url = settings.clickhouse_url
    if not url.startswith("chdb://"):
        import clickhouse_connect

        with _errors():
            client = clickhouse_connect.get_client(
                dsn=url,
                username=settings.clickhouse.username,
                password=settings.clickhouse.password.get_secret_value(),
            )
        return ClickHouseWarehouse(client)
    chdb_dir = Path(url.removeprefix("chdb://"))
    owner = read_owner(chdb_dir)
    if owner is not None and owner.pid != os.getpid():
        return RemoteWarehouse(owner.url, owner.token)
    return open_chdb(chdb_dir)


def open_chdb(chdb_dir: Path) -> ClickHouseWarehouse:
    """Open a chDB directory in this process, taking its lock for as long as it is open."""
    import clickhouse_connect

    chdb_dir.mkdir(parents=True, exist_ok=True)
    lock = open(chdb_dir.with_name(chdb_dir.name + ".lock"), "w")  # noqa: SIM115 - held open
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise WarehouseBusyError(
            f"{chdb_dir} is open in another process that serves no API; stop it and retry"
        ) from None
    with _errors():
        client = clickhouse_connect.get_client(dsn=f"chdb://{chdb_dir}")
    return ClickHouseWarehouse(client, lock_file=lock)


def arrow_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _json_body(sql: str, parameters: Parameters) -> bytes:
    return json.dumps({"sql": sql, "parameters": parameters or {}}, default=str).encode()


class _errors:
    """Turn driver exceptions into `WarehouseError` with the driver's message."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is not None and not isinstance(exc, WarehouseError) and isinstance(exc, Exception):
            raise WarehouseError(
                str(exc).strip().splitlines()[0] if str(exc) else repr(exc)
            ) from exc
        return False
