"""The Prefect batch flow on local files: outputs, rejects, monitoring report, re-runs, failures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from batch_support import read_outputs, reviews_frame
from helpers.support import SMALL_OVERRIDES, run_stages, write_params

from imdb_sentiment.bundle import BundleError, load_bundle

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def batch_env(monkeypatch: pytest.MonkeyPatch, small_bundle: Path) -> Path:
    """Settings for fast, exact runs: the small bundle, one in-process worker."""
    monkeypatch.setenv("IMDB_SENTIMENT_MODEL", str(small_bundle))
    monkeypatch.setenv("IMDB_SENTIMENT_BATCH_WORKERS", "1")
    monkeypatch.setenv("IMDB_SENTIMENT_BATCH_RETRY_DELAY_SECONDS", "0")
    return small_bundle


@pytest.fixture
def test_reviews(sample_pipeline: Path) -> pd.DataFrame:
    return reviews_frame(sample_pipeline / "data" / "split" / "test.parquet")


def _run(**kwargs):
    from imdb_sentiment.batch.flow import batch_predict

    return batch_predict(**kwargs, return_state=True)


def test_scores_csv_with_rejects_labels_and_report(
    batch_env: Path, test_reviews: pd.DataFrame, tmp_path: Path
) -> None:
    frame = test_reviews.copy().astype(object)
    frame.loc[2, "review"] = None  # missing
    frame.loc[5, "review"] = "   "  # empty
    frame.loc[7, "sentiment"] = "unsure"  # not a label: excluded from the metrics
    source = tmp_path / "reviews.csv"
    frame.to_csv(source, index=False)
    state = _run(input=str(source), output=str(tmp_path / "out"), chunk_rows=16, write_csv=True)
    assert state.is_completed()
    out = read_outputs(tmp_path / "out")
    predictions, rejects, report = out["predictions"], out["rejects"], out["report"]

    assert list(predictions.columns) == [
        "id",
        "predicted_label",
        "probability_positive",
        "model_version",
        "scored_at",
    ]
    expected_ids = [i for n, i in enumerate(frame["id"]) if n not in (2, 5)]
    assert predictions["id"].tolist() == expected_ids
    model = load_bundle(batch_env)
    texts = [t for n, t in enumerate(frame["review"]) if n not in (2, 5)]
    np.testing.assert_allclose(predictions["probability_positive"], model.predict_proba(texts))
    assert predictions["predicted_label"].tolist() == model.predict(texts)
    assert set(predictions["model_version"]) == {model.version}
    assert predictions["scored_at"].nunique() == 1
    csv = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert csv["id"].tolist() == expected_ids

    assert rejects.to_dict("records") == [
        {"row": 2, "id": frame.loc[2, "id"], "reason": "missing_text"},
        {"row": 5, "id": frame.loc[5, "id"], "reason": "empty_text"},
    ]
    counts = report["counts"]
    assert counts["input_rows"] == len(frame)
    assert counts["scored"] + counts["rejected"] == counts["input_rows"]
    assert counts["rejected_by_reason"] == {"missing_text": 1, "empty_text": 1, "not_text": 0}
    assert counts["labels_unrecognized"] == 1

    truth = frame["sentiment"].drop(index=[2, 5]).to_numpy()
    guess = predictions["predicted_label"].to_numpy()
    known = truth != "unsure"
    metrics = report["label_metrics"]
    assert metrics["rows"] == known.sum()
    assert metrics["accuracy"] == pytest.approx((truth[known] == guess[known]).mean(), abs=1e-6)
    (tn, fp), (fn, tp) = metrics["confusion_matrix"]["rows_true_columns_predicted"]
    assert tp == ((truth == "positive") & (guess == "positive")).sum()
    assert tn + fp + fn + tp == known.sum()
    assert 0 <= metrics["f1"] <= 1

    assert report["profile"]["rows"] == counts["scored"]
    assert report["profile"]["predicted_positive_rate"] == pytest.approx(
        (guess == "positive").mean(), abs=1e-6
    )
    assert set(report["drift"]["psi"]) == {"text_length", "oov_rate", "score"}
    assert report["drift"]["thresholds"] == {"psi": 0.2, "positive_rate_change": 0.15}
    # The summary's time covers the whole run: writing the report and publishing too.
    seconds = state.result()["seconds"]
    assert seconds >= report["run"]["seconds"]
    assert state.message == report_message(report, seconds)


def report_message(report: dict, seconds: float | None = None) -> str:
    from imdb_sentiment.batch.flow import summarize

    return summarize(report, total_seconds=seconds)["message"]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture(scope="module")
def unrefitted_bundle(
    sample_pipeline: Path, sample_archive: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The sample pipeline re-run from train with ``train.refit`` off, so the exported model is
    the one whose validation scores make the bundle's reference profile."""
    workdir = tmp_path_factory.mktemp("unrefitted")
    shutil.copytree(sample_pipeline / "data", workdir / "data")
    write_params(workdir, {**SMALL_OVERRIDES, "train.refit": False})
    run_stages(workdir, sample_archive, stages=("train", "evaluate", "export"))
    return workdir / "models" / "imdb-sentiment"


