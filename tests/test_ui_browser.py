"""The E-Learning Sync Log page in a real browser: Debian's Chromium, driven by selenium, against
the real ``airflow api-server`` of ``airflow_server.py``.

The browser and its driver come from Debian (``scripts/install-test-browser.sh``); selenium is
pointed at them and its Selenium Manager, which would download a browser, is never used.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sync_log_sample import FAILED_MESSAGE

pytest_plugins = ["airflow_server"]

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
INSTALL = "sudo bash scripts/install-test-browser.sh (apt-get install -y chromium chromium-driver)"
WAIT_SECONDS = 30

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason=f"Chromium or chromedriver not installed: {INSTALL}",
)


@pytest.fixture
def browser(monkeypatch):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    def no_download(*args, **kwargs):
        raise AssertionError("Selenium Manager was asked for a browser or a driver: they must be Debian's")

    monkeypatch.setattr(SeleniumManager, "binary_paths", no_download)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,1400",
                     "--lang=en-AU"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    yield driver
    driver.quit()


def test_a_user_logs_in_and_reads_the_sync_log_page_from_the_navigation(airflow_api_server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shows
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, WAIT_SECONDS)
    server = airflow_api_server

    # Log in through the UI's own form.
    browser.get(f"{server.url}/")
    wait.until(shows.element_to_be_clickable((By.NAME, "username"))).send_keys("viewer")
    browser.find_element(By.NAME, "password").send_keys(server.password("viewer"))
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    # Open the page from the navigation: it shows inside the UI, in an iframe.
    wait.until(shows.element_to_be_clickable((By.CSS_SELECTOR, "a[aria-label='E-Learning Sync Log']"))).click()
    frame = wait.until(shows.presence_of_element_located((By.CSS_SELECTOR, "iframe[title='E-Learning Sync Log']")))
    assert urlsplit(browser.current_url).path.startswith("/plugin/elearning-sync-log")
    browser.switch_to.frame(frame)
    chart = wait.until(shows.visibility_of_element_located((By.CSS_SELECTOR, "svg.chart")))
    assert chart.size["height"] > 100 and len(chart.find_elements(By.CSS_SELECTOR, "rect")) >= 3
    failed = wait.until(shows.visibility_of_element_located(
        (By.CSS_SELECTOR, f"tr[data-sync-log-id='{server.seeded.failed_sync_log_id}']")))
    assert FAILED_MESSAGE in failed.text and "failed" in failed.find_element(By.CSS_SELECTOR, ".badge").text

    browser.switch_to.default_content()
    screenshot = tmp_path / "sync-log-page.png"
    assert browser.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000

    # The error (like the anomalies) expands.
    browser.switch_to.frame(frame)
    error = failed.find_element(By.CSS_SELECTOR, "details.error")
    assert not error.find_element(By.TAG_NAME, "pre").is_displayed()
    error.find_element(By.TAG_NAME, "summary").click()
    assert error.find_element(By.TAG_NAME, "pre").is_displayed()

    # The filters work inside the frame, and the UI's address follows them (a link to share).
    Select(browser.find_element(By.NAME, "status")).select_by_value("failed")
    browser.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    wait.until(shows.staleness_of(failed))
    statuses = {e.text for e in browser.find_elements(By.CSS_SELECTOR, "tr.task .badge")}
    assert statuses == {"failed"}
    browser.switch_to.default_content()
    wait.until(lambda b: "status=failed" in b.current_url)
    assert urlsplit(browser.current_url).path == "/plugin/elearning-sync-log/powerpro-moodle/sync-log"

    # The row's link opens its task instance in the UI around the frame (not inside it).
    browser.switch_to.frame(frame)
    failed = browser.find_element(By.CSS_SELECTOR, f"tr[data-sync-log-id='{server.seeded.failed_sync_log_id}']")
    link = failed.find_element(By.CSS_SELECTOR, "a[data-airflow='task-instance']")
    target = urlsplit(link.get_attribute("href")).path
    assert target == ("/dags/powerpro_moodle_resulting/runs/manual__2026-03-14T05%3A30%3A00%2B00%3A00"
                      "/tasks/import_completion_file/mapped/1")
    link.click()
    browser.switch_to.default_content()
    wait.until(lambda b: urlsplit(b.current_url).path == target)
    wait.until(lambda b: not b.find_elements(By.CSS_SELECTOR, "iframe[title='E-Learning Sync Log']"))
    browser.save_screenshot(str(tmp_path / "task-instance.png"))

    # The page's own style and script were allowed by its Content-Security-Policy, and nothing
    # of it failed to load.
    problems = [e["message"] for e in browser.get_log("browser")
                if "powerpro-moodle" in e["message"] and e["level"] == "SEVERE"]
    assert problems == []
