"""The fault of the outage test: a warehouse whose writes fail while a flag is set."""

from __future__ import annotations

import threading

import pyarrow as pa

import warehouse

INJECTED = "injected fault: ClickHouse writes are down"


class FaultyWarehouse:
    """The test process's chDB warehouse, with writes that fail while `failing` is set.

    This is the fault injected at the client layer in embedded mode: the worker reaches
    chDB only through the warehouse API that the test process serves (`WarehouseService`),
    and that API calls this wrapper, so while the flag is set every INSERT (and every other
    statement that changes something) the worker sends is refused with `WarehouseError`,
    the same error the worker gets when a ClickHouse server is unreachable. Reads still work,
    so the worker fails at the write, after having parsed and counted a batch.
    """

    def __init__(self, wh: warehouse.Warehouse) -> None:
        self._wh = wh
        self.failing = threading.Event()
        self.refused = 0
        self._lock = threading.Lock()

    def _check(self, what: str) -> None:
        if self.failing.is_set():
            with self._lock:
                self.refused += 1
            raise warehouse.WarehouseError(f"{INJECTED} ({what})")

    def query_df(self, sql: str, parameters: dict | None = None):
        return self._wh.query_df(sql, parameters)

    def command(self, sql: str, parameters: dict | None = None) -> None:
        self._check("command")
        self._wh.command(sql, parameters)

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        self._check(f"insert into {table}")
        self._wh.insert_arrow(table, data)

    def close(self) -> None:
        self._wh.close()