def test_the_reference_data_itself_shows_no_drift_and_a_self_contained_page(
    batch_env: Path,
    unrefitted_bundle: Path,
    sample_pipeline: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The bundle's reference profile was built on the validation split: scoring it must match.
    monkeypatch.setenv("IMDB_SENTIMENT_MODEL", str(unrefitted_bundle))
    source = sample_pipeline / "data" / "split" / "val.parquet"
    state = _run(input=str(source), output=str(tmp_path / "val.parquet"), chunk_rows=10)
    report = json.loads((tmp_path / "val.report.json").read_text())
    assert report["run"]["columns"] == {"text": "text", "id": "review_id", "label": "label"}
    assert all(value < 1e-3 for value in report["drift"]["psi"].values()), report["drift"]
    assert report["drift"]["flag"] is False
    assert "DRIFT" not in state.message

    page = _Page()
    page.feed((tmp_path / "val.report.html").read_text())
    tags = [tag for tag, _ in page.tags]
    assert "script" not in tags and "link" not in tags
    assert not [a for _, a in page.tags if str(a.get("src", "")).startswith("http")]
    assert tags.count("svg") == 3  # text length, OOV rate and score distributions
    assert "No drift over threshold" in " ".join(page.text)
    assert "Confusion matrix" in " ".join(page.text)


def test_shifted_input_is_flagged_as_drift(
    batch_env: Path, test_reviews: pd.DataFrame, tmp_path: Path
) -> None:
    shifted = test_reviews.copy()
    # Short texts of words the model has never seen: length and OOV rate both move far.
    shifted["review"] = [f"zorblax quintrell {i} vemmoth" for i in range(len(shifted))]
    source = tmp_path / "shifted.parquet"
    shifted.to_parquet(source)
    state = _run(input=str(source), output=str(tmp_path / "out"))
    report = read_outputs(tmp_path / "out")["report"]
    drift = report["drift"]
    assert drift["flag"] is True
    assert {"text_length", "oov_rate"} <= set(drift["drifted"])
    assert drift["psi"]["text_length"] > 0.2 and drift["psi"]["oov_rate"] > 0.2
    assert "DRIFT over threshold" in state.message and "text_length" in state.message
    html = (tmp_path / "out" / "predictions.report.html").read_text()
    assert "Drift over threshold" in html


def test_the_drift_table_is_published_as_an_artifact_of_the_flow_run(
    batch_env: Path, test_reviews: pd.DataFrame, tmp_path: Path
) -> None:
    """The drift section of the report also shows in Prefect's UI, on the run's Artifacts tab."""
    from prefect.artifacts import Artifact

    from imdb_sentiment.batch.flow import DRIFT_ARTIFACT_KEY

    shifted = test_reviews.copy()
    shifted["review"] = [f"zorblax quintrell {i} vemmoth" for i in range(len(shifted))]
    source = tmp_path / "shifted.parquet"
    shifted.to_parquet(source)
    state = _run(input=str(source), output=str(tmp_path / "out"))
    report = read_outputs(tmp_path / "out")["report"]
    artifact = Artifact.get(DRIFT_ARTIFACT_KEY)
    assert artifact is not None and artifact.type == "markdown"
    assert artifact.flow_run_id == state.state_details.flow_run_id
    table = artifact.data
    assert "**Drift over threshold**" in table
    assert (
        f"| Text length (characters) | {report['drift']['psi']['text_length']:.4f} | 0.2 | drift |"
        in table
    )
    change = report["drift"]["positive_rate_change"]
    assert f"| Predicted positive rate (change) | {change:.4f} | 0.15 |" in table
    assert state.message in table
    assert str(tmp_path / "out" / "predictions.report.html") in table


def test_rerun_gives_the_same_output_and_leaves_no_staging(
    batch_env: Path, test_reviews: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "reviews.parquet"
    test_reviews.to_parquet(source)
    output = tmp_path / "out"
    _run(input=str(source), output=str(output), chunk_rows=8)
    first = read_outputs(output)
    _run(input=str(source), output=str(output), chunk_rows=8)
    second = read_outputs(output)
    columns = ["id", "predicted_label", "probability_positive", "model_version"]
    pd.testing.assert_frame_equal(first["predictions"][columns], second["predictions"][columns])
    pd.testing.assert_frame_equal(first["rejects"], second["rejects"])
    for section in ("counts", "profile", "drift", "label_metrics"):
        assert first["report"][section] == second["report"][section]
    assert sorted(p.name for p in output.iterdir()) == [
        "predictions.parquet",
        "predictions.rejects.parquet",
        "predictions.report.html",
        "predictions.report.json",
    ]


def test_non_text_values_are_rejected(batch_env: Path, tmp_path: Path) -> None:
    source = tmp_path / "numbers.parquet"
    pd.DataFrame({"text": pd.Series([1.5, None, 3.0])}).to_parquet(source)
    _run(input=str(source), output=str(tmp_path / "out"))
    out = read_outputs(tmp_path / "out")
    assert out["predictions"].empty
    assert out["rejects"]["reason"].tolist() == ["not_text", "missing_text", "not_text"]
    assert out["rejects"]["id"].tolist() == ["0", "1", "2"]  # row numbers stand in for ids
    assert out["report"]["drift"]["available"] is False

    # Nulls in a Parquet string column are missing text, like empty CSV fields.
    strings = tmp_path / "strings.parquet"
    pd.DataFrame({"text": ["a fine film", None, " \t"]}).to_parquet(strings)
    _run(input=str(strings), output=str(tmp_path / "strings"))
    out = read_outputs(tmp_path / "strings")
    assert out["predictions"]["id"].tolist() == ["0"]
    assert out["rejects"]["reason"].tolist() == ["missing_text", "empty_text"]


def test_bad_input_or_bundle_fails_at_once_with_a_clear_message(
    batch_env: Path, test_reviews: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imdb_sentiment.batch.flow import batch_predict
    from imdb_sentiment.batch.plan import InputError

    # Retries would only delay these: they must not be attempted.
    monkeypatch.setenv("IMDB_SENTIMENT_BATCH_RETRY_DELAY_SECONDS", "30")
    with pytest.raises(InputError, match="does not exist"):
        batch_predict(input=str(tmp_path / "absent.csv"), output=str(tmp_path / "out"))
    source = tmp_path / "wrong.csv"
    test_reviews.rename(columns={"review": "body"}).to_csv(source, index=False)
    with pytest.raises(InputError, match="no review text column"):
        batch_predict(input=str(source), output=str(tmp_path / "out"))
    with pytest.raises(BundleError, match="no model bundle"):
        batch_predict(input=str(source), output=str(tmp_path / "out"), model=str(tmp_path))
    # A readable input with a bad bundle: its chunks may be read while the bundle loads, but
    # none is scored or written.
    good = tmp_path / "good.csv"
    test_reviews.to_csv(good, index=False)
    with pytest.raises(BundleError, match="no model bundle"):
        batch_predict(input=str(good), output=str(tmp_path / "out"), model=str(tmp_path))
    assert not (tmp_path / "out").exists()


def test_a_bundle_that_changes_during_the_run_publishes_nothing(
    batch_env: Path, test_reviews: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunk tasks on other processes (Dask) load the bundle themselves; if it was replaced
    meanwhile, their scores come from another model and the run must not publish them."""
    import dataclasses
    import threading

    from imdb_sentiment.batch import flow

    real = flow.cached_model

    def replaced_after_the_flow_loaded_it(location: str, workers: int = 1):
        model = real(location, workers)
        if threading.current_thread().name.startswith("load-bundle"):
            return model
        return dataclasses.replace(model, manifest={**model.manifest, "version": "replaced"})

    monkeypatch.setattr(flow, "cached_model", replaced_after_the_flow_loaded_it)
    source = tmp_path / "reviews.parquet"
    test_reviews.to_parquet(source)
    with pytest.raises(BundleError, match=r"changed during the run.*\['replaced'\]"):
        flow.batch_predict(input=str(source), output=str(tmp_path / "out"), chunk_rows=50)
    assert not list((tmp_path / "out").glob("predictions*")), "nothing published"


@pytest.mark.parametrize("chunk_rows", [16, None], ids=["parts-joined", "lone-part"])
def test_a_part_file_short_of_rows_fails_the_run_and_publishes_nothing(
    batch_env: Path,
    test_reviews: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chunk_rows: int | None,
) -> None:
    """Publishing checks the rows the part files hold against the rows scored, before any file
    is put in place, and does not retry what a retry cannot fix: whether parts are joined or,
    for a run of one chunk, its lone part is put in place as it is."""
    from imdb_sentiment.batch import flow, publish, storage

    real_write, real_join = storage.write_table, publish.concatenate_parts
    joins: list[str] = []

    def drop_a_scored_row(table, url: str) -> int:
        if "/predictions/part-000000" in url:
            table = table.slice(1)
        return real_write(table, url)

    def counted_join(parts, schema, parquet_url, csv_url=None, part_rows=None):
        joins.append(parquet_url)
        return real_join(parts, schema, parquet_url, csv_url, part_rows)

    monkeypatch.setenv("IMDB_SENTIMENT_BATCH_RETRIES", "2")
    monkeypatch.setattr(storage, "write_table", drop_a_scored_row)
    monkeypatch.setattr(publish, "concatenate_parts", counted_join)
    source = tmp_path / "reviews.parquet"
    test_reviews.to_parquet(source)
    expected = f"{len(test_reviews)} rows scored but {len(test_reviews) - 1} written"
    with pytest.raises(flow.RowAccountingError, match=expected):
        flow.batch_predict(input=str(source), output=str(tmp_path / "out"), chunk_rows=chunk_rows)
    assert not list((tmp_path / "out").glob("predictions*")), "nothing published"
    assert len(joins) == 2, "predictions and rejects joined once: publishing was not retried"


def test_default_runner_scores_on_a_process_pool(
    batch_env: Path, test_reviews: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imdb_sentiment import bundle
    from imdb_sentiment.batch.flow import cached_model

    monkeypatch.setenv("IMDB_SENTIMENT_BATCH_WORKERS", "2")  # as the default on 2 cores
    monkeypatch.setattr(bundle, "PARALLEL_MIN_BATCH", 10)  # chunks of the sample are small
    source = tmp_path / "reviews.parquet"
    test_reviews.to_parquet(source)
    _run(input=str(source), output=str(tmp_path / "pool"), chunk_rows=50)
    assert cached_model(str(batch_env), 2)._pool is not None, "scored on forked processes"
    monkeypatch.setenv("IMDB_SENTIMENT_BATCH_WORKERS", "1")
    _run(input=str(source), output=str(tmp_path / "single"), chunk_rows=50)
    pool, single = read_outputs(tmp_path / "pool"), read_outputs(tmp_path / "single")
    assert pool["report"]["run"]["scoring_workers"] == 2
    assert single["report"]["run"]["scoring_workers"] == 1
    assert pool["report"]["profile"] == single["report"]["profile"], "OOV rates agree too"
    columns = ["id", "predicted_label", "probability_positive", "model_version"]
    pd.testing.assert_frame_equal(pool["predictions"][columns], single["predictions"][columns])


def test_flow_module_does_not_import_training_code() -> None:
    code = (
        "import sys, imdb_sentiment.batch.flow, imdb_sentiment.cli; "
        "bad = [m for m in sys.modules if m.startswith('imdb_sentiment.training')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
