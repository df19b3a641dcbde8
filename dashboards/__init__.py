"""The dashboards stage: a Dash app (Dash Pages) over the warehouse, for product owners.

Pages live in `dashboards/pages/`, one file each; they read data only through
`warehouse.queries` values. `create_app(wh)` builds the app on a warehouse handle, which
pages reach with `dashboards.app.current_warehouse()`; `serve(app, host, port)` runs it
in a background thread (`.url`, `.shutdown()`).

    server = serve(create_app(wh), "127.0.0.1", 8050)
"""

from dashboards.app import Server, create_app, current_warehouse, serve

__all__ = ["Server", "create_app", "current_warehouse", "serve"]
