"""Segment filters of the overview on a real chDB warehouse: exact numbers, tables and
filter options for known segments, the query string round trip, and the served app's
callbacks over HTTP.

`KNOWN` (conftest): plan pro = acme (700: 490 from DE with 10 5xx, 200 from GB) + initech
(100, GB); plan free = globex (400 from US, 20 4xx); the 34 anonymous health checks have no
plan, organisation or country.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from types import ModuleType
from urllib.parse import parse_qs

import pytest
from dash_tree import find, open_page, page_module, post_callback, table_rows, text

import warehouse
from apim.histogram import bucket_of, value_of
from dashboards import Server, create_app, serve
from dashboards.components import fmt_ms
from dashboards.overview_data import (
    SEGMENT_DIMENSIONS,
    load,
    load_filters,
    preset_of,
    query_string,
    segment_from_values,
    segment_of,
)

PAGE = "dashboards.pages.overview"
PRO = (("plan", "pro"),)
PRO_GB = (("plan", "pro"), ("country", "GB"))
FILTERS = {
    "api": "overview-filter-api",
    "api_version": "overview-filter-api-version",
    "plan": "overview-filter-plan",
    "organisation": "overview-filter-organisation",
    "country": "overview-filter-country",
    "client_family": "overview-filter-client-family",
}
P95_20 = f"{value_of(bucket_of(20.0)):,.1f}"  # "19.9"
P95_80 = f"{value_of(bucket_of(80.0)):,.1f}"  # "80.6"
P95_2 = f"{value_of(bucket_of(2.0)):,.1f}"  # "2.0"


@pytest.fixture(scope="module")
def wh(usage_wh_module: warehouse.Warehouse) -> warehouse.Warehouse:
    return usage_wh_module


@pytest.fixture
def page(wh: warehouse.Warehouse) -> ModuleType:
    return page_module(wh, PAGE)


@pytest.fixture
def server(wh: warehouse.Warehouse) -> Iterator[Server]:
    """The app served on `wh` (created last: the newest app is the live one)."""
    with serve(create_app(wh), "127.0.0.1", 0) as server:
        yield server


def values(**chosen: str) -> list[str | None]:
    """The filters' values, in callback input order, None where nothing is chosen."""
    return [chosen.get(d) for d in SEGMENT_DIMENSIONS]


def rows(frame, key: str) -> list[tuple[str, int]]:
    return [(r[key], r["requests"]) for r in frame.iter_rows(named=True)]


# --- data ---------------------------------------------------------------------------------


def test_filter_options_are_the_values_in_the_range_busiest_first(wh, known):
    assert load_filters(wh) == {d: list(v) for d, v in known.segment_values}
    assert list(load_filters(wh)) == list(SEGMENT_DIMENSIONS)


def test_filter_options_ignore_the_other_filters_and_keep_the_selected_value(wh, known):
    options = load_filters(wh, "7d", segment=(("plan", "enterprise"), ("country", "GB")))
    expected = dict(known.segment_values)
    assert options["country"] == list(expected["country"])  # all countries, not only pro's
    assert options["plan"] == [*expected["plan"], ("enterprise", 0)]


def test_a_plan_segment_narrows_every_number(wh):
    o = load(wh, "1h", segment=PRO)
    t = o.totals
    assert (t["requests"], t["consumers"], t["status_4xx"], t["status_5xx"]) == (800, 2, 0, 10)
    assert t["error_rate"] == pytest.approx(10 / 800, abs=1e-6)
    assert t["client_error_rate"] == 0
    assert t["latency_p95_ms"] == pytest.approx(value_of(bucket_of(20.0)), abs=1e-3)
    assert o.series["requests"].sum() == 800
    assert o.series["status_5xx"].sum() == 10
    assert o.series["status_4xx"].sum() == 0
    assert rows(o.top_endpoints, "endpoint") == [("GET /v1/orders/{id}", 800)]
    assert rows(o.top_consumers, "consumer") == [("acme", 700), ("initech", 100)]
    assert rows(o.by_plan, "plan") == [("pro", 800)]
    assert rows(o.by_country, "country") == [("DE", 500), ("GB", 300)]


