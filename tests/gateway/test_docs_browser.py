"""/docs in a real browser (Debian's headless chromium through chromedriver): the page renders
from the gateway's own files and a "Try it out" call of echo shows echo's answer."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

from tests.support import ROOT, Stack, serve

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with serve(tmp_path_factory.mktemp("docs"), [ROOT / "wrappers/echo/wrapper.py"]) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    assert not missing, f"{', '.join(missing)} missing: `make test` installs chromium and " \
                        "chromium-driver (Debian packages)"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1500"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def keep_screenshot(driver: webdriver.Chrome, tmp_path: Path) -> Path:
    """In the test's tmp dir; also as tests/artifacts/docs.png when ATHENA_TEST_ARTIFACTS is
    set (CI runs leave the tree alone)."""
    shot = tmp_path / "docs.png"
    driver.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    if os.environ.get("ATHENA_TEST_ARTIFACTS"):
        kept = ROOT / "tests" / "artifacts" / "docs.png"
        kept.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, kept)
        print(f"screenshot kept: {kept}")
    return shot


def test_try_it_out_on_the_docs_page_calls_echo_and_shows_its_answer(
        stack: Stack, browser: webdriver.Chrome, tmp_path: Path) -> None:
    wait = WebDriverWait(browser, 30)
    browser.get(f"{stack.base}/docs")
    # Swagger UI names each operation block operations-<tag>-<operationId>
    echo = wait.until(seen.presence_of_element_located((By.ID, "operations-abilities-echo")))
    echo.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(lambda _: echo.find_element(By.CSS_SELECTOR, ".try-out__btn")).click()
    body = wait.until(lambda _: echo.find_element(By.CSS_SELECTOR, "textarea.body-param__text"))
    assert '"text": "aGVsbG8="' in body.get_attribute("value")  # the example, "hello"
    echo.find_element(By.CSS_SELECTOR, "button.execute").click()

    def answer(_: object) -> WebElement | bool:
        shown = echo.find_elements(By.CSS_SELECTOR,
                                   ".live-responses-table .response-col_description pre")
        return shown[0] if shown and "success" in shown[0].text else False

    shown = wait.until(answer)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", shown)
    keep_screenshot(browser, tmp_path)
    assert '"text": "hello"' in shown.text
    assert '"code": 0' in shown.text
    status = echo.find_element(By.CSS_SELECTOR,
                               ".live-responses-table tr.response .response-col_status")
    assert status.text.strip() == "200"

    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert fetched and all(url.startswith(stack.base) for url in fetched), fetched
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors  # no script error, nothing refused by the page's CSP
