"""Overview: how much the APIs are used, by whom, how well, over a chosen time range.

For product owners: KPI cards (requests, active consumers, 5xx and 4xx rates, p50/p95/p99
latency), time series (requests by status class, error rates, latency, active consumers),
the busiest endpoints and consumers, and requests, 5xx error rate and p95 by plan and country,
refreshed every 10 s. Segment filters (API, API version, plan, organisation, country, client
family; one value each, "(none)" for calls where it is unknown) narrow every number, chart
and table to the matching calls; each offers the values present in the range, busiest first.

Data comes only from `warehouse.queries` values; `load` gathers it, `render` turns it into
components, and the callbacks below the layout re-render on a range or filter change or a
refresh tick, and keep the range and segment in the address bar (replacing the entry, so
the view can be shared and reloaded).

Deep link with `/?range=7d&plan=pro&country=GB` (see `dashboards.timerange.PRESETS` and
`dashboards.overview_data.SEGMENT_DIMENSIONS`; a blank value, `country=`, means "(none)").
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
from dashboards.overview_data import (
    NONE,
    SEGMENT_DIMENSIONS,
    SEGMENT_LABELS,
    Overview,
    Segment,
    describe,
    load,
    load_filters,
    only_selected,
    preset_of,
    query_string,
    segment_from_values,
    segment_of,
)
from dashboards.timerange import DEFAULT_PRESET, PRESETS
from warehouse import Warehouse, WarehouseError

dash.register_page(__name__, path="/", name="Overview", title="Overview · API analytics", order=0)

REFRESH_MS = 10_000
_TOP_COLUMNS = (("requests", "Requests"), ("4xx", "4xx"), ("5xx", "5xx"), ("p95", "p95 ms"))
_BREAKDOWN_COLUMNS = (("requests", "Requests"), ("error_rate", "Error rate"), ("p95", "p95 ms"))


def filter_id(dimension: str) -> str:
    """The element id of a segment filter: `overview-filter-api-version`."""
    return "overview-filter-" + dimension.replace("_", "-")


FILTER_IDS = tuple(filter_id(d) for d in SEGMENT_DIMENSIONS)


def render(
    wh: Warehouse, preset: str | None, now: datetime | None = None, segment: Segment = ()
) -> tuple[Any, Any]:
    """(page body, data note) for `preset` and `segment`; raises `WarehouseError` when the
    warehouse fails."""
    overview = load(wh, preset, now, segment)
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
    if o.totals is None and o.segment:
        return [
            header,
            notice(
                "overview-empty",
                "No requests in this segment",
                f"No request in this range matches {describe(o.segment)}. "
                "Clear a filter or pick a longer range.",
            ),
        ]
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


def _breakdown_card(title: str, table_id: str, key: str, frame: pl.DataFrame) -> html.Div:
    return html.Div(
        [
            html.H3(title, className="card-title"),
            data_table(
                table_id,
                ((key, SEGMENT_LABELS[key]), *_BREAKDOWN_COLUMNS),
                breakdown_rows(frame, key),
            ),
        ],
        className="card",
    )


def top_tables(o: Overview) -> html.Div:
    return html.Div(
        [
            _top_card("Top endpoints", "overview-top-endpoints", "endpoint", o.top_endpoints),
            _top_card("Top consumers", "overview-top-consumers", "consumer", o.top_consumers),
            _breakdown_card("By plan", "overview-by-plan", "plan", o.by_plan),
            _breakdown_card("By country", "overview-by-country", "country", o.by_country),
        ],
        className="tables",
    )


def top_rows(frame: pl.DataFrame, key: str) -> list[dict[str, str]]:
    """Formatted rows of a top-N table: key, requests, 4xx, 5xx, p95."""
    return [
        {
            key: r[key] or NONE,
            "requests": fmt_count(r["requests"]),
            "4xx": fmt_count(r["status_4xx"]),
            "5xx": fmt_count(r["status_5xx"]),
            "p95": _p95(r["latency_p95_ms"]),
        }
        for r in frame.iter_rows(named=True)
    ]


def breakdown_rows(frame: pl.DataFrame, key: str) -> list[dict[str, str]]:
    """Formatted rows of a by-plan or by-country table: key, requests, error rate (5xx), p95."""
    return [
        {
            key: r[key] or NONE,
            "requests": fmt_count(r["requests"]),
            "error_rate": fmt_rate(r["error_rate"]),
            "p95": _p95(r["latency_p95_ms"]),
        }
        for r in frame.iter_rows(named=True)
    ]


def _p95(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def filter_options(values: list[tuple[str, int]]) -> list[dict[str, str]]:
    """Dropdown options of a segment filter from `load_filters` values, busiest first."""
    return [
        {
            "label": (value or NONE) + ("" if requests else " (no requests)"),
            "value": value,
            "title": f"{fmt_count(requests)} requests in the range",
        }
        for value, requests in values
    ]


def filters(options: dict[str, list[tuple[str, int]]], segment: Segment) -> html.Div:
    """One clearable single-value dropdown per segment dimension."""
    selected = dict(segment)
    return html.Div(
        [
            html.Div(
                [
                    html.Label(SEGMENT_LABELS[d], htmlFor=filter_id(d), className="filter-label"),
                    dcc.Dropdown(
                        id=filter_id(d),
                        options=filter_options(options.get(d, [])),
                        value=selected.get(d),
                        multi=False,
                        clearable=True,
                        searchable=True,
                        placeholder="All",
                        className="filter-dropdown",
                    ),
                ],
                className="filter",
            )
            for d in SEGMENT_DIMENSIONS
        ],
        id="overview-filters",
        className="filters",
    )


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


def layout(**query: Any) -> html.Div:
    """The page, rendered with fresh data on each load; `?range=` picks the preset, the
    `SEGMENT_DIMENSIONS` parameters (`?plan=pro&country=GB`) the segment."""
    preset = preset_of(query)
    segment = segment_of(query)
    try:
        wh = current_warehouse()
        body, note = render(wh, preset, segment=segment)
        options = load_filters(wh, preset, segment=segment)
    except WarehouseError as exc:
        body, note = _unavailable(exc), "Warehouse unavailable"
        options = only_selected(segment)
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
            filters(options, segment),
            html.Div(body, id="overview-content"),
            dcc.Interval(id="overview-refresh", interval=REFRESH_MS),
            dcc.Store(id="overview-query", data=query_string(preset, segment)),
        ],
        className="page",
    )


@dash.callback(
    Output("overview-content", "children"),
    Output("overview-data-note", "children"),
    Input("overview-range", "value"),
    Input("overview-refresh", "n_intervals"),
    *(Input(i, "value") for i in FILTER_IDS),
    prevent_initial_call=True,
)
def refresh(preset: str | None, _ticks: int | None, *values: str | None) -> tuple[Any, Any]:
    """Re-render on a range or filter change or a refresh tick (`values`: the filters', in
    `SEGMENT_DIMENSIONS` order, None when cleared); on a failed refresh keep what is shown."""
    try:
        return render(current_warehouse(), preset, segment=segment_from_values(values))
    except WarehouseError as exc:
        if dash.ctx.triggered_id == "overview-refresh":
            return dash.no_update, f"Refresh failed, retrying in 10 s: {exc}"
        return _unavailable(exc), "Warehouse unavailable"


@dash.callback(
    *(Output(i, "options") for i in FILTER_IDS),
    Output("overview-query", "data"),
    Input("overview-range", "value"),
    Input("overview-refresh", "n_intervals"),
    *(Input(i, "value") for i in FILTER_IDS),
    prevent_initial_call=True,
)
def refresh_filters(preset: str | None, _ticks: int | None, *values: str | None) -> tuple:
    """The filters' options for the range (kept as they are when the warehouse fails) and the
    query string of the range and segment, which the address bar then shows."""
    preset = preset if preset in PRESETS else DEFAULT_PRESET
    segment = segment_from_values(values)
    try:
        options = load_filters(current_warehouse(), preset, segment=segment)
        lists = [filter_options(options[d]) for d in SEGMENT_DIMENSIONS]
    except WarehouseError:
        lists = [dash.no_update] * len(SEGMENT_DIMENSIONS)
    return (*lists, query_string(preset, segment))


dash.clientside_callback(
    """
    function(search) {
        if (search && window.location.search !== search) {
            window.history.replaceState(
                window.history.state, "", window.location.pathname + search + window.location.hash
            );
        }
    }
    """,
    Input("overview-query", "data"),
    prevent_initial_call=True,
)


def _unavailable(exc: Exception) -> html.Div:
    return notice(
        "overview-unavailable",
        "The warehouse is not reachable",
        f"{exc}. The page retries every 10 seconds.",
        kind="warning",
    )
