"""Overview: how much the APIs are used, by whom, how well, over a chosen time range.

For product owners: KPI cards (requests, active consumers, 5xx and 4xx rates, p50/p95/p99
latency), time series (requests by status class, error rates, latency, active consumers),
the busiest endpoints and consumers, refreshed every 10 s. Data comes only from
`warehouse.queries` values; `load` gathers it, `render` turns it into components, and the
callback below the layout re-renders on a range change or a refresh tick.

Deep link to a range with `/?range=7d` (see `dashboards.timerange.PRESETS`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dash
import plotly.graph_objects as go
import polars as pl
from dash import Input, Output, dcc, html

from dashboards.app import current_warehouse
from dashboards.components import (
    COLORS,
    chart_card,
    data_table,
    figure,
    fmt_count,
    fmt_ms,
    fmt_rate,
    kpi_card,
    notice,
)
from dashboards.overview_data import Overview, load
from dashboards.timerange import DEFAULT_PRESET, PRESETS
from warehouse import Warehouse, WarehouseError

dash.register_page(__name__, path="/", name="Overview", title="Overview · API analytics", order=0)

REFRESH_MS = 10_000
_TOP_COLUMNS = (("requests", "Requests"), ("4xx", "4xx"), ("5xx", "5xx"), ("p95", "p95 ms"))


def render(wh: Warehouse, preset: str | None, now: datetime | None = None) -> tuple[Any, Any]:
    """(page body, data note) for `preset`; raises `WarehouseError` when the warehouse fails."""
    overview = load(wh, preset, now)
    if overview is None:
        body = notice(
            "overview-empty",
            "No data yet",
            "Nothing has reached the warehouse so far. As soon as gateway access logs flow "
            "through the pipeline, usage shows up here; this page refreshes every 10 seconds.",
        )
        return body, "No data yet"
    return render_body(overview), data_note(overview, now or datetime.now(UTC))


def render_body(o: Overview) -> list[Any]:
    header = html.P(f"Showing {o.range.label}", id="overview-range-label", className="muted")
    if o.totals is None:
        return [
            header,
            notice(
                "overview-empty",
                "No requests in this range",
                "Pick a longer range to see older traffic.",
            ),
        ]
    return [header, kpis(o.totals), charts(o), top_tables(o)]


def data_note(o: Overview, now: datetime) -> str:
    """The completeness note: up to which minute the data goes."""
    last = o.span.last
    note = f"Data up to {last:%d %b %Y %H:%M} UTC"
    behind = now - o.span.end
    if behind.total_seconds() > 15 * 60:
        note += f" ({_age(behind.total_seconds())} ago: ranges end at the newest data)"
    return note + " · refreshes every 10 s"


def kpis(t: dict[str, Any]) -> html.Div:
    requests = t["requests"]
    return html.Div(
        [
            kpi_card("overview-kpi-requests", "Requests", fmt_count(requests), "in the range"),
            kpi_card(
                "overview-kpi-consumers",
                "Active consumers",
                fmt_count(t["consumers"]),
                "identified callers",
            ),
            kpi_card(
                "overview-kpi-error-rate",
                "Error rate (5xx)",
                fmt_rate(t["error_rate"]),
                f"{fmt_count(t['status_5xx'])} server errors",
            ),
            kpi_card(
                "overview-kpi-client-error-rate",
                "Client errors (4xx)",
                fmt_rate(t["client_error_rate"]),
                f"{fmt_count(t['status_4xx'])} rejected requests",
            ),
            kpi_card("overview-kpi-p50", "Latency p50", fmt_ms(t["latency_p50_ms"]), "median"),
            kpi_card(
                "overview-kpi-p95", "Latency p95", fmt_ms(t["latency_p95_ms"]), "95th percentile"
            ),
            kpi_card(
                "overview-kpi-p99", "Latency p99", fmt_ms(t["latency_p99_ms"]), "99th percentile"
            ),
        ],
        id="overview-kpis",
        className="kpis",
    )


def charts(o: Overview) -> html.Div:
    s = o.series
    x = s["bucket"].dt.replace_time_zone(None).to_list()
    revision = o.range.preset
    classified = s["status_2xx"] + s["status_3xx"] + s["status_4xx"] + s["status_5xx"]
    other = s["requests"] - classified
    status = [
        go.Bar(x=x, y=s[f"status_{c}"].to_list(), name=c, marker_color=COLORS[c])
        for c in ("2xx", "3xx", "4xx", "5xx")
    ]
    if other.sum():
        status.append(go.Bar(x=x, y=other.to_list(), name="other", marker_color=COLORS["other"]))
    rates = [
        _line(x, (s["error_rate"] * 100).to_list(), "5xx", COLORS["5xx"], "%{y:.2f}%"),
        _line(x, (s["client_error_rate"] * 100).to_list(), "4xx", COLORS["4xx"], "%{y:.2f}%"),
    ]
    latency = [
        _line(x, s[f"latency_{q}_ms"].to_list(), q, COLORS[q], "%{y:,.1f} ms")
        for q in ("p50", "p95", "p99")
    ]
    consumers = [
        go.Bar(
            x=x,
            y=s["consumers"].to_list(),
            name="consumers",
            marker_color=COLORS["consumers"],
            showlegend=False,
        )
    ]
    per = o.range.bucket
    return html.Div(
        [
            chart_card(
                "overview-graph-requests",
                f"Requests per {per}, by status",
                figure(status, stacked=True, revision=revision),
            ),
            chart_card(
                "overview-graph-errors",
                f"Error rates per {per}",
                figure(rates, y_suffix="%", revision=revision),
            ),
            chart_card(
                "overview-graph-latency",
                f"Latency per {per}",
                figure(latency, y_suffix=" ms", revision=revision),
            ),
            chart_card(
                "overview-graph-consumers",
                f"Active consumers per {per}",
                figure(consumers, revision=revision),
            ),
        ],
        className="charts",
    )


def _top_card(title: str, table_id: str, key: str, frame: pl.DataFrame) -> html.Div:
    return html.Div(
        [
            html.H3(title, className="card-title"),
            data_table(table_id, ((key, key.capitalize()), *_TOP_COLUMNS), top_rows(frame, key)),
        ],
        className="card",
    )


def top_tables(o: Overview) -> html.Div:
    return html.Div(
        [
            _top_card("Top endpoints", "overview-top-endpoints", "endpoint", o.top_endpoints),
            _top_card("Top consumers", "overview-top-consumers", "consumer", o.top_consumers),
        ],
        className="tables",
    )


def top_rows(frame: pl.DataFrame, key: str) -> list[dict[str, str]]:
    """Formatted rows of a top-N table: key, requests, 4xx, 5xx, p95."""
    return [
        {
            key: r[key] or "(none)",
            "requests": fmt_count(r["requests"]),
            "4xx": fmt_count(r["status_4xx"]),
            "5xx": fmt_count(r["status_5xx"]),
            "p95": "–" if r["latency_p95_ms"] is None else f"{r['latency_p95_ms']:,.1f}",
        }
        for r in frame.iter_rows(named=True)
    ]


def _line(x: list, y: list, name: str, color: str, hover: str) -> go.Scatter:
    return go.Scatter(
        x=x,
        y=y,
        name=name,
        mode="lines+markers" if len(x) <= 60 else "lines",
        line={"color": color, "width": 2},
        marker={"size": 4},
        hovertemplate=hover,
        connectgaps=False,
    )


def _age(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} d"


def layout(**query: str) -> html.Div:
    """The page, rendered with fresh data on each load; `?range=` picks the preset."""
    preset = query.get("range") if query.get("range") in PRESETS else DEFAULT_PRESET
    try:
        body, note = render(current_warehouse(), preset)
    except WarehouseError as exc:
        body, note = _unavailable(exc), "Warehouse unavailable"
    return html.Div(
        [
            html.Div(
                [
                    html.Div(
                        [
                            html.H1("Overview"),
                            html.P(note, id="overview-data-note", className="muted"),
                        ]
                    ),
                    dcc.RadioItems(
                        id="overview-range",
                        options=[{"label": p.label, "value": p.key} for p in PRESETS.values()],
                        value=preset,
                        inline=True,
                        className="range-picker",
                    ),
                ],
                className="page-header",
            ),
            html.Div(body, id="overview-content"),
            dcc.Interval(id="overview-refresh", interval=REFRESH_MS),
        ],
        className="page",
    )


@dash.callback(
    Output("overview-content", "children"),
    Output("overview-data-note", "children"),
    Input("overview-range", "value"),
    Input("overview-refresh", "n_intervals"),
    prevent_initial_call=True,
)
def refresh(preset: str | None, _ticks: int | None) -> tuple[Any, Any]:
    """Re-render on a range change or a refresh tick; on a failed refresh keep what is shown."""
    try:
        return render(current_warehouse(), preset)
    except WarehouseError as exc:
        if dash.ctx.triggered_id == "overview-refresh":
            return dash.no_update, f"Refresh failed, retrying in 10 s: {exc}"
        return _unavailable(exc), "Warehouse unavailable"


def _unavailable(exc: Exception) -> html.Div:
    return notice(
        "overview-unavailable",
        "The warehouse is not reachable",
        f"{exc}. The page retries every 10 seconds.",
        kind="warning",
    )