def test_two_filters_are_both_applied(wh):
    o = load(wh, segment=PRO_GB)
    assert (o.totals["requests"], o.totals["consumers"], o.totals["status_5xx"]) == (300, 2, 0)
    assert rows(o.top_consumers, "consumer") == [("acme", 200), ("initech", 100)]
    assert rows(o.by_country, "country") == [("GB", 300)]
    assert load(wh, segment=(("plan", "free"), ("country", "DE"))).totals is None


def test_none_is_a_value_to_filter_on(wh):
    o = load(wh, segment=(("country", ""),))
    assert (o.totals["requests"], o.totals["consumers"]) == (34, 0)
    assert rows(o.top_endpoints, "endpoint") == [("GET /v1/status", 34)]
    assert rows(o.by_plan, "plan") == [("", 34)]


def test_every_dimension_filters(wh, known):
    for dimension, counted in known.segment_values:
        for value, requests in counted:
            o = load(wh, "all", segment=((dimension, value),))
            assert o.totals["requests"] == requests, (dimension, value)
            assert o.series["requests"].sum() == requests, (dimension, value)


def test_unsegmented_breakdowns(wh):
    o = load(wh)
    assert rows(o.by_plan, "plan") == [("pro", 800), ("free", 400), ("", 34)]
    assert rows(o.by_country, "country") == [("DE", 500), ("US", 400), ("GB", 300), ("", 34)]


# --- query string -------------------------------------------------------------------------


def parse(search: str) -> dict:
    """The query parameters as Dash Pages passes them to `layout` (blank values kept)."""
    return {k: v[0] for k, v in parse_qs(search.removeprefix("?"), keep_blank_values=True).items()}


def test_query_string_round_trip():
    assert query_string("7d", PRO_GB) == "?range=7d&plan=pro&country=GB"
    assert query_string("24h") == "?range=24h"
    segment = (
        ("api", "shop"),
        ("api_version", ""),
        ("plan", "pro"),
        ("organisation", "Smith & Sons / Ltd?"),
        ("country", "GB"),
        ("client_family", "Mobile Safari"),
    )
    search = query_string("30d", segment)
    assert search == (
        "?range=30d&api=shop&api_version=&plan=pro"
        "&organisation=Smith+%26+Sons+%2F+Ltd%3F&country=GB&client_family=Mobile+Safari"
    )
    assert parse(search)["range"] == "30d"
    assert segment_of(parse(search)) == segment
    assert segment_from_values([v for _, v in segment]) == segment


def test_segment_of_a_query_keeps_known_dimensions_in_order():
    assert segment_of({"country": "GB", "range": "7d", "plan": "pro", "color": "red"}) == PRO_GB
    assert segment_of({"plan": ["pro", "free"]}) == PRO  # repeated: the first
    assert segment_of({"country": ""}) == (("country", ""),)
    assert segment_from_values(values(plan="pro", country="GB")) == PRO_GB
    assert segment_from_values(values()) == ()
    assert preset_of({"range": "7d", "plan": "pro"}) == "7d"
    assert preset_of({"range": ["30d", "1h"]}) == "30d"
    assert preset_of({"range": "nonsense"}) == preset_of({}) == "24h"


# --- the page -----------------------------------------------------------------------------


def test_layout_from_the_query_string_shows_the_segment(page):
    root = page.layout(range="1h", plan="pro", country="GB")
    assert find(root, "overview-range").value == "1h"
    assert find(root, FILTERS["plan"]).value == "pro"
    assert find(root, FILTERS["country"]).value == "GB"
    assert find(root, FILTERS["api"]).value is None
    assert find(root, "overview-query").data == "?range=1h&plan=pro&country=GB"
    assert text(find(root, "overview-kpi-requests")) == "300"
    assert text(find(root, "overview-kpi-consumers")) == "2"
    assert text(find(root, "overview-kpi-error-rate")) == "0.00%"
    assert table_rows(find(root, "overview-top-consumers")) == [
        ["acme", "200", "0", "0", P95_20],
        ["initech", "100", "0", "0", P95_20],
    ]
    assert table_rows(find(root, "overview-by-plan")) == [["pro", "300", "0.00%", P95_20]]
    assert table_rows(find(root, "overview-by-country")) == [["GB", "300", "0.00%", P95_20]]
    repeated = page.layout(range=["7d", "1h"], plan=["pro", "free"])  # `?range=7d&range=1h…`
    assert find(repeated, "overview-range").value == "7d"
    assert find(repeated, FILTERS["plan"]).value == "pro"


