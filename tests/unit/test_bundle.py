"""The loader: a bundle loads only when it is whole, untouched and of a format this code reads."""

from __future__ import annotations

import json
import re
import shutil
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import yaml

from imdb_sentiment.bundle import (
    BUNDLE_FORMAT_VERSION,
    MANIFEST_NAME,
    BundleError,
    load_bundle,
    sha256_bytes,
)
from imdb_sentiment.training.io import read_parquet


@pytest.fixture
def bundle_copy(small_bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(small_bundle, tmp_path / "bundle"))


def _edit_manifest(bundle: Path, change) -> None:
    path = bundle / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def test_loads_and_scores_raw_text(small_bundle: Path, sample_pipeline: Path) -> None:
    model = load_bundle(small_bundle)
    texts = read_parquet(sample_pipeline / "data/split/test.parquet")["text"].tolist()
    probabilities = model.predict_proba(texts)
    assert probabilities.shape == (len(texts),)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    assert model.predict(texts[:3]) == model.labels_for(probabilities[:3])
    assert model.version == model.manifest["version"] and len(model.version) == 12


def test_bundle_records_what_made_it(small_bundle: Path, sample_pipeline: Path) -> None:
    manifest = load_bundle(small_bundle).manifest
    assert manifest["format_version"] == BUNDLE_FORMAT_VERSION
    params = yaml.safe_load((sample_pipeline / "params.yaml").read_text())
    assert manifest["params"]["train"] == {**manifest["params"]["train"], **params["train"]}
    assert manifest["params"]["featurize"]["ngram_range"] == params["featurize"]["ngram_range"]
    assert set(manifest["metrics"]) == {"val", "test"}
    raw = (sample_pipeline / "data/raw/reviews.parquet").read_bytes()
    assert manifest["data"]["reviews_sha256"] == sha256_bytes(raw)
    installed = {name: metadata.version(name) for name in ("scikit-learn", "numpy", "scipy")}
    assert manifest["libraries"] == {**manifest["libraries"], **installed}
    assert "python" in manifest["libraries"]
    profile = manifest["reference_profile"]
    assert profile["rows"] == manifest["data"]["rows"]["val"]
    assert sum(profile["score"]["proportions"]) == pytest.approx(1.0, abs=1e-4)


def test_tampered_file_is_refused(bundle_copy: Path) -> None:
    coef = bundle_copy / "classifier.coef.npy"
    data = bytearray(coef.read_bytes())
    data[-1] ^= 0xFF
    coef.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"classifier\.coef\.npy does not match the sha256"):
        load_bundle(bundle_copy)


