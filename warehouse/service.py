"""The embedded stack's warehouse API: the one process that opened chDB serves it to the others.

Loopback by default, every request authenticated with a bearer token that is generated at
start and written, with the URL and pid, to `<chdb dir>.owner.json` (mode 0600). Other
processes find it there (`warehouse.client.connect`). Endpoints, all POST:
    /v1/query    {"sql", "parameters"} → Arrow IPC stream
    /v1/command  {"sql", "parameters"} → 204
    /v1/insert/<table>  Arrow IPC stream body → 204
It is not used with a ClickHouse server, which every process reaches directly.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import secrets
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa

from apim import logs
from warehouse.client import ClickHouseWarehouse, arrow_ipc, owner_file
from warehouse.errors import WarehouseError

log = logs.get(__name__)
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_BODY = 256 * 1024 * 1024


class WarehouseService:
    """Serve `wh` on host:port in a background thread until `stop()`."""

    def __init__(self, wh: ClickHouseWarehouse, chdb_dir: Path, host: str, port: int) -> None:
        self.wh = wh
        self.token = secrets.token_urlsafe(32)
        self._owner_file = owner_file(chdb_dir)
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()
        fd = os.open(self._owner_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"pid": os.getpid(), "url": self.url, "token": self.token}, out)
        log.info("warehouse API serving", url=self.url)

    def stop(self) -> None:
        self._owner_file.unlink(missing_ok=True)
        self._server.shutdown()
        self._server.server_close()


def _handler_for(service: WarehouseService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if not self._authorized():
                self._reply(HTTPStatus.UNAUTHORIZED, b"missing or wrong bearer token")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"body too large")
                return
            body = self.rfile.read(length)
            try:
                self._dispatch(body)
            except WarehouseError as exc:
                self._reply(HTTPStatus.BAD_REQUEST, str(exc).encode())
            except (ValueError, KeyError, pa.ArrowException) as exc:
                self._reply(HTTPStatus.BAD_REQUEST, f"bad request: {exc}".encode())

        def _dispatch(self, body: bytes) -> None:
            if self.path == "/v1/query":
                request = json.loads(body)
                table = service.wh.query_df(request["sql"], request.get("parameters"))
                self._reply(HTTPStatus.OK, arrow_ipc(table.to_arrow()))
            elif self.path == "/v1/command":
                request = json.loads(body)
                service.wh.command(request["sql"], request.get("parameters"))
                self._reply(HTTPStatus.NO_CONTENT, b"")
            elif self.path.startswith("/v1/insert/") and _TABLE.match(self.path[11:]):
                data = pa.ipc.open_stream(body).read_all()
                service.wh.insert_arrow(self.path[11:], data)
                self._reply(HTTPStatus.NO_CONTENT, b"")
            else:
                self._reply(HTTPStatus.NOT_FOUND, b"no such endpoint")

        def _authorized(self) -> bool:
            given = self.headers.get("Authorization", "")
            return hmac.compare_digest(given.encode(), f"Bearer {service.token}".encode())

        def _reply(self, status: HTTPStatus, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("warehouse API request", request=format % args)

    return Handler