def test_layout_with_a_plan_shows_exact_kpis_and_tables(page):
    root = page.layout(plan="pro")
    assert text(find(root, "overview-kpi-requests")) == "800"
    assert text(find(root, "overview-kpi-consumers")) == "2"
    assert text(find(root, "overview-kpi-error-rate")) == "1.25%"
    assert text(find(root, "overview-kpi-client-error-rate")) == "0.00%"
    assert text(find(root, "overview-kpi-p95")) == fmt_ms(value_of(bucket_of(20.0)))
    assert table_rows(find(root, "overview-top-endpoints")) == [
        ["GET /v1/orders/{id}", "800", "0", "10", P95_20]
    ]
    assert table_rows(find(root, "overview-by-plan")) == [["pro", "800", "1.25%", P95_20]]
    assert table_rows(find(root, "overview-by-country")) == [
        ["DE", "500", "2.00%", P95_20],
        ["GB", "300", "0.00%", P95_20],
    ]
    fig = find(page.layout(range="1h", plan="pro"), "overview-graph-requests").figure
    assert {t.name: sum(t.y) for t in fig.data} == {"2xx": 790, "3xx": 0, "4xx": 0, "5xx": 10}


def test_unfiltered_layout_has_the_breakdown_tables_and_every_filter(page):
    root = page.layout()
    assert table_rows(find(root, "overview-by-plan")) == [
        ["pro", "800", "1.25%", P95_20],
        ["free", "400", "0.00%", P95_80],
        ["(none)", "34", "0.00%", P95_2],
    ]
    assert table_rows(find(root, "overview-by-country")) == [
        ["DE", "500", "2.00%", P95_20],
        ["US", "400", "0.00%", P95_80],
        ["GB", "300", "0.00%", P95_20],
        ["(none)", "34", "0.00%", P95_2],
    ]
    assert "By plan" in text(find(root, "overview-content"))
    for element_id in FILTERS.values():
        dropdown = find(root, element_id)
        assert (dropdown.value, dropdown.clearable, dropdown.multi) == (None, True, False)


def test_options_show_none_and_the_busiest_first(page):
    root = page.layout()
    country = find(root, FILTERS["country"]).options
    assert [(o["label"], o["value"]) for o in country] == [
        ("DE", "DE"),
        ("US", "US"),
        ("GB", "GB"),
        ("(none)", ""),
    ]
    assert country[0]["title"] == "500 requests in the range"
    families = [o["label"] for o in find(root, FILTERS["client_family"]).options]
    assert families == ["okhttp", "python-requests", "Chrome", "curl"]
    assert [o["value"] for o in find(root, FILTERS["api_version"]).options] == ["v1", ""]


def test_filtering_on_none_from_the_query_string(page):
    root = page.layout(country="")
    assert find(root, FILTERS["country"]).value == ""
    assert find(root, "overview-query").data == "?range=24h&country="
    assert text(find(root, "overview-kpi-requests")) == "34"
    assert table_rows(find(root, "overview-by-country")) == [["(none)", "34", "0.00%", P95_2]]


def test_a_segment_without_requests_says_so(page):
    root = page.layout(plan="free", country="DE")
    empty = text(find(root, "overview-empty"))
    assert "No requests in this segment" in empty
    assert "Plan: free, Country: DE" in empty
    assert find(root, "overview-kpi-requests") is None
    assert find(root, FILTERS["plan"]).value == "free"


def test_a_value_the_range_does_not_hold_stays_selected(page):
    root = page.layout(plan="enterprise")
    plan = find(root, FILTERS["plan"])
    assert plan.value == "enterprise"
    assert plan.options[-1] == {
        "label": "enterprise (no requests)",
        "value": "enterprise",
        "title": "0 requests in the range",
    }
    assert "No requests in this segment" in text(find(root, "overview-empty"))


