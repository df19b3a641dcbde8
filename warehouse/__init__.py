"""The warehouse stage: ClickHouse schema and migrations, the one client interface, queries.

Other stages use only what is exported here: `connect` a `Warehouse`, `migrate` it, and
run the query values of `warehouse.queries` against it.
"""

from warehouse.client import RemoteWarehouse, Warehouse, connect, open_chdb, read_owner
from warehouse.errors import WarehouseBusyError, WarehouseError
from warehouse.schema import migrate

__all__ = [
    "RemoteWarehouse",
    "Warehouse",
    "WarehouseBusyError",
    "WarehouseError",
    "connect",
    "migrate",
    "open_chdb",
    "read_owner",
]
