"""Driving Debian's headless Chromium for the dashboard tests: the module-scoped `browser`
fixture, waiting for the page, reading elements and tables, and asserting that Dash showed no
error (dev tools on, so a callback or layout error shows the error overlay)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
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
