"""The model of issue 3: fast n-gram features, NB weighting and Platt scaling folded into a
plain linear model, short-review behaviour, calibration, and the full-data quality floor."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from helpers.support import ROOT, sample_members
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from imdb_sentiment.bundle import PARALLEL_MIN_BATCH, load_bundle
from imdb_sentiment.key_table import (
    BINARY_SEARCH_BELOW,
    RADIX_SORT_FROM,
    KeyTable,
    sorted_unique,
)
from imdb_sentiment.model_format import dump_model, load_model, logistic_classifier
from imdb_sentiment.ngrams import LENGTH_FEATURE_NAME, SCORING_CHUNK, NgramVectorizer
from imdb_sentiment.text import strip_tags
from imdb_sentiment.training.evaluate import (
    band_metrics,
    distance_from_half,
    expected_calibration_error,
    not_sure_band,
    short_reviews,
)
from imdb_sentiment.training.export import compose
from imdb_sentiment.training.params import (
    FeaturizeParams,
    ParamsError,
    TrainParams,
    parse_section,
    read_params_file,
)
from imdb_sentiment.training.train import (
    LabelledRows,
    fit_models,
    fit_scores,
    interpolate,
    nb_ratios,
    short_input_shift,
)

# Full-data floors for the default params (measured 0.9261 and 0.7613: docs/model.md).
TEST_ACCURACY_FLOOR = 0.924
SHORT_TEST_ACCURACY_FLOOR = 0.755
# Predicted-positive rate on one-sentence reviews may differ from the truth by at most this.
SHORT_REVIEW_BIAS_LIMIT = 0.02


def train_params(**settings: object) -> TrainParams:
    """A plain, uncalibrated model with no NB scaling, no short-review handling and no refit;
    ``settings`` turns on what a test is about (every field is required, none is implied)."""
    plain = {
        "C": 1.0,
        "alpha": 1e-5,
        "class_weight": None,
        "nb_weighting": False,
        "nb_smoothing": 1.0,
        "nb_interpolation": 1.0,
        "lexicon_prior": 0.0,
        "short_review_weight": 0.0,
        "calibration": "none",
        "balance_short_reviews": False,
        "refit": False,
    }
    return TrainParams.model_validate({**plain, **settings})


@pytest.fixture(scope="module")
def sample_texts() -> tuple[list[str], np.ndarray]:
    members = sample_members()
    names = sorted(
        name for name in members if name.endswith(".txt") and ("/pos/" in name or "/neg/" in name)
    )
    return [members[n] for n in names], np.array([int("/pos/" in n) for n in names])


def test_ngram_features_match_scikit_learn(sample_texts: tuple[list[str], np.ndarray]) -> None:
    texts, _ = sample_texts
    ours = NgramVectorizer(max_n=3, min_df=2, tf="binary")
    reference = TfidfVectorizer(
        preprocessor=strip_tags,
        token_pattern=r"\w+|[!?]",
        ngram_range=(1, 3),
        min_df=2,
        binary=True,
        dtype=np.float64,
    )
    x_ours, x_ref = ours.fit_transform(texts), reference.fit_transform(texts)
    names_ours = ours.get_feature_names_out()
    assert sorted(names_ours) == sorted(reference.get_feature_names_out())
    order = [reference.vocabulary_[name] for name in names_ours]
    np.testing.assert_allclose(x_ours.toarray(), x_ref[:, order].toarray(), atol=1e-12)
    # Unseen text goes through the same path at inference.
    unseen = ["A wonderful film!", "zzzz qqqq", ""]
    np.testing.assert_allclose(
        ours.transform(unseen).toarray(),
        reference.transform(unseen)[:, order].toarray(),
        atol=1e-12,
    )


def test_nb_weighting_and_platt_fold_into_a_plain_linear_model(
    sample_texts: tuple[list[str], np.ndarray],
) -> None:
    texts, labels = sample_texts
    vectorizer = NgramVectorizer(max_n=2, min_df=1)
    features = vectorizer.fit_transform(texts)
    params = train_params(
        model="logistic_regression",
        C=4.0,
        max_iter=1000,
        seed=0,
        nb_weighting=True,
        calibration="platt",
    )
    rows = LabelledRows(features, labels)
    models = fit_models(params, rows, rows)
    assert models.final is models.selection, "without refit the selection model is exported"
    folded = models.final
    # The same model computed the long way: scale by the NB ratios, fit, then fit the sigmoid.
    ratios = nb_ratios(features, labels, 1.0)
    scaled = features @ sp.diags(ratios)
    inner = LogisticRegression(C=4.0, solver="liblinear", max_iter=1000, random_state=0)
    inner.fit(scaled, labels)
    sigmoid = LogisticRegression(C=1e6).fit(inner.decision_function(scaled).reshape(-1, 1), labels)
    expected = sigmoid.predict_proba(inner.decision_function(scaled).reshape(-1, 1))[:, 1]
    np.testing.assert_allclose(folded.predict_proba(features)[:, 1], expected, atol=1e-9)
    # And it serialises as the plain logistic model serving already knows.
    files = dump_model(compose(vectorizer, folded))
    assert json.loads(files["model.json"])["classifier"]["kind"] == "logistic"
    assert files == dump_model(compose(vectorizer, folded)), "export must be byte-deterministic"
    reloaded = load_model(files)
    np.testing.assert_allclose(reloaded.predict_proba(texts)[:, 1], expected, atol=1e-9)


def test_linear_svm_is_exported_as_a_calibrated_logistic_model(
    sample_texts: tuple[list[str], np.ndarray],
) -> None:
    texts, labels = sample_texts
    vectorizer = NgramVectorizer(max_n=2, min_df=1)
    half = len(texts) // 2
    order = np.random.default_rng(0).permutation(len(texts))
    fit_rows, held_out = order[:half], order[half:]
    features = vectorizer.fit_transform([texts[i] for i in fit_rows])
    held_features = vectorizer.transform([texts[i] for i in held_out])
    params = train_params(
        model="linear_svm", C=1.0, max_iter=5000, seed=0, nb_weighting=True, calibration="platt"
    )
    train = LabelledRows(features, labels[fit_rows])
    val = LabelledRows(held_features, labels[held_out])
    model = fit_models(params, train, val).final
    svm = LinearSVC(C=1.0, max_iter=5000, random_state=0)
    ratios = nb_ratios(features, labels[fit_rows], 1.0)
    svm.fit(features @ sp.diags(ratios), labels[fit_rows])
    margins = svm.decision_function(held_features @ sp.diags(ratios))
    probabilities = model.predict_proba(held_features)[:, 1]
    # Platt scaling is monotone: the SVM's ranking and its decisions at margin 0 are kept up to
    # the fitted offset, and the probabilities are a sigmoid of the margin.
    assert np.corrcoef(np.argsort(np.argsort(margins)), np.argsort(np.argsort(probabilities)))[
        0, 1
    ] == pytest.approx(1.0)
    assert isinstance(model, LogisticRegression)


def test_refit_exports_a_model_fitted_on_train_and_validation(
    sample_texts: tuple[list[str], np.ndarray],
) -> None:
    texts, labels = sample_texts
    vectorizer = NgramVectorizer(max_n=2, min_df=1)
    features = vectorizer.fit_transform(texts)
    half = len(texts) // 2
    train = LabelledRows(features[:half], labels[:half])
    val = LabelledRows(features[half:], labels[half:])
    params = train_params(
        model="logistic_regression", C=4.0, max_iter=1000, seed=0, calibration="platt", refit=True
    )
    models = fit_models(params, train, val)
    # Validation metrics stay honest: the selection model never saw validation rows...
    selection_only = fit_models(params.model_copy(update={"refit": False}), train, val)
    np.testing.assert_array_equal(models.selection.coef_, selection_only.final.coef_)
    # ...while the exported one learnt from them (n-grams only in validation get weights).
    only_in_val = (features[:half].getnnz(axis=0) == 0) & (features[half:].getnnz(axis=0) > 0)
    assert only_in_val.any()
    assert not models.selection.coef_[0, only_in_val].any()
    assert models.final.coef_[0, only_in_val].any()


def test_nb_interpolation_moves_ngram_weights_towards_naive_bayes(
    sample_texts: tuple[list[str], np.ndarray],
) -> None:
    texts, labels = sample_texts
    features = NgramVectorizer(max_n=2, min_df=1, length_feature=True).fit_transform(texts)
    rows = LabelledRows(features, labels)
    params = train_params(
        model="linear_svm", max_iter=5000, seed=0, nb_weighting=True, calibration="platt"
    )
    ratios = nb_ratios(features, labels, 1.0, passthrough=1)
    svm = LinearSVC(C=1.0, max_iter=5000, random_state=0).fit(features @ sp.diags(ratios), labels)
    w = svm.coef_.ravel()
    # beta = 1 is the plain NBSVM.
    plain, _ = fit_scores(params, rows, passthrough=1)
    np.testing.assert_allclose(plain, w * ratios)
    # beta = 0.25: Wang & Manning's (1 - beta) * mean|w| + beta * w on the n-gram weights only;
    # the length feature's weight is the SVM's.
    mixed, intercept = fit_scores(
        params.model_copy(update={"nb_interpolation": 0.25}), rows, passthrough=1
    )
    expected = 0.75 * np.abs(w[:-1]).mean() + 0.25 * w[:-1]
    np.testing.assert_allclose(mixed[:-1], expected * ratios[:-1])
    assert mixed[-1] == pytest.approx(w[-1])
    assert intercept == pytest.approx(float(svm.intercept_[0]))
    np.testing.assert_array_equal(interpolate(w, 1.0, passthrough=1), w)


def test_row_weights_multiply_the_sample_weight_of_reviews_and_sentences(
    sample_texts: tuple[list[str], np.ndarray],
) -> None:
    texts, labels = sample_texts
    features = NgramVectorizer(max_n=1, min_df=1).fit_transform(texts)
    half = len(texts) // 2
    params = train_params(
        model="linear_svm", max_iter=5000, seed=0, short_review_weight=0.5, calibration="platt"
    )
    plain = LabelledRows(features[:half], labels[:half], features[half:], labels[half:])
    doubled = LabelledRows(
        *(features[:half], labels[:half], features[half:], labels[half:]),
        weights=np.full(half, 2.0),
        short_weights=np.full(len(texts) - half, 2.0),
    )
    # Every sample weight doubled is the same fit as C doubled.
    expected, _ = fit_scores(params.model_copy(update={"C": 2.0}), plain)
    np.testing.assert_allclose(fit_scores(params, doubled)[0], expected, rtol=1e-6, atol=1e-9)
    # Joining weighted rows with unweighted ones keeps both weights.
    joined = doubled + plain
    np.testing.assert_array_equal(joined.review_weights(), [2.0] * half + [1.0] * half)
    assert len(joined.sentence_weights()) == 2 * (len(texts) - half)


def test_short_input_shift_calls_short_rows_positive_at_their_true_rate() -> None:
    rng = np.random.default_rng(0)
    long_lengths = rng.uniform(0.03, 0.08, size=500)
    short_lengths = rng.uniform(0.15, 0.35, size=2_000)
    short_labels = (rng.uniform(size=2_000) < 0.5).astype(int)
    # Scores biased towards positive: 70% of the short rows are above 0.
    short_scores = rng.normal(0.5, 1.0, size=2_000)
    assert (short_scores > 0).mean() > 0.65
    delta, offset = short_input_shift(long_lengths, short_scores, short_lengths, short_labels)
    shifted = short_scores + delta * short_lengths + offset
    assert (shifted > 0).mean() == pytest.approx(short_labels.mean(), abs=0.002)
    # A review of median length scores as before.
    assert delta * np.median(long_lengths) + offset == pytest.approx(0.0, abs=1e-12)


def test_balancing_short_input_needs_the_length_feature(
    sample_texts: tuple[list[str], np.ndarray],
) -> None:
    texts, labels = sample_texts
    features = NgramVectorizer(max_n=1, min_df=1).fit_transform(texts)
    rows = LabelledRows(features, labels)
    params = train_params(
        model="logistic_regression", C=1.0, max_iter=100, seed=0, balance_short_reviews=True
    )
    with pytest.raises(ValueError, match=r"needs featurize\.length_feature"):
        fit_models(params, rows, rows, passthrough=0)


def test_length_feature_is_the_last_column_and_skips_nb_scaling(
    sample_texts: tuple[list[str], np.ndarray],
) -> None:
    texts, labels = sample_texts
    plain = NgramVectorizer(max_n=2, min_df=1)
    with_length = NgramVectorizer(max_n=2, min_df=1, length_feature=True)
    x_plain, x_length = plain.fit_transform(texts), with_length.fit_transform(texts)
    assert x_length.shape[1] == x_plain.shape[1] + 1 == with_length.n_features_
    np.testing.assert_array_equal(x_length[:, :-1].toarray(), x_plain.toarray())
    distinct = x_plain.getnnz(axis=1)
    np.testing.assert_allclose(x_length[:, -1].toarray().ravel(), 1 / np.sqrt(distinct))
    assert with_length.get_feature_names_out()[-1] == LENGTH_FEATURE_NAME
    ratios = nb_ratios(x_length, labels, 1.0, passthrough=1)
    assert ratios[-1] == 1.0
    np.testing.assert_array_equal(ratios[:-1], nb_ratios(x_plain, labels, 1.0))
    # Text with no known n-gram still gets a finite length value.
    assert with_length.transform(["qqqq zzzz"])[0, -1] == 1.0


@pytest.mark.parametrize(("length_feature", "negation_scope"), [(False, 0), (True, 0), (True, 3)])
def test_linear_scores_equal_the_sparse_matrix_product(
    sample_texts: tuple[list[str], np.ndarray], length_feature: bool, negation_scope: int
) -> None:
    texts, _ = sample_texts
    vectorizer = NgramVectorizer(
        max_n=3, min_df=2, length_feature=length_feature, negation_scope=negation_scope
    )
    vectorizer.fit(texts)
    coef = np.random.default_rng(1).normal(size=vectorizer.n_features_)
    batch = [*texts, "", "qqqq zzzz", "A wonderful film!"] * 3
    np.testing.assert_allclose(
        vectorizer.linear_scores(batch, coef), vectorizer.transform(batch) @ coef, atol=1e-12
    )
    # A batch in which no n-gram is known at all (the API sees these: "aaaa...").
    nothing_known = ["qqqq zzzz", "a" * 5000, ""]
    np.testing.assert_allclose(
        vectorizer.linear_scores(nothing_known, coef),
        vectorizer.transform(nothing_known) @ coef,
        atol=1e-12,
    )


def test_a_review_scores_the_same_alone_or_in_a_batch_and_binary_tf_counts_repeats_once(
    sample_texts: tuple[list[str], np.ndarray],
) -> None:
    texts, _ = sample_texts
    vectorizer = NgramVectorizer(max_n=3, min_df=2, length_feature=True, negation_scope=2)
    vectorizer.fit(texts)
    coef = np.random.default_rng(6).normal(size=vectorizer.n_features_)
    odd = ["", "qqqq zzzz", "Déjà vu, 日本! Not bad at all!", "good film", "good film good film"]
    batch = [*texts, *odd]
    assert len(batch) > SCORING_CHUNK  # several chunks, each sorted by radix
    together = vectorizer.linear_scores(batch, coef)
    alone = np.array([vectorizer.linear_scores([text], coef)[0] for text in batch])
    assert np.array_equal(together, alone)
    good, good_twice = together[-2:]
    assert good == good_twice  # a repeated n-gram is one binary feature


@pytest.mark.parametrize("size", [1, 7, RADIX_SORT_FROM - 1, RADIX_SORT_FROM, 60_000])
@pytest.mark.parametrize("high", [50, 1 << 32, 1 << 40])
def test_sorted_unique_gives_numpy_unique(size: int, high: int) -> None:
    values = np.random.default_rng(size).integers(0, high, size=size)
    values[: size // 3] = high - 1  # repeats, and the largest value the path allows
    distinct, counts = sorted_unique(values)
    expected, expected_counts = np.unique(values, return_counts=True)
    np.testing.assert_array_equal(distinct, expected)
    np.testing.assert_array_equal(counts, expected_counts)
    np.testing.assert_array_equal(sorted_unique(values, with_counts=False)[0], expected)


def test_negation_marks_the_words_after_a_negation_until_a_stop() -> None:
    vectorizer = NgramVectorizer(
        max_n=2, min_df=1, negation_scope=3, token_pattern=r"\w+(?:'\w+)?|[!?]+"
    )
    vectorizer.fit(["not bad at all, but good", "it wasn't good and boring!", "a good film"])
    names = set(vectorizer.get_feature_names_out())
    assert {"NOT_bad", "NOT_at", "NOT_all", "not NOT_bad", "NOT_good", "wasn't NOT_good"} <= names
    # The scope ends at "but"/"and" and after three tokens; plain "good" keeps its own column.
    assert {"good", "boring", "but good", "and boring"} <= names
    assert not {"NOT_but", "NOT_boring", "NOT_and"} & names
    # Marking happens the same way at inference: "not bad" lights up the negated columns.
    row = vectorizer.transform(["Not bad."])
    lit = set(vectorizer.get_feature_names_out()[row.indices])
    assert lit == {"not", "NOT_bad", "not NOT_bad"}
    # A bundle stores the setting and reads it back.
    files = dump_model(compose(vectorizer, logistic_classifier(np.ones(row.shape[1]), 0.0)))
    reloaded = load_model(files)
    np.testing.assert_array_equal(reloaded[0].transform(["Not bad."]).toarray(), row.toarray())


def test_key_table_finds_every_key_and_nothing_else() -> None:
    rng = np.random.default_rng(2)
    keys = np.unique(rng.integers(1, 1 << 62, size=50_000))
    table = KeyTable(keys)
    queries = np.concatenate([keys, rng.integers(1, 1 << 62, size=50_000), keys[:10]])
    expected = np.searchsorted(keys, queries)
    expected = np.where(keys[np.minimum(expected, len(keys) - 1)] == queries, expected, -1)
    np.testing.assert_array_equal(table.columns(queries), expected)
    assert (KeyTable(keys[:0]).columns(queries[:5]) == -1).all()


def test_key_table_resolves_long_clusters_past_the_vectorized_probes() -> None:
    # Keys that all want one slot form a long cluster: the keys left when fewer than
    # BINARY_SEARCH_BELOW are unresolved are found by the binary search, absent ones are not.
    rng = np.random.default_rng(4)
    candidates = np.unique(rng.integers(1, 1 << 62, size=20_000))
    homes = KeyTable(np.arange(1, 101))._home(candidates)  # a 256-slot table
    crowded = np.sort(candidates[homes == 7][:30])
    keys = np.unique(np.concatenate([crowded[:20], candidates[homes > 100][:80]]))
    table = KeyTable(keys)
    assert 3 < len(crowded[:20]) < BINARY_SEARCH_BELOW
    expected = np.searchsorted(keys, crowded[:20])
    np.testing.assert_array_equal(table.columns(crowded[:20]), expected)
    assert (table.columns(crowded[20:]) == -1).all()
    with pytest.raises(ValueError, match="ascending"):
        KeyTable(keys[::-1])


def test_key_table_misses_in_crowded_clusters_are_found_absent() -> None:
    # Hundreds of keys want the first few slots; the absent half sorts between the present half
    # with the same homes. The probes stop at a greater key of a cluster, never too early.
    rng = np.random.default_rng(5)
    candidates = np.unique(rng.integers(1, 1 << 62, size=200_000))
    homes = KeyTable(np.arange(1, 1201))._home(candidates)  # 1,200 keys: a 4,096-slot table
    crowded = np.sort(candidates[homes < 40][:400])
    spread = candidates[homes > 1000][:1000]
    keys = np.unique(np.concatenate([crowded[::2], spread]))
    table = KeyTable(keys)
    assert len(crowded) == 400 and len(crowded[1::2]) > BINARY_SEARCH_BELOW
    queries = rng.permutation(np.concatenate([crowded, spread[:100]]))
    expected = np.searchsorted(keys, queries)
    expected = np.where(keys[np.minimum(expected, len(keys) - 1)] == queries, expected, -1)
    np.testing.assert_array_equal(table.columns(queries), expected)
    assert (table.columns(crowded[1::2]) == -1).all()


def test_key_table_keys_that_collide_at_the_last_slot_run_past_the_end() -> None:
    rng = np.random.default_rng(3)
    probe = KeyTable(np.arange(1, 9))  # 8 keys: a 32-slot table
    candidates = np.unique(rng.integers(1, 1 << 62, size=5_000))
    homes = probe._home(candidates)
    last = np.sort(candidates[homes == homes.max()][:8])
    assert len(last) == 8
    table = KeyTable(last)
    np.testing.assert_array_equal(table.columns(last), np.arange(8))
    others = candidates[homes != homes.max()][:100]
    assert (table.columns(others) == -1).all()


def test_ngram_vectorizer_params_are_checked() -> None:
    project = read_params_file()
    base = {**project["featurize"], "length_feature": False, "negation_scope": 0}
    train = project["train"]
    assert parse_section("featurize", base, FeaturizeParams).vectorizer == "ngram"
    with pytest.raises(ParamsError, match=r"featurize.*at most 3"):
        parse_section("featurize", {**base, "ngram_range": [1, 4]}, FeaturizeParams)
    with pytest.raises(ParamsError, match="max_features is only supported"):
        parse_section("featurize", {**base, "max_features": 1000}, FeaturizeParams)
    with pytest.raises(ParamsError, match="calibration"):
        parse_section(
            "train",
            {**train, "model": "sgd", "calibration": "isotonic"},
            TrainParams,
        )
    with pytest.raises(ParamsError, match="no probabilities of its own"):
        parse_section(
            "train",
            {**train, "model": "linear_svm", "calibration": "none", "balance_short_reviews": False},
            TrainParams,
        )
    with pytest.raises(ParamsError, match="non-capturing groups"):
        parse_section("featurize", {**base, "token_pattern": r"(\w+)"}, FeaturizeParams)
    with pytest.raises(ParamsError, match="not a regular expression"):
        parse_section("featurize", {**base, "token_pattern": r"[\w"}, FeaturizeParams)
    with pytest.raises(ParamsError, match="for vectorizer 'ngram' only"):
        parse_section(
            "featurize",
            {**base, "vectorizer": "tfidf", "length_feature": True},
            FeaturizeParams,
        )


def test_short_reviews_are_first_and_last_sentences() -> None:
    frame = pd.DataFrame(
        {
            "review_id": ["r1", "r2"],
            "label": [1, 0],
            "text": [
                "Loved it from start to end. Middle part. The cast is superb!<br />",
                "Dull and far too long.",
            ],
        }
    )
    short = short_reviews(frame, min_words=3)
    assert short["text"].tolist() == [
        "loved it from start to end.",
        "the cast is superb!",
        "dull and far too long.",
    ]
    assert short["label"].tolist() == [1, 1, 0]


def test_expected_calibration_error() -> None:
    rng = np.random.default_rng(0)
    probabilities = rng.uniform(size=20_000)
    calibrated = (rng.uniform(size=20_000) < probabilities).astype(int)
    assert expected_calibration_error(calibrated, probabilities, 10) < 0.02
    overconfident = np.where(probabilities > 0.5, 0.99, 0.01)
    assert expected_calibration_error(calibrated, overconfident, 10) > 0.2


def test_not_sure_band_ends_where_calls_become_reliable() -> None:
    rng = np.random.default_rng(0)
    probabilities = rng.uniform(size=50_000)
    labels = (rng.uniform(size=50_000) < probabilities).astype(int)
    # Calibrated: rows at distance d from 0.5 are right 0.5 + d of the time, so calls become
    # right more than 70 % of the time at about d = 0.2 - 0.025 (the ring is 0.05 wide).
    width = not_sure_band(labels, probabilities, 0.7)
    assert 0.15 <= width <= 0.2
    # An overconfident model (every answer 0.01 or 0.99, right 60 %) is never sure enough.
    overconfident = np.where(rng.uniform(size=5_000) < 0.5, 0.01, 0.99)
    right_60 = np.where(rng.uniform(size=5_000) < 0.6, overconfident > 0.5, overconfident < 0.5)
    assert not_sure_band(right_60.astype(int), overconfident, 0.7) >= 0.49
    inside = band_metrics(labels, probabilities, 0.5 - width, 0.5 + width)
    assert inside["not_sure_share"] == pytest.approx(2 * width, abs=0.01)
    assert inside["accuracy_outside"] > 0.7
    assert distance_from_half(np.array([0.0, 0.5, 0.9])) == pytest.approx(0.3)


@pytest.mark.full_data
def test_exported_bundle_carries_the_not_sure_band_chosen_on_validation(full_bundle) -> None:
    manifest = load_bundle(full_bundle).manifest
    recorded = json.loads((ROOT / "metrics" / "short_reviews.json").read_text())
    assert manifest["not_sure"] == recorded["not_sure_band"]
    assert manifest["not_sure"]["low"] < manifest["threshold"] < manifest["not_sure"]["high"]


@pytest.mark.full_data
def test_full_model_meets_the_quality_floor(full_bundle, full_reviews) -> None:
    model = load_bundle(full_bundle)
    reviews = pd.read_parquet(full_reviews, columns=["review_id", "split", "label", "text"])
    test = reviews[reviews["split"] == "test"]
    probabilities = model.predict_proba(test["text"].tolist())
    accuracy = float(((probabilities >= model.threshold) == test["label"].to_numpy()).mean())
    assert accuracy >= TEST_ACCURACY_FLOOR
    assert accuracy == pytest.approx(model.manifest["metrics"]["test"]["accuracy"], abs=1e-6)
    short = short_reviews(test, min_words=3)
    predicted = model.predict_proba(short["text"].tolist()) >= model.threshold
    assert abs(predicted.mean() - short["label"].mean()) <= SHORT_REVIEW_BIAS_LIMIT
    assert float((predicted == short["label"].to_numpy()).mean()) >= SHORT_TEST_ACCURACY_FLOOR


def test_large_batches_score_identically_in_worker_processes(small_bundle) -> None:
    texts = [text for _, text in sorted(sample_members().items()) if text.strip()]
    batch = (texts * (PARALLEL_MIN_BATCH // len(texts) + 1))[: PARALLEL_MIN_BATCH + 7]
    serial = load_bundle(small_bundle).predict_proba(batch)
    parallel_model = load_bundle(small_bundle, scoring_workers=2)
    try:
        parallel = parallel_model.predict_proba(batch)
        assert parallel_model._pool is not None, "a batch this large goes to the workers"
        np.testing.assert_array_equal(parallel, serial)
        # Small batches stay in-process and agree too.
        np.testing.assert_array_equal(parallel_model.predict_proba(batch[:3]), serial[:3])
    finally:
        parallel_model.close()
    with pytest.raises(ValueError, match="scoring_workers must be a positive integer"):
        load_bundle(small_bundle, scoring_workers=0)
