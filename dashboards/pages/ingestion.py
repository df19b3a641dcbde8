"""Ingestion health: bad input per source, so platform teams and product owners see it.

Every record the pipeline rejects lands in `dead_letters`; this page counts them per source
stream (the file, topic or sender, without the line position), format and reason over a
chosen range of arrival time: KPI cards (dead letters, their share of all records received,
affected sources), dead letters per bucket by format, every source stream with its bad
share, the rejections by reason, and the newest dead letters with their record (cut for
the table; expand a row for the text). Refreshed every 10 s, like the overview, except the
newest dead letters, re-sent only when they change (so an expanded record stays open). Data
comes only from `warehouse.queries` values via `dashboards.ingestion_data.load`.

Deep link to a range with `/ingestion?range=7d` (see `dashboards.timerange.PRESETS`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

import dash
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html

from dashboards.app import current_warehouse
from dashboards.components import (
    chart_card,
    data_table,
    figure,
    fmt_count,
    fmt_rate,
    kpi_card,
    notice,
)
from dashboards.ingestion_data import LATEST_N, REASONS_N, Ingestion, load
from dashboards.timerange import DEFAULT_PRESET, PRESETS
from warehouse import Warehouse, WarehouseError

dash.register_page(
    __name__,
    path="/ingestion",
    name="Ingestion health",
    title="Ingestion health · API analytics",
    order=1,
)

REFRESH_MS = 10_000
RECORD_PREVIEW = 96
"""Characters of a record shown in the table row."""
RECORD_SHOWN = 4096
"""Characters of a record shown expanded (`apim dead-letters` prints it whole)."""
FORMAT_COLORS = ("#d1495b", "#e8a23b", "#7a62c9", "#5b8cc9", "#4c9a5b", "#c9628f", "#8a6d3b")
NONE = "(none)"
"""How an empty format (no `format` header) or stream shows."""
_TIME = "%d %b %H:%M:%S"


class View(NamedTuple):
    """What the page shows for one range (a NamedTuple: Dash runs page files outside
    `sys.modules`, where dataclasses cannot resolve their annotations)."""

    body: Any
    note: str
    latest: Any = None
    """The newest dead letters, apart from `body`: a refresh that brings no new dead letter
    leaves them as they are, so a record the user expanded stays open."""
    latest_key: str | None = None
    """What `latest` lists (range and record positions): unchanged, it is not re-sent."""


def render(wh: Warehouse, preset: str | None, now: datetime | None = None) -> View:
    """The page for `preset`; raises `WarehouseError` when the warehouse fails."""
    ingestion = load(wh, preset, now)
    if ingestion is None:
        body = notice(
            "ingestion-empty",
            "Nothing received yet",
            "No record has reached the warehouse so far, parsed or rejected. As soon as gateway "
            "logs flow through the pipeline, their health shows up here; this page refreshes "
            "every 10 seconds.",
        )
        return View(body, "Nothing received yet")
    note = data_note(ingestion, now or datetime.now(UTC))
    if not ingestion.totals["dead_letters"]:
        return View(render_body(ingestion), note)
    key = "|".join(
        [ingestion.range.preset]
        + [
            f"{r['received_at'].isoformat()} {r['source']}"
            for r in ingestion.latest.iter_rows(named=True)
        ]
    )
    return View(render_body(ingestion), note, latest_card(ingestion), key)


def render_body(i: Ingestion) -> list[Any]:
    """Everything above the newest dead letters."""
    header = html.P(f"Showing {i.range.label}", id="ingestion-range-label", className="muted")
    if not i.totals["records"]:
        return [
            header,
            notice(
                "ingestion-empty",
                "Nothing received in this range",
                "Pick a longer range to see older records.",
            ),
        ]
    if not i.totals["dead_letters"]:
        return [
            header,
            kpis(i.totals),
            notice(
                "ingestion-clean",
                "No bad records in this range",
                "Every record received in this range was parsed.",
            ),
            html.Div(sources_card(i), className="tables"),
        ]
    return [
        header,
        kpis(i.totals),
        html.Div([chart(i), sources_card(i)], className="charts"),
        reasons_card(i),
    ]


def data_note(i: Ingestion, now: datetime) -> str:
    """Up to which minute records arrived."""
    note = f"Records received up to {i.span.last:%d %b %Y %H:%M} UTC"
    behind = now - i.span.end
    if behind.total_seconds() > 15 * 60:
        note += f" ({_age(behind.total_seconds())} ago: ranges end at the newest record)"
    return note + " · refreshes every 10 s"


def kpis(t: dict[str, Any]) -> html.Div:
    return html.Div(
        [
            kpi_card(
                "ingestion-kpi-dead-letters",
                "Dead letters",
                fmt_count(t["dead_letters"]),
                "records rejected in the range",
            ),
            kpi_card(
                "ingestion-kpi-bad-share",
                "Bad records",
                fmt_rate(t["bad_share"]),
                f"of {fmt_count(t['records'])} records received",
            ),
            kpi_card(
                "ingestion-kpi-affected-sources",
                "Affected sources",
                fmt_count(t["affected_sources"]),
                f"of {fmt_count(t['sources'])} sending",
            ),
        ],
        id="ingestion-kpis",
        className="kpis",
    )


def chart(i: Ingestion) -> html.Div:
    s = i.series
    traces = []
    for n, fmt in enumerate(i.formats):
        rows = s.filter(s["format"] == fmt)
        traces.append(
            go.Bar(
                x=rows["bucket"].dt.replace_time_zone(None).to_list(),
                y=rows["records"].to_list(),
                name=fmt or NONE,
                marker_color=FORMAT_COLORS[n % len(FORMAT_COLORS)],
            )
        )
    return chart_card(
        "ingestion-graph-dead-letters",
        f"Dead letters per {i.range.bucket}, by format",
        figure(traces, stacked=True, revision=i.range.preset),
    )


def sources_card(i: Ingestion) -> html.Div:
    rows = [
        {
            "stream": r["stream"] or NONE,
            "records": fmt_count(r["records"]),
            "events": fmt_count(r["events"]),
            "dead_letters": fmt_count(r["dead_letters"]),
            "bad_share": fmt_rate(r["bad_share"]),
        }
        for r in i.sources.iter_rows(named=True)
    ]
    columns = (
        ("stream", "Source stream"),
        ("records", "Received"),
        ("events", "Parsed"),
        ("dead_letters", "Dead letters"),
        ("bad_share", "Bad"),
    )
    return html.Div(
        [
            html.H3("Sources", className="card-title"),
            data_table("ingestion-sources", columns, rows),
        ],
        className="card",
    )


def reasons_card(i: Ingestion) -> html.Div:
    rows = [
        {
            "stream": r["stream"],
            "format": r["format"] or NONE,
            "reason": r["reason"],
            "records": fmt_count(r["records"]),
            "last_seen": f"{r['last_seen']:{_TIME}}",
        }
        for r in i.reasons.iter_rows(named=True)
    ]
    columns = (
        ("stream", "Source stream"),
        ("format", "Format"),
        ("reason", "Reason"),
        ("records", "Records"),
        ("last_seen", "Last seen (UTC)"),
    )
    title = "Dead letters by reason"
    if i.reasons.height >= REASONS_N:
        title += f" (largest {REASONS_N})"
    return html.Div(
        [
            html.H3(title, className="card-title"),
            data_table(
                "ingestion-reasons",
                columns,
                rows,
                keys=3,
                widths=("20%", "10%", "46%", "10%", "14%"),
            ),
        ],
        className="card spaced",
    )


def latest_card(i: Ingestion) -> html.Div:
    rows = [
        {
            "received_at": f"{r['received_at']:{_TIME}}",
            "source": r["source"],
            "format": r["format"] or NONE,
            "reason": r["reason"],
            "record": record_cell(r["record"]),
        }
        for r in i.latest.iter_rows(named=True)
    ]
    columns = (
        ("received_at", "Received (UTC)"),
        ("source", "Source"),
        ("format", "Format"),
        ("reason", "Reason"),
        ("record", "Record"),
    )
    return html.Div(
        [
            html.H3(f"Latest dead letters (newest {LATEST_N})", className="card-title"),
            data_table(
                "ingestion-latest",
                columns,
                rows,
                keys=len(columns),
                widths=("11%", "15%", "8%", "22%", "44%"),
            ),
        ],
        className="card spaced",
    )


def record_cell(record: str) -> Any:
    """A record cut to `RECORD_PREVIEW` characters; longer ones expand to the text."""
    if len(record) <= RECORD_PREVIEW:
        return html.Code(record, className="record")
    shown = record[:RECORD_SHOWN]
    rest = len(record) - len(shown)
    more = [html.P(f"… {rest:,} more characters: `apim dead-letters` prints the whole record")]
    return html.Details(
        [
            html.Summary(html.Code(record[:RECORD_PREVIEW] + "…", className="record")),
            html.Pre(shown, className="record-full"),
            *(more if rest else []),
        ],
        className="record-details",
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
        view = render(current_warehouse(), preset)
    except WarehouseError as exc:
        view = View(_unavailable(exc), "Warehouse unavailable")
    return html.Div(
        [
            html.Div(
                [
                    html.Div(
                        [
                            html.H1("Ingestion health"),
                            html.P(view.note, id="ingestion-data-note", className="muted"),
                        ]
                    ),
                    dcc.RadioItems(
                        id="ingestion-range",
                        options=[{"label": p.label, "value": p.key} for p in PRESETS.values()],
                        value=preset,
                        inline=True,
                        className="range-picker",
                    ),
                ],
                className="page-header",
            ),
            html.Div(view.body, id="ingestion-content"),
            html.Div(view.latest, id="ingestion-latest-box"),
            dcc.Store(id="ingestion-latest-key", data=view.latest_key),
            dcc.Interval(id="ingestion-refresh", interval=REFRESH_MS),
        ],
        className="page",
    )


@dash.callback(
    Output("ingestion-content", "children"),
    Output("ingestion-data-note", "children"),
    Output("ingestion-latest-box", "children"),
    Output("ingestion-latest-key", "data"),
    Input("ingestion-range", "value"),
    Input("ingestion-refresh", "n_intervals"),
    State("ingestion-latest-key", "data"),
    prevent_initial_call=True,
)
def refresh(preset: str | None, _ticks: int | None, shown: str | None = None) -> tuple[Any, ...]:
    """Re-render on a range change or a refresh tick, the newest dead letters only when they
    changed (`shown`: the key of those on screen); on a failed refresh keep what is shown."""
    try:
        view = render(current_warehouse(), preset)
    except WarehouseError as exc:
        if dash.ctx.triggered_id == "ingestion-refresh":
            note = f"Refresh failed, retrying in 10 s: {exc}"
            return dash.no_update, note, dash.no_update, dash.no_update
        return _unavailable(exc), "Warehouse unavailable", None, None
    if view.latest_key is not None and view.latest_key == shown:
        return view.body, view.note, dash.no_update, dash.no_update
    return view.body, view.note, view.latest, view.latest_key


def _unavailable(exc: Exception) -> html.Div:
    return notice(
        "ingestion-unavailable",
        "The warehouse is not reachable",
        f"{exc}. The page retries every 10 seconds.",
        kind="warning",
    )
