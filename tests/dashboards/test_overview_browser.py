"""The overview page in Debian's headless Chromium, on a real chDB warehouse with known usage.

Dash's dev tools are on (`create_app(wh, debug=True)`), so a callback or layout error would
show the dev tools' error overlay; the tests assert it never appears. A screenshot of the
loaded page is saved in the test's tmp dir and copied to /tmp/overview.png.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from dashboards import Server, create_app, serve

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT_COPY = Path("/tmp/overview.png")
WAIT_S = 30
CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1500",
)
ERROR_OVERLAY = ".dash-fe-error__title, .dash-error-card, .test-devtools-error-count"


@pytest.fixture(scope="module")
def server(usage_wh_module) -> Iterator[Server]:
    server = serve(create_app(usage_wh_module, debug=True), "127.0.0.1", 0)
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(
            f"browser tests need Debian's Chromium and its driver, missing: {', '.join(missing)}"
            " (install with `apt-get install chromium chromium-driver`, or `make browser-deps`)",
            pytrace=False,
        )
    options = webdriver.ChromeOptions()
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()


def wait_for(driver: webdriver.Chrome, condition, what: str):
    try:
        return WebDriverWait(
            driver, WAIT_S, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)
        ).until(condition)
    except TimeoutException:
        raise AssertionError(
            f"timed out after {WAIT_S} s waiting for {what}; page text:\n"
            + driver.find_element(By.TAG_NAME, "body").text[:2000]
        ) from None


def text_of(driver: webdriver.Chrome, element_id: str) -> str | None:
    found = driver.find_elements(By.ID, element_id)
    return found[0].text if found else None


def table_rows(driver: webdriver.Chrome, element_id: str) -> list[list[str]]:
    rows = driver.find_elements(By.CSS_SELECTOR, f"#{element_id} tbody tr")
    return [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows]


def assert_no_errors(driver: webdriver.Chrome) -> None:
    overlay = driver.find_elements(By.CSS_SELECTOR, ERROR_OVERLAY)
    assert not overlay, "Dash error overlay: " + " / ".join(e.text for e in overlay)
    assert "Traceback" not in driver.page_source
    severe = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, f"browser console errors: {severe}"


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
