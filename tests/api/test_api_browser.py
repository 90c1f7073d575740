"""The page for people, in a real headless Chromium: type a review, click, read the verdict."""

import json
from pathlib import Path

import pytest
from helpers.support import ROOT

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "test-artifacts"
REVIEW = (
    "One of the best films I have seen in years. The acting is superb, the script is witty "
    "and the ending is wonderful. A few scenes drag and the villain is a bit dull, but I loved it."
)


def test_score_a_review_in_the_page(browser, full_api_server: str, full_bundle: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    version = json.loads((full_bundle / "manifest.json").read_text())["version"]
    browser.get(f"{full_api_server}/")
    wait = WebDriverWait(browser, 30)
    wait.until(expected_conditions.text_to_be_present_in_element((By.ID, "model-version"), version))
    assert browser.find_element(By.ID, "result").is_displayed() is False

    browser.find_element(By.ID, "review").send_keys(REVIEW)
    browser.find_element(By.ID, "analyze").click()
    wait.until(expected_conditions.visibility_of_element_located((By.ID, "result")))

    assert browser.find_element(By.ID, "label").text.lower() == "positive"
    probability = float(browser.find_element(By.ID, "probability").text.rstrip("%"))
    assert 50 < probability <= 100
    highlighted = browser.find_element(By.ID, "highlighted")
    assert highlighted.text == REVIEW  # the whole review, words wrapped but not altered
    positive = [
        mark.text.lower() for mark in highlighted.find_elements(By.CSS_SELECTOR, "mark.pos")
    ]
    negative = [
        mark.text.lower() for mark in highlighted.find_elements(By.CSS_SELECTOR, "mark.neg")
    ]
    assert {"best", "superb", "wonderful"} & set(positive)
    assert {"dull", "drag"} & set(negative)
    assert browser.find_element(By.ID, "model-version").text == version

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "page-positive-review.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000
    # The page loads nothing from outside the app: no errors, no blocked requests.
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []


def test_the_page_reports_bad_input(browser, full_api_server: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{full_api_server}/")
    textarea = browser.find_element(By.ID, "review")
    textarea.send_keys("    ")
    browser.find_element(By.ID, "analyze").click()
    WebDriverWait(browser, 30).until(
        expected_conditions.visibility_of_element_located((By.ID, "error"))
    )
    assert "empty or only whitespace" in browser.find_element(By.ID, "error").text
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "page-blank-review.png"))
