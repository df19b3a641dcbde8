"""The Dash app: a shell (title bar, navigation from `dash.page_registry`) around Dash Pages.

Pages are `dashboards/pages/<page>.py` files calling `dash.register_page`; each reads the
warehouse with `current_warehouse()` and runs `warehouse.queries` values on it, never SQL.
Everything is served locally (no CDN, no external stylesheets): the look comes from
`dashboards/assets/`.

    app = create_app(wh)                       # the warehouse reaches every page
    server = serve(app, "127.0.0.1", 0)        # background thread; server.url
    ...
    server.shutdown()

Dash Pages keeps its page registry and `dash.callback`s process-global, so one app is live
per process: the newest `create_app` wins (its warehouse is also what `current_warehouse()`
returns outside a request).
"""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path

import dash
import flask
from dash import ALL, Input, Output, State, dcc, html
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from warehouse import Warehouse

TITLE = "API analytics"
WAREHOUSE_KEY = "APIM_WAREHOUSE"
"""Where `create_app` puts the warehouse in the Flask config."""
PACKAGE_DIR = Path(__file__).resolve().parent

_latest: Warehouse | None = None
log = logging.getLogger(__name__)


def current_warehouse() -> Warehouse:
    """The warehouse of the app serving this request (outside one: of the newest app)."""
    if flask.has_app_context():
        wh = flask.current_app.config.get(WAREHOUSE_KEY)
        if wh is not None:
            return wh
    if _latest is None:
        raise RuntimeError("no dashboards app: call dashboards.create_app(wh) first")
    return _latest


def create_app(wh: Warehouse, *, debug: bool = False) -> dash.Dash:
    """The dashboards app on `wh`. `debug` turns on Dash's dev tools (error overlay,
    prop checks), never hot reload or the online version check."""
    global _latest
    _latest = wh
    app = dash.Dash(
        "dashboards",
        use_pages=True,
        pages_folder=str(PACKAGE_DIR / "pages"),
        assets_folder=str(PACKAGE_DIR / "assets"),
        serve_locally=True,
        external_stylesheets=[],
        external_scripts=[],
        title=TITLE,
        update_title=None,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    _drop_superseded_page_callbacks()
    app.server.config[WAREHOUSE_KEY] = wh
    app.layout = _shell
    app.clientside_callback(
        """
        function(pathname, ids) {
            return ids.map(function(id) {
                return id.index === pathname ? "nav-link active" : "nav-link";
            });
        }
        """,
        Output({"type": "nav-link", "index": ALL}, "className"),
        Input("nav-location", "pathname"),
        State({"type": "nav-link", "index": ALL}, "id"),
    )
    if debug:
        app.enable_dev_tools(
            debug=True,
            dev_tools_hot_reload=False,
            dev_tools_disable_version_check=True,
            dev_tools_silence_routes_logging=False,
        )
    return app


def _shell() -> html.Div:
    pages = sorted(
        dash.page_registry.values(), key=lambda p: (p.get("order") is None, p.get("order") or 0)
    )
    nav = [
        dcc.Link(
            page["name"],
            href=page["relative_path"],
            id={"type": "nav-link", "index": page["relative_path"]},
            className="nav-link",
        )
        for page in pages
    ]
    return html.Div(
        [
            dcc.Location(id="nav-location"),
            html.Header(
                html.Div(
                    [html.Div(TITLE, className="brand"), html.Nav(nav, className="nav")],
                    className="topbar-inner",
                ),
                className="topbar",
            ),
            html.Main(dash.page_container, className="main"),
        ],
        className="app",
    )


def _drop_superseded_page_callbacks() -> None:
    """Dash re-runs every page module for each new app, so `dash.callback`s no app has
    claimed yet (an earlier app that never served a request) would be registered twice.
    Keep the newest registration of each output."""
    pending = dash._callback.GLOBAL_CALLBACK_LIST
    newest = {spec["output"]: i for i, spec in enumerate(pending)}
    pending[:] = [spec for i, spec in enumerate(pending) if newest[spec["output"]] == i]


class Server:
    """A Dash app served by werkzeug in a background thread."""

    def __init__(self, httpd: BaseWSGIServer, url: str) -> None:
        self._httpd = httpd
        self.url = url
        self.port: int = httpd.port
        self._thread = threading.Thread(
            target=httpd.serve_forever, name=f"dashboards:{self.port}", daemon=True
        )
        self._thread.start()

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop serving and release the port; safe to call twice."""
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(timeout_s)
        self._httpd.server_close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


class _QuietHandler(WSGIRequestHandler):
    """Logs failed requests only: the page polls every 10 s."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if str(code).isdigit() and int(code) >= 400:
            super().log_request(code, size)


def serve(app: dash.Dash, host: str, port: int) -> Server:
    """Serve `app` on host:port (0: any free port) in a background thread.

    Raises OSError when the port is taken (werkzeug alone would print and exit)."""
    try:
        sock = socket.create_server((host, port))
    except OSError as exc:
        raise OSError(
            f"dashboard address {host}:{port} is not available ({exc.strerror.split(' (')[0]}): "
            "stop what uses it or set APIM_DASHBOARD_PORT"
        ) from None
    with sock:  # werkzeug serves a duplicate of this socket
        httpd = make_server(
            host,
            sock.getsockname()[1],
            app.server,
            threaded=True,
            request_handler=_QuietHandler,
            fd=sock.fileno(),
        )
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else "::1" if host == "::" else host
    if ":" in shown:
        shown = f"[{shown}]"
    url = f"http://{shown}:{httpd.port}/"
    log.info("dashboards serving at %s", url)
    return Server(httpd, url)
