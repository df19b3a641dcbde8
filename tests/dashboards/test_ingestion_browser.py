"""The ingestion health page in Debian's headless Chromium, on a real chDB warehouse with
known dead letters (`ingest_wh_module`), and the navigation between the pages.

Chromium comes from `chromium` (dev tools on, so a callback or layout
error shows the error overlay, which `assert_no_errors` checks). A screenshot of the loaded
page is saved in the test's tmp dir and copied to /tmp/ingestion.png.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chromium import assert_no_errors, browser, table_rows, text_of, wait_for
from selenium.webdriver.common.by import By

from apim.event import AccessEvent
from dashboards import Server, create_app, serve
from processors.sink import DeadLetter, SinkBatch, WarehouseSink

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # a module-scoped Chromium, one per test module

SCREENSHOT_COPY = Path("/tmp/ingestion.png")
PAGE = "dashboards.pages.ingestion"


@pytest.fixture(scope="module")
def server(ingest_wh_module) -> Iterator[Server]:
    server = serve(create_app(ingest_wh_module, debug=True), "127.0.0.1", 0)
    yield server
    server.shutdown()


def open_page(driver, server: Server, query: str = "") -> None:
    driver.get(server.url + "ingestion" + query)
    wait_for(driver, lambda d: text_of(d, "ingestion-kpi-dead-letters"), "the ingestion page")


def test_ingestion_shows_known_dead_letters(browser, server, known_ingestion, tmp_path):
    open_page(browser, server)
    assert text_of(browser, "ingestion-kpi-dead-letters") == "11"
    assert text_of(browser, "ingestion-kpi-bad-share") == "0.88%"
    assert text_of(browser, "ingestion-kpi-affected-sources") == "3"
    assert "of 1,245 records received" in text_of(browser, "ingestion-kpis")
    assert text_of(browser, "ingestion-data-note").startswith("Records received up to ")
    assert table_rows(browser, "ingestion-sources") == [
        ["access.log", "1,007", "1,000", "7", "0.70%"],
        ["kong-log", "237", "234", "3", "1.27%"],
        ["apim.raw-logs/0", "1", "0", "1", "100.00%"],
    ]
    reasons = table_rows(browser, "ingestion-reasons")
    assert [r[:4] for r in reasons] == [
        [stream, fmt or "(none)", reason, str(n)]
        for stream, fmt, reason, n in known_ingestion.reasons
    ]
    latest = table_rows(browser, "ingestion-latest")
    assert len(latest) == known_ingestion.dead_letters
    assert sorted(r[1] for r in latest if r[1].startswith("kong-log")) == [
        "kong-log:1337#0",
        "kong-log:1337#1",
        "kong-log:1337#2",
    ]
    wait_for(
        browser,
        lambda d: (
            len(d.find_elements(By.CSS_SELECTOR, "#ingestion-graph-dead-letters g.trace")) == 3
        ),
        "the dead-letter chart to draw a trace per format",
    )
    assert browser.title == "Ingestion health · API analytics"
    assert_no_errors(browser)
    screenshot = tmp_path / "ingestion.png"
    assert browser.save_screenshot(str(screenshot))
    shutil.copyfile(screenshot, SCREENSHOT_COPY)


def test_long_record_is_cut_and_expands(browser, server, known_ingestion):
    open_page(browser, server)
    details = browser.find_elements(By.CSS_SELECTOR, "#ingestion-latest details.record-details")
    assert len(details) == 3  # the three long Kong records
    summary = details[0].find_element(By.TAG_NAME, "summary")
    assert summary.text.endswith("…")
    assert len(summary.text) < len(known_ingestion.long_record)
    full = details[0].find_element(By.TAG_NAME, "pre")
    assert not full.is_displayed()
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", summary)
    summary.click()
    wait_for(browser, lambda d: full.is_displayed(), "the record to expand")
    assert full.text == known_ingestion.long_record
    assert_no_errors(browser)


def test_range_picker_counts_older_dead_letters(browser, server):
    open_page(browser, server)
    browser.find_element(
        By.XPATH, "//*[@id='ingestion-range']//label[.//*[text()='Last 7 d']]"
    ).click()
    wait_for(
        browser,
        lambda d: (
            text_of(d, "ingestion-kpi-dead-letters") == "15"
            and text_of(d, "ingestion-kpi-bad-share") == "1.20%"
        ),
        "the 7-day range to count the dead letters of three days ago",
    )
    assert table_rows(browser, "ingestion-reasons")[0][:4] == [
        "access.log",
        "nginx",
        "not a combined log line",
        "9",
    ]
    assert_no_errors(browser)


def test_navigation_between_the_pages(browser, server):
    browser.get(server.url)
    wait_for(browser, lambda d: text_of(d, "overview-kpi-requests") == "1,234", "the overview")
    links = browser.find_elements(By.CSS_SELECTOR, ".nav a.nav-link")
    assert [link.text for link in links] == ["Overview", "Ingestion health"]
    browser.find_element(By.LINK_TEXT, "Ingestion health").click()
    wait_for(
        browser,
        lambda d: text_of(d, "ingestion-kpi-dead-letters") == "11",
        "the ingestion page after clicking its nav link",
    )
    assert browser.current_url == server.url + "ingestion"
    active = browser.find_element(By.CSS_SELECTOR, ".nav a.nav-link.active")
    assert active.text == "Ingestion health"
    browser.find_element(By.LINK_TEXT, "Overview").click()
    wait_for(
        browser,
        lambda d: text_of(d, "overview-kpi-requests") == "1,234",
        "the overview after clicking its nav link",
    )
    assert browser.find_element(By.CSS_SELECTOR, ".nav a.nav-link.active").text == "Overview"
    assert_no_errors(browser)


def test_expanded_record_stays_open_across_refreshes(
    browser, server, ingest_wh_module, monkeypatch
):
    """Last in the module: it adds records to the module's warehouse."""
    monkeypatch.setattr(sys.modules[PAGE], "REFRESH_MS", 1000)  # read by the next page load
    open_page(browser, server)
    details = browser.find_element(By.CSS_SELECTOR, "#ingestion-latest details.record-details")
    summary = details.find_element(By.TAG_NAME, "summary")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", summary)
    summary.click()
    wait_for(browser, lambda d: details.get_attribute("open"), "the record to expand")

    late = AccessEvent(
        event_time=datetime.now(UTC),
        gateway="kong",
        api="shop",
        method="GET",
        path="/v1/status",
        status=200,
        consumer="anonymous",
        source="late.log:1",
    )
    WarehouseSink(ingest_wh_module).write(SinkBatch(events=[("late/0/0", late)]))
    wait_for(
        browser,
        lambda d: "of 4 sending" in (text_of(d, "ingestion-kpis") or ""),
        "a refresh to count the new source",
    )
    assert details.get_attribute("open") == "true"  # the same element, still expanded
    assert details.find_element(By.TAG_NAME, "pre").is_displayed()

    letter = DeadLetter("late/0", 1, 0, "late.log:2", "nginx", "not a combined log line", "?")
    WarehouseSink(ingest_wh_module).write(SinkBatch(dead_letters=[letter]))
    wait_for(
        browser,
        lambda d: (table_rows(d, "ingestion-latest") or [[""] * 2])[0][1] == "late.log:2",
        "a refresh to list the new dead letter first",
    )
    assert text_of(browser, "ingestion-kpi-dead-letters") == "12"
    assert_no_errors(browser)