def test_a_bundle_from_other_library_versions_loads_with_a_warning(bundle_copy: Path) -> None:
    manifest = json.loads((bundle_copy / MANIFEST_NAME).read_text())
    manifest["libraries"]["numpy"] = "1.0.0"
    (bundle_copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    installed = metadata.version("numpy")
    with pytest.warns(
        UserWarning, match=rf"other library versions \(numpy 1\.0\.0 -> {installed}\)"
    ):
        model = load_bundle(bundle_copy)
    assert model.version == manifest["version"]


def test_missing_manifest_is_refused(bundle_copy: Path) -> None:
    (bundle_copy / MANIFEST_NAME).unlink()
    with pytest.raises(BundleError, match=r"manifest\.json is missing"):
        load_bundle(bundle_copy)


def test_missing_bundle_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no model bundle at"):
        load_bundle(tmp_path / "nowhere")


def test_other_format_version_is_refused(bundle_copy: Path) -> None:
    _edit_manifest(bundle_copy, lambda m: m.update(format_version=BUNDLE_FORMAT_VERSION + 1))
    with pytest.raises(BundleError, match="format version 2"):
        load_bundle(bundle_copy)


def test_missing_listed_file_is_refused(bundle_copy: Path) -> None:
    # Any listed model file, whatever the vectorizer stores (vocabulary or token table).
    name = sorted(json.loads((bundle_copy / "manifest.json").read_text())["files"])[-1]
    (bundle_copy / name).unlink()
    with pytest.raises(BundleError, match=rf"{re.escape(name)} does not exist"):
        load_bundle(bundle_copy)


def test_file_names_cannot_escape_the_bundle(bundle_copy: Path) -> None:
    _edit_manifest(bundle_copy, lambda m: m["files"].update({"../secret": {"sha256": "0"}}))
    with pytest.raises(BundleError, match="outside the bundle"):
        load_bundle(bundle_copy)


def test_model_spec_cannot_name_arbitrary_code(bundle_copy: Path) -> None:
    # Even with hashes made to match, a spec naming an unknown preprocessor is refused.
    spec_path = bundle_copy / "model.json"
    spec = json.loads(spec_path.read_text())
    spec["features"]["blocks"][0]["preprocessor"] = "os.system"
    spec_path.write_text(json.dumps(spec))
    _edit_manifest(
        bundle_copy,
        lambda m: m["files"]["model.json"].update(sha256=sha256_bytes(spec_path.read_bytes())),
    )
    with pytest.raises(BundleError, match=r"unknown preprocessor 'os\.system'"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize("pattern", [r"(?:a+)+$", r"\S+", r"(?u)\b\w\w+\b"])
def test_only_token_patterns_the_tokenizer_supports_load(bundle_copy: Path, pattern: str) -> None:
    # A regex from a file is compiled and run on every review: a crafted one could stall scoring.
    spec_path = bundle_copy / "model.json"
    spec = json.loads(spec_path.read_text())
    block = spec["features"]["blocks"][0]
    assert block["kind"] == "ngram-ids"
    block["settings"]["token_pattern"] = pattern
    spec_path.write_text(json.dumps(spec))
    _edit_manifest(
        bundle_copy,
        lambda m: m["files"]["model.json"].update(sha256=sha256_bytes(spec_path.read_bytes())),
    )
    with pytest.raises(BundleError, match="is not one the tokenizer supports"):
        load_bundle(bundle_copy)


def test_unordered_ngram_keys_are_refused(bundle_copy: Path) -> None:
    # Lookups assume sorted, distinct keys: a bundle whose keys are not is refused at load time.
    keys_path = next(bundle_copy.glob("*.keys.npy"))
    keys = np.load(keys_path)
    np.save(keys_path, keys[::-1].copy())
    _edit_manifest(
        bundle_copy,
        lambda m: m["files"][keys_path.name].update(sha256=sha256_bytes(keys_path.read_bytes())),
    )
    with pytest.raises(BundleError, match="keys must be distinct and in ascending order"):
        load_bundle(bundle_copy)


def test_explanation_weights_add_up_to_the_score(small_bundle: Path) -> None:
    model = load_bundle(small_bundle)
    text = "A wonderful, moving film. The plot was boring in places but the acting was great."
    explanation = model.explain(text, top_k=1000)
    assert explanation.probability == pytest.approx(model.predict_proba([text])[0])
    total = sum(c.weight for c in explanation.positive + explanation.negative)
    intercept = float(model.pipeline[-1].intercept_[0])
    # The length feature (the last column) is part of the score but not listed as an n-gram.
    vectorizer, coef = model.pipeline[0], model.pipeline[-1].coef_[0]
    assert vectorizer.length_feature
    length_term = vectorizer.transform([text])[0, -1] * coef[-1]
    assert "[1/sqrt(n-grams)]" not in [
        c.feature for c in explanation.positive + explanation.negative
    ]
    assert 1 / (1 + np.exp(-(total + length_term + intercept))) == pytest.approx(
        explanation.probability, abs=1e-5
    )
    assert all(c.weight > 0 for c in explanation.positive)
    assert all(c.weight < 0 for c in explanation.negative)


def test_rejects_non_text_input(small_bundle: Path) -> None:
    model = load_bundle(small_bundle)
    with pytest.raises(TypeError, match="position 1 is int"):
        model.predict_proba(["fine", 3])
    with pytest.raises(TypeError, match="single string"):
        model.predict_proba("a string, not a list")
    assert model.predict_proba([]).shape == (0,)


def test_one_pass_scoring_gives_the_same_probabilities_and_oov_rates(small_bundle: Path) -> None:
    model = load_bundle(small_bundle)
    texts = ["A wonderful film!", "zzzqx blorf", "", "Dull, dull, dull. Not worth it."]
    probabilities, oov = model.predict_proba_and_oov_rates(texts)
    np.testing.assert_array_equal(probabilities, model.predict_proba(texts))
    np.testing.assert_allclose(oov, model.oov_rates(texts))
    assert oov[1] == 1.0 and oov[2] == 0.0


def test_batches_started_together_on_the_workers_come_back_in_their_own_order(
    small_bundle: Path, sample_pipeline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    from imdb_sentiment import bundle

    monkeypatch.setattr(bundle, "PARALLEL_MIN_BATCH", 8)
    texts = pd.read_parquet(sample_pipeline / "data" / "split" / "test.parquet")["text"].tolist()
    first, second = texts[:40], texts[40:100]
    single = load_bundle(small_bundle)
    pooled = load_bundle(small_bundle, scoring_workers=2)
    try:
        # The batch flow hands over the next batch before it collects the previous one.
        started = [pooled.start_proba_and_oov_rates(batch) for batch in (first, second)]
        results = [collect() for collect in reversed(started)][::-1]
    finally:
        pooled.close()
    for batch, (probabilities, oov) in zip((first, second), results, strict=True):
        expected_probabilities, expected_oov = single.predict_proba_and_oov_rates(batch)
        np.testing.assert_array_equal(probabilities, expected_probabilities)
        np.testing.assert_array_equal(oov, expected_oov)


def test_scoring_workers_run_where_the_c_library_is_not_glibc(
    small_bundle: Path, sample_pipeline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    import pandas as pd

    from imdb_sentiment import bundle

    def no_glibc(name: str) -> str:
        raise ValueError(f"unrecognized configuration name {name!r}")  # as on macOS

    # Forked workers inherit the patch: their memory setting is skipped, scoring is not.
    monkeypatch.setattr(os, "confstr", no_glibc)
    monkeypatch.setattr(bundle, "PARALLEL_MIN_BATCH", 8)
    texts = pd.read_parquet(sample_pipeline / "data" / "split" / "test.parquet")["text"].tolist()
    pooled = load_bundle(small_bundle, scoring_workers=2)
    try:
        probabilities = pooled.predict_proba(texts[:60])
    finally:
        pooled.close()
    np.testing.assert_array_equal(
        probabilities, load_bundle(small_bundle).predict_proba(texts[:60])
    )
