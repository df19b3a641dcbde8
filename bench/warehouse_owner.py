"""Child: own one fresh chDB directory and serve it, the way `apim up` does.

`python -m bench.warehouse_owner <chdb dir>` opens chDB, migrates it, starts
`WarehouseService` on loopback (which writes `<dir>.owner.json`, where workers find it)
and prints `ready <url> <token>`. It stops when stdin closes or on SIGTERM.

A separate process rather than the bench itself: chDB opens one directory per process,
each measurement wants a fresh one, and the bench's own work (polling, reading children)
must not take the GIL from the thread that serves the workers' inserts.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import warehouse
from apim import logs
from warehouse.service import WarehouseService

RAW_TTL_DAYS = 30


def main() -> None:
    chdb_dir = Path(sys.argv[1])
    logs.configure("WARNING", json=False)
    wh = warehouse.open_chdb(chdb_dir)
    warehouse.migrate(wh, RAW_TTL_DAYS)
    service = WarehouseService(wh, chdb_dir, "127.0.0.1", 0)
    service.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    print(f"ready {service.url} {service.token}", flush=True)
    done.wait()
    service.stop()
    wh.close()


if __name__ == "__main__":
    main()