def test_callbacks_render_the_segment_and_its_query_string(page):
    body, note = page.refresh("1h", 2, *values(plan="pro", country="GB"))
    assert text(find(body, "overview-kpi-requests")) == "300"
    assert "per minute" in text(find(body, "overview-range-label"))
    assert note.startswith("Data up to ")
    *options, search = page.refresh_filters("7d", 2, *values(plan="free"))
    assert search == "?range=7d&plan=free"
    by_filter = dict(zip(SEGMENT_DIMENSIONS, options, strict=True))
    assert [o["value"] for o in by_filter["plan"]] == ["pro", "free", ""]
    assert [o["value"] for o in by_filter["country"]] == ["DE", "US", "GB", ""]
    *_, search = page.refresh_filters("nonsense", None, *values())
    assert search == "?range=24h"


# --- the served app -----------------------------------------------------------------------

REFRESH = "..overview-content.children...overview-data-note.children.."


def post_refresh(url: str, preset: str, changed: str, **chosen: str) -> dict:
    return post_callback(
        url,
        {
            "output": REFRESH,
            "outputs": [
                {"id": "overview-content", "property": "children"},
                {"id": "overview-data-note", "property": "children"},
            ],
            "inputs": [
                {"id": "overview-range", "property": "value", "value": preset},
                {"id": "overview-refresh", "property": "n_intervals", "value": None},
                *(
                    {"id": FILTERS[d], "property": "value", "value": chosen.get(d)}
                    for d in SEGMENT_DIMENSIONS
                ),
            ],
            "changedPropIds": [changed],
            "state": [],
        },
    )["response"]


def filters_output() -> str:
    """The refresh_filters callback's output key, as Dash names a multi-output."""
    outputs = [f"{FILTERS[d]}.options" for d in SEGMENT_DIMENSIONS] + ["overview-query.data"]
    return ".." + "...".join(outputs) + ".."


def test_served_dependencies_include_the_filters(server):
    with urllib.request.urlopen(server.url + "_dash-dependencies", timeout=30) as response:
        deps = json.loads(response.read())
    outputs = [d["output"] for d in deps]
    assert REFRESH in outputs
    assert filters_output() in outputs
    url_sync = [d for d in deps if d["inputs"] == [{"id": "overview-query", "property": "data"}]]
    assert len(url_sync) == 1 and url_sync[0]["clientside_function"] is not None


def test_served_page_opens_a_shared_segment_link(server):
    page = json.dumps(open_page(server.url, "/", "?range=1h&plan=pro&country=GB"))
    assert '"overview-kpi-requests"' in page
    assert '"300"' in page
    assert '"?range=1h&plan=pro&country=GB"' in page
    assert '"value": "pro"' in page
    empty = json.dumps(open_page(server.url, "/", "?plan=free&country=DE"))
    assert "No requests in this segment" in empty


def test_served_callbacks_filter_over_http(server):
    pro = json.dumps(post_refresh(server.url, "24h", f"{FILTERS['plan']}.value", plan="pro"))
    assert '"800"' in pro
    assert '"1.25%"' in pro
    none = json.dumps(post_refresh(server.url, "7d", f"{FILTERS['country']}.value", country=""))
    assert '"34"' in none
    assert "per hour" in none
    response = post_callback(
        server.url,
        {
            "output": filters_output(),
            "outputs": [
                *({"id": FILTERS[d], "property": "options"} for d in SEGMENT_DIMENSIONS),
                {"id": "overview-query", "property": "data"},
            ],
            "inputs": [
                {"id": "overview-range", "property": "value", "value": "7d"},
                {"id": "overview-refresh", "property": "n_intervals", "value": None},
                *(
                    {"id": FILTERS[d], "property": "value", "value": v}
                    for d, v in zip(SEGMENT_DIMENSIONS, values(plan="pro", country=""), strict=True)
                ),
            ],
            "changedPropIds": [f"{FILTERS['country']}.value"],
            "state": [],
        },
    )["response"]
    assert response["overview-query"]["data"] == "?range=7d&plan=pro&country="
    plans = response[FILTERS["plan"]]["options"]
    assert [(o["label"], o["value"]) for o in plans] == [
        ("pro", "pro"),
        ("free", "free"),
        ("(none)", ""),
    ]
