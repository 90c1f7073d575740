"""`imdb-sentiment promote`: the champion alias moves only on a real validation improvement.

A real MLflow registry (SQLite) holds versions tagged the way the export stage tags them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.support import environment

from imdb_sentiment.cli import main
from imdb_sentiment.registry import mlflow_module

NAME = "imdb-sentiment"


@pytest.fixture(scope="module")
def empty_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite store (creating one costs seconds, copying it nothing)."""
    db = tmp_path_factory.mktemp("registry") / "empty.db"
    with environment(MLFLOW_TRACKING_URI=f"sqlite:///{db}"):
        mlflow_module().MlflowClient().search_registered_models()
    return db


@pytest.fixture
def client(empty_registry: Path, tmp_path: Path) -> Iterator:
    db = tmp_path / "registry.db"
    shutil.copy2(empty_registry, db)
    with environment(MLFLOW_TRACKING_URI=f"sqlite:///{db}"):
        client = mlflow_module().MlflowClient()
        client.create_registered_model(NAME)
        yield client


def _register(client, *, roc_auc: float, log_loss: float = 0.3, validation: str = "v1") -> str:
    tags = {
        "val.roc_auc": str(roc_auc),
        "val.log_loss": str(log_loss),
        "test.roc_auc": "0.999",
        "validation_key": validation,
        "bundle_version": f"b{roc_auc}",
    }
    version = client.create_model_version(NAME, source=str(Path.cwd() / "unused-model"), tags=tags)
    return str(version.version)


def _alias(client, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(NAME, alias).version)
    except Exception:
        return None


def _candidate(client, **metrics: float | str) -> str:
    version = _register(client, **metrics)
    client.set_registered_model_alias(NAME, "candidate", version)
    return version


def test_first_candidate_becomes_champion(client, capsys: pytest.CaptureFixture) -> None:
    version = _candidate(client, roc_auc=0.90)
    assert main(["promote"]) == 0
    assert _alias(client, "champion") == version
    assert "no champion yet" in capsys.readouterr().out


def test_promotes_when_validation_improves_by_the_margin(client, capsys) -> None:
    _candidate(client, roc_auc=0.90)
    main(["promote"])
    better = _candidate(client, roc_auc=0.905)
    assert main(["promote", "--min-improvement", "0.004"]) == 0
    assert _alias(client, "champion") == better
    assert "promoted: val roc_auc" in capsys.readouterr().out


def test_keeps_the_champion_when_the_gain_is_below_the_margin(client, capsys) -> None:
    champion = _candidate(client, roc_auc=0.90)
    main(["promote"])
    _candidate(client, roc_auc=0.9005)
    capsys.readouterr()
    assert main(["promote", "--min-improvement", "0.001"]) == 0
    assert _alias(client, "champion") == champion
    out = capsys.readouterr().out
    assert out.startswith("not promoted: val roc_auc")
    assert "improvement +0.000500, required 0.001" in out
    assert main(["promote", "--fail-if-not-promoted"]) == 3


def test_lower_is_better_for_log_loss(client) -> None:
    champion = _candidate(client, roc_auc=0.90, log_loss=0.30)
    main(["promote"])
    _candidate(client, roc_auc=0.99, log_loss=0.35)
    main(["promote", "--metric", "log_loss"])
    assert _alias(client, "champion") == champion
    better = _candidate(client, roc_auc=0.80, log_loss=0.20)
    main(["promote", "--metric", "val.log_loss"])
    assert _alias(client, "champion") == better


def test_never_promotes_on_test_metrics(client, capsys) -> None:
    _candidate(client, roc_auc=0.90)
    assert main(["promote", "--metric", "test.roc_auc"]) == 1
    assert "never for choosing a model" in capsys.readouterr().err
    assert _alias(client, "champion") is None


def test_refuses_to_compare_versions_validated_on_different_data(client, capsys) -> None:
    champion = _candidate(client, roc_auc=0.90, validation="v1")
    main(["promote"])
    other = _candidate(client, roc_auc=0.95, validation="v2")
    capsys.readouterr()
    main(["promote"])
    assert _alias(client, "champion") == champion
    assert "not comparable" in capsys.readouterr().out
    main(["promote", "--allow-different-validation"])
    assert _alias(client, "champion") == other


def test_no_candidate_is_a_clear_error(client, capsys) -> None:
    assert main(["promote"]) == 1
    assert "has no alias 'candidate'" in capsys.readouterr().err


def test_the_gate_passes_an_unchanged_champion_and_explains_a_refusal_in_the_summary(
    client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    champion = _candidate(client, roc_auc=0.90)
    assert main(["promote", "--fail-if-not-promoted"]) == 0
    # A push to main that does not change the model: the candidate is the champion already.
    client.set_registered_model_alias(NAME, "candidate", champion)
    assert main(["promote", "--fail-if-not-promoted"]) == 0
    _candidate(client, roc_auc=0.85)
    assert main(["promote", "--fail-if-not-promoted"]) == 3
    assert _alias(client, "champion") == champion
    refused = summary.read_text().split("### Promotion refused")[-1]
    assert (
        "not promoted: val roc_auc: candidate version 2 0.85 vs champion version 1 0.9" in refused
    )
