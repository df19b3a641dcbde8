"""Building blocks shared by the pages: number formats, KPI cards, charts, tables, notices.

Pure functions from values to Dash components or Plotly figures; no data access here.
Styling lives in `dashboards/assets/style.css` (class names below), charts use the
palette in `COLORS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from dash import dcc, html

COLORS = {
    "2xx": "#4c9a5b",
    "3xx": "#5b8cc9",
    "4xx": "#e8a23b",
    "5xx": "#d1495b",
    "other": "#a8a8b3",
    "p50": "#5b8cc9",
    "p95": "#e8a23b",
    "p99": "#d1495b",
    "consumers": "#7a62c9",
}
CHART_HEIGHT = 260
GRAPH_CONFIG = {"displaylogo": False, "displayModeBar": False, "responsive": True}
_FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'


def fmt_count(value: Any) -> str:
    """An exact count with thousands separators: 1234 → "1,234"."""
    return f"{int(value or 0):,}"


def fmt_rate(value: Any) -> str:
    """A share as a percentage with two decimals: 0.0081 → "0.81%"."""
    return "–" if value is None else f"{float(value) * 100:.2f}%"


def fmt_ms(value: Any) -> str:
    """A latency in milliseconds, fewer decimals as it grows: "0.84 ms", "23.5 ms", "412 ms"."""
    if value is None:
        return "–"
    v = float(value)
    if v >= 100:
        return f"{v:,.0f} ms"
    return f"{v:.1f} ms" if v >= 10 else f"{v:.2f} ms"


def kpi_card(element_id: str, label: str, value: str, hint: str = "") -> html.Div:
    """One headline number; the value element carries `element_id`."""
    return html.Div(
        [
            html.Div(label, className="kpi-label"),
            html.Div(value, id=element_id, className="kpi-value"),
            html.Div(hint, className="kpi-hint"),
        ],
        className="card kpi",
    )


def chart_card(element_id: str, title: str, figure: go.Figure) -> html.Div:
    return html.Div(
        [
            html.H3(title, className="card-title"),
            dcc.Graph(
                id=element_id,
                figure=figure,
                config=GRAPH_CONFIG,
                className="chart",
                style={"height": f"{CHART_HEIGHT}px"},
            ),
        ],
        className="card chart-card",
    )


def figure(
    traces: Sequence[go.BaseTraceType],
    *,
    y_title: str = "",
    y_suffix: str = "",
    stacked: bool = False,
    revision: str = "",
) -> go.Figure:
    """A compact, quiet time-series figure; `revision` keeps zoom across refreshes."""
    fig = go.Figure(list(traces))
    fig.update_layout(
        template="plotly_white",
        barmode="stack" if stacked else "group",
        bargap=0.15,
        height=CHART_HEIGHT,
        margin={"l": 56, "r": 16, "t": 8, "b": 36},
        font={"family": _FONT, "size": 12, "color": "#3a3a48"},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "title": None},
        hovermode="x unified",
        uirevision=revision,
        xaxis={"title": None, "showgrid": False},
        yaxis={"title": y_title or None, "ticksuffix": y_suffix, "rangemode": "tozero"},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return fig


def data_table(
    element_id: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[dict[str, Any]],
    *,
    keys: int = 1,
    widths: Sequence[str] = (),
) -> html.Table:
    """A plain table; `columns` are (key, header), the first `keys` columns are text, the
    rest numbers. A cell is a string (text cells show it whole on hover) or a component;
    `widths` (CSS, one per column) overrides the default layout."""
    header = html.Tr(
        [
            html.Th(title, className="key" if i < keys else "num")
            for i, (_, title) in enumerate(columns)
        ]
    )
    body = [
        html.Tr(
            [
                html.Td(row[key], className="num", title=None)
                if i >= keys
                else html.Td(
                    row[key], className="key", title=row[key] if isinstance(row[key], str) else None
                )
                for i, (key, _title) in enumerate(columns)
            ]
        )
        for row in rows
    ]
    parts: list[Any] = [html.Thead(header), html.Tbody(body)]
    if widths:
        parts.insert(0, html.Colgroup([html.Col(style={"width": w}) for w in widths]))
    return html.Table(parts, id=element_id, className="table" + (" table-fit" if widths else ""))


def notice(element_id: str, title: str, text: str, *, kind: str = "info") -> html.Div:
    """A friendly full-width message (no data yet, nothing in range, warehouse unreachable)."""
    return html.Div(
        [html.H2(title), html.P(text)], id=element_id, className=f"notice notice-{kind}"
    )
