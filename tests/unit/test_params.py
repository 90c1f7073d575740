"""Bad params fail fast with a message naming the key, before any data is read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers.support import ROOT, params_with, write_params

from imdb_sentiment.ngrams import DEFAULT_TOKEN_PATTERN
from imdb_sentiment.training.params import (
    SECTIONS,
    FeaturizeParams,
    ParamsError,
    TrainParams,
    load_all,
    parse_section,
)


def test_committed_params_are_valid() -> None:
    sections = load_all(ROOT / "params.yaml")
    assert set(sections) == set(SECTIONS)


@pytest.mark.parametrize(
    ("section", "model", "key", "value", "message"),
    [
        ("train", TrainParams, "C", -1.0, "train.C: Input should be greater than 0"),
        (
            "train",
            TrainParams,
            "nb_interpolation",
            1.5,
            "train.nb_interpolation: Input should be less than or equal to 1",
        ),
        (
            "train",
            TrainParams,
            "model",
            "random_forest",
            "train.model: Input should be 'logistic_regression', 'linear_svm' or 'sgd'",
        ),
        (
            "featurize",
            FeaturizeParams,
            "ngram_range",
            [],
            "featurize.ngram_range: Value error, must be two integers",
        ),
        (
            "featurize",
            FeaturizeParams,
            "ngram_range",
            [2, 1],
            "must satisfy 1 <= min_n <= max_n, got [2, 1]",
        ),
        (
            "featurize",
            FeaturizeParams,
            "min_df",
            0,
            "featurize.min_df: Input should be greater than or equal to 1",
        ),
        (
            "featurize",
            FeaturizeParams,
            "max_df",
            1.5,
            "featurize.max_df: Input should be less than or equal to 1",
        ),
    ],
)
def test_bad_values_are_named(
    section: str, model: type, key: str, value: object, message: str
) -> None:
    values = params_with({f"{section}.{key}": value})[section]
    with pytest.raises(ParamsError) as error:
        parse_section(section, values, model)
    assert message in str(error.value)
    assert repr(value) in str(error.value) or key == "ngram_range"


@pytest.mark.parametrize(
    ("masking", "message"),
    [
        (
            {"min_count": 5, "threshold": 0.3},
            "featurize.name_masking.threshold: Input should be greater than 0.5 (got 0.3)",
        ),
        (
            {"min_count": -1, "threshold": 0.9},
            "featurize.name_masking.min_count: Input should be greater than or equal to 0 (got -1)",
        ),
        ({"min_count": 5}, "featurize.name_masking.threshold: Field required"),
    ],
)
def test_bad_name_masking_values_are_named(masking: dict, message: str) -> None:
    values = params_with({"featurize.name_masking": masking})["featurize"]
    with pytest.raises(ParamsError) as error:
        parse_section("featurize", values, FeaturizeParams)
    assert message in str(error.value)


def test_name_masking_is_for_the_ngram_vectorizer_only() -> None:
    values = params_with(
        {
            "featurize.vectorizer": "tfidf",
            "featurize.length_feature": False,
            "featurize.negation_scope": 0,
            "featurize.token_pattern": DEFAULT_TOKEN_PATTERN,
            "featurize.name_masking": {"min_count": 5, "threshold": 0.9},
        }
    )["featurize"]
    with pytest.raises(ParamsError, match=r"name_masking .*for vectorizer 'ngram' only"):
        parse_section("featurize", values, FeaturizeParams)


def test_nb_interpolation_without_nb_weighting_names_both_keys() -> None:
    values = params_with({"train.nb_interpolation": 0.5, "train.nb_weighting": False})["train"]
    with pytest.raises(ParamsError, match=r"nb_interpolation < 1 .*set nb_weighting to true"):
        parse_section("train", values, TrainParams)


def test_unknown_keys_are_typos() -> None:
    values = params_with({"train.learning_rate": 0.1})["train"]
    with pytest.raises(ParamsError, match=r"train\.learning_rate: Extra inputs are not permitted"):
        parse_section("train", values, TrainParams)


def test_stage_fails_on_bad_params_without_touching_data(tmp_path: Path) -> None:
    write_params(tmp_path, {"train.C": -1.0})
    # No features exist in tmp_path: a stage that validated late would crash on a missing file instead.
    result = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "train.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: invalid params: train.C: Input should be greater than 0 (got -1.0)"
    ]
    assert not (tmp_path / "data").exists()
