"""The scoreboard and a report in a real browser (the distribution's Chromium through Selenium), opened from
disk with the network off: filters work, no console errors, no network requests."""

import json
import shutil
from pathlib import Path

import pytest

from simrepro.repro import paths
from simrepro.repro.runner import run_paper
from simrepro.repro.site import build_site

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser():
    if not (CHROMIUM and DRIVER):
        pytest.skip("no browser: `apt-get install chromium chromium-driver` (scripts/setup.sh does it as root)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--no-first-run"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def requests_made(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def problems(driver) -> tuple[list[str], list[str]]:
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    remote = [u for u in requests_made(driver) if not u.startswith(("file:", "data:", "about:"))]
    return errors, remote


def shown(driver) -> int:
    return int(driver.find_element("id", "shown").text)


def choose(driver, select_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select
    Select(driver.find_element("id", select_id)).select_by_value(value)


def test_scoreboard_filters_and_a_report_offline(suite, browser):
    run_paper("toy_paper", "smoke", progress=False)
    index = Path(build_site())
    browser.get(index.as_uri())
    assert browser.title == "simrepro scoreboard"
    assert shown(browser) == 120
    choose(browser, "f-theme", "diversity")
    assert shown(browser) == 4           # vendi_score, vendi_cousins, ms_dpp_diversity and the toy paper
    choose(browser, "f-theme", "")
    choose(browser, "f-verdict", "pending")
    assert shown(browser) == 119
    choose(browser, "f-verdict", "passed")
    assert shown(browser) == 1
    choose(browser, "f-verdict", "")
    choose(browser, "f-tier", "A")
    tier_a = shown(browser)
    assert 1 <= tier_a < 120
    choose(browser, "f-tier", "")
    box = browser.find_element("id", "f-text")
    box.send_keys("toy")
    assert shown(browser) == 1
    row = next(r for r in browser.find_elements("css selector", "tr.paper") if r.is_displayed())
    assert "A Toy Paper" in row.text
    row.find_element("tag name", "summary").click()
    assert "1/1 checks passed" in row.text and "square" in row.text
    assert problems(browser) == ([], [])

    row.find_element("link text", "report").click()
    assert Path(browser.current_url.removeprefix("file://")) == paths.report_file("toy_paper")
    assert browser.title == "999. A Toy Paper — simrepro"
    assert "replaced by the injected cell below" in browser.page_source
    assert problems(browser) == ([], [])
