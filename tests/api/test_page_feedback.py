"""The page's "Was this right?" control, in headless Chromium: each click stores one row with
what the user was shown and their verdict, and the page says thank you."""

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers.api_server import running_server, running_server_process

from imdb_sentiment.cli import main

pytestmark = pytest.mark.slow


def answer_and_judge(driver: object, base: str, text: str, button: str) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base}/")
    wait = WebDriverWait(driver, 30)
    driver.find_element(By.ID, "review").send_keys(text)
    driver.find_element(By.ID, "analyze").click()
    wait.until(expected_conditions.visibility_of_element_located((By.ID, "result")))
    status = driver.find_element(By.ID, "feedback-status")
    assert status.text == ""
    driver.find_element(By.ID, button).click()
    wait.until(lambda d: status.text != "")
    assert driver.find_element(By.ID, "feedback-yes").get_attribute("disabled") is not None
    return status.text


def test_was_this_right_stores_the_verdict_with_what_was_shown(
    browser: object,
    full_bundle: Path,
    tmp_path: Path,
) -> None:
    import httpx

    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    liked = "A wonderful film: superb acting and a story that kept me gripped."
    hated = "Awful. A complete waste of time and money."
    with running_server(
        full_bundle, tmp_path / "server.log", IMDB_SENTIMENT_FEEDBACK_DB=url
    ) as base:
        shown = {
            text: httpx.post(f"{base}/predict", json={"text": text}, timeout=30).json()
            for text in (liked, hated)
        }
        assert answer_and_judge(browser, base, liked, "feedback-yes").startswith("Thank you")
        assert answer_and_judge(browser, base, hated, "feedback-no").startswith("Thank you")
    output = tmp_path / "export.parquet"
    assert main(["feedback", "export", "--db", url, "--output", str(output)]) == 0
    rows = {row["text"]: row for row in pq.read_table(output).to_pylist()}
    assert set(rows) == {liked, hated}
    for text, verdict_right in ((liked, True), (hated, False)):
        row, answer = rows[text], shown[text]
        assert row["predicted_label"] == answer["label"]
        assert row["model_version"] == answer["model_version"]
        assert row["probability_positive"] == pytest.approx(answer["probability_positive"])
        assert (row["label"] == row["predicted_label"]) is verdict_right


def test_the_page_says_when_a_verdict_was_not_recorded_and_lets_the_user_retry(
    browser: object,
    small_bundle: Path,
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    log = tmp_path / "server.log"
    with running_server_process(small_bundle, log, IMDB_SENTIMENT_FEEDBACK_DB=url) as (
        server,
        base,
    ):
        browser.get(f"{base}/")
        wait = WebDriverWait(browser, 30)
        browser.find_element(By.ID, "review").send_keys("A fine film.")
        browser.find_element(By.ID, "analyze").click()
        wait.until(expected_conditions.visibility_of_element_located((By.ID, "result")))
        server.terminate()  # the service goes away between the answer and the verdict
        server.wait(timeout=30)
        browser.find_element(By.ID, "feedback-yes").click()
        status = browser.find_element(By.ID, "feedback-status")
        wait.until(lambda d: status.text != "")
        assert status.text.startswith("Your answer was not recorded")
        assert status.get_attribute("class") == "failed"
        assert browser.find_element(By.ID, "feedback-yes").get_attribute("disabled") is None
