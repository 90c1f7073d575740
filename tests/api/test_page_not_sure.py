"""The page on short input, in headless Chromium: whole percents, and "not sure" inside the band
the bundle's manifest carries (chosen on validation sentences by the evaluate stage)."""

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def verdict(driver: object, base: str, text: str) -> tuple[str, str]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base}/")
    wait = WebDriverWait(driver, 30)
    wait.until(lambda d: d.execute_script("return notSure !== null"))
    driver.find_element(By.ID, "review").send_keys(text)
    driver.find_element(By.ID, "analyze").click()
    wait.until(expected_conditions.visibility_of_element_located((By.ID, "result")))
    label = driver.find_element(By.ID, "label").text.lower()
    return label, driver.find_element(By.ID, "probability").text


def test_page_says_not_sure_inside_the_band_and_never_100_percent(
    browser: object,
    full_api_server: str,
    full_bundle: Path,
) -> None:
    import httpx

    band = json.loads((full_bundle / "manifest.json").read_text())["not_sure"]
    texts = ["The film was good.", "Awful. A complete waste of time and money."]
    scores = httpx.post(f"{full_api_server}/predict/batch", json={"texts": texts}, timeout=30)
    inside, sure = [item["probability_positive"] for item in scores.json()["predictions"]]
    assert band["low"] < inside < band["high"] and sure < band["low"]

    label, probability = verdict(browser, full_api_server, texts[0])
    assert label == "not sure"
    assert probability == f"{round(100 * inside)}%"
    label, probability = verdict(browser, full_api_server, texts[1])
    assert label == "negative"
    assert probability == "1%"  # p is far below 0.005: shown as 1 %, not "0.0 %"
