"""The overview page in Debian's headless Chromium, on a real chDB warehouse with known usage.

Dash's dev tools are on (`create_app(wh, debug=True)`), so a callback or layout error would
show the dev tools' error overlay; the tests assert it never appears. A screenshot of the
loaded page is saved in the test's tmp dir and copied to /tmp/overview.png (filtered on plan
pro: /tmp/overview-pro.png).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium import assert_no_errors, browser, table_rows, text_of, wait_for
from selenium.webdriver.common.by import By

from dashboards import Server, create_app, serve

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # a module-scoped Chromium, one per test module

SCREENSHOT_COPY = Path("/tmp/overview.png")
SEGMENT_SCREENSHOT_COPY = Path("/tmp/overview-pro.png")


@pytest.fixture(scope="module")
def server(usage_wh_module) -> Iterator[Server]:
    server = serve(create_app(usage_wh_module, debug=True), "127.0.0.1", 0)
    yield server
    server.shutdown()


def test_overview_shows_known_usage(browser, server, known, tmp_path):
    browser.get(server.url)
    wait_for(
        browser,
        lambda d: text_of(d, "overview-kpi-requests") == "1,234",
        "the requests KPI to read 1,234",
    )
    assert text_of(browser, "overview-kpi-consumers") == str(known.consumers)
    assert text_of(browser, "overview-kpi-error-rate") == "0.81%"
    assert text_of(browser, "overview-kpi-client-error-rate") == "1.62%"
    assert text_of(browser, "overview-data-note").startswith("Data up to ")
    endpoints = table_rows(browser, "overview-top-endpoints")
    consumers = table_rows(browser, "overview-top-consumers")
    assert [(r[0], r[1]) for r in endpoints] == [(e, f"{n:,}") for e, n in known.top_endpoints]
    assert [(r[0], r[1]) for r in consumers] == [(c, f"{n:,}") for c, n in known.top_consumers]
    assert consumers[0] == ["acme", "700", "0", "10", "19.9"]
    wait_for(
        browser,
        lambda d: (
            len(d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot g.cartesianlayer")) == 4
            and len(d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot g.trace")) >= 4
        ),
        "the four charts to draw",
    )
    assert browser.title.endswith("API analytics")
    assert_no_errors(browser)
    screenshot = tmp_path / "overview.png"
    assert browser.save_screenshot(str(screenshot))
    shutil.copyfile(screenshot, SCREENSHOT_COPY)


def test_range_picker_switches_to_minutes(browser, server, known):
    browser.get(server.url)
    wait_for(browser, lambda d: text_of(d, "overview-kpi-requests") == "1,234", "the page")
    browser.find_element(
        By.XPATH, "//*[@id='overview-range']//label[.//*[text()='Last 1 h']]"
    ).click()
    wait_for(
        browser,
        lambda d: "per minute" in (text_of(d, "overview-range-label") or ""),
        "the range label to switch to minutes",
    )
    wait_for(  # the page re-renders after the switch: read it once it has settled
        browser,
        lambda d: (
            text_of(d, "overview-kpi-requests") == f"{known.requests:,}"
            and table_rows(d, "overview-top-endpoints")[0][0] == known.top_endpoints[0][0]
        ),
        "the minute view's numbers",
    )
    assert_no_errors(browser)


def test_deep_link_to_a_range(browser, server, known):
    browser.get(server.url + "?range=30d")
    wait_for(
        browser,
        lambda d: "per day" in (text_of(d, "overview-range-label") or ""),
        "the 30-day range",
    )
    assert text_of(browser, "overview-kpi-requests") == f"{known.requests:,}"
    assert_no_errors(browser)


def test_plan_filter_narrows_the_page_and_the_address(browser, server, tmp_path):
    """Pick plan "pro": acme (700, 10 of them 5xx) and initech (100) remain."""
    browser.get(server.url)
    wait_for(browser, lambda d: text_of(d, "overview-kpi-requests") == "1,234", "the page")
    browser.find_element(By.ID, "overview-filter-plan").click()
    option = wait_for(
        browser,
        lambda d: next(
            (
                o
                for o in d.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option")
                if o.text == "pro"
            ),
            False,
        ),
        "the plan options to open",
    )
    labels = [o.text for o in browser.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option")]
    assert labels == ["pro", "free", "(none)"]
    option.click()
    wait_for(
        browser,
        lambda d: (
            text_of(d, "overview-kpi-requests") == "800"
            and table_rows(d, "overview-by-plan") == [["pro", "800", "1.25%", "19.9"]]
        ),
        "the requests KPI to read 800 for plan pro",
    )
    assert text_of(browser, "overview-kpi-consumers") == "2"
    assert text_of(browser, "overview-kpi-error-rate") == "1.25%"
    assert table_rows(browser, "overview-by-country") == [
        ["DE", "500", "2.00%", "19.9"],
        ["GB", "300", "0.00%", "19.9"],
    ]
    wait_for(
        browser,
        lambda d: d.current_url == server.url + "?range=24h&plan=pro",
        "the address bar to carry the plan",
    )
    assert_no_errors(browser)
    browser.save_screenshot(str(tmp_path / "overview-pro.png"))
    shutil.copyfile(tmp_path / "overview-pro.png", SEGMENT_SCREENSHOT_COPY)

    browser.refresh()  # the shared link reloads the same view
    wait_for(browser, lambda d: text_of(d, "overview-kpi-requests") == "800", "the reloaded view")
    assert text_of(browser, "overview-filter-plan") == "pro"
    assert_no_errors(browser)
