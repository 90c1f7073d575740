"""Typed, validated views of ``params.yaml``: bad values fail here, before any heavy work."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from imdb_sentiment.errors import ImdbSentimentError
from imdb_sentiment.ngrams import DEFAULT_TOKEN_PATTERN
from imdb_sentiment.paths import PARAMS_FILE


class ParamsError(ImdbSentimentError, ValueError):
    """params.yaml holds a value the pipeline cannot use."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataParams(_Section):
    url: str = Field(description="Where to download aclImdb_v1.tar.gz unless IMDB_ARCHIVE is set")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value


class SplitParams(_Section):
    val_fraction: float = Field(gt=0, le=0.5, description="Share of train movies held out")
    seed: int = Field(ge=0)


class NameMaskingParams(_Section):
    min_count: int = Field(
        ge=0,
        le=1_000_000,
        description="ngram only: a word seen inside training sentences at least this often, "
        "Title-case in at least a 'threshold' share of them, is a name (0: no masking)",
    )
    threshold: float = Field(
        gt=0.5, le=1.0, description="Share of Title-case occurrences that makes a word a name"
    )


class FeaturizeParams(_Section):
    vectorizer: Literal["ngram", "tfidf"] = Field(
        description="ngram: integer-keyed word n-grams (imdb_sentiment.ngrams, fast); "
        "tfidf: scikit-learn's TfidfVectorizer",
    )
    ngram_range: tuple[int, int]
    min_df: int = Field(ge=1, description="Drop n-grams seen in fewer training reviews")
    max_df: float = Field(gt=0, le=1.0, description="Drop n-grams in a larger share of reviews")
    max_features: int | None = Field(ge=1, description="tfidf only: keep the most frequent n-grams")
    short_min_words: int = Field(
        ge=1, le=50, description="Shortest sentence kept as a short training review"
    )
    token_pattern: str = Field(
        description="ngram only: regular expression whose matches are the tokens",
    )
    length_feature: bool = Field(
        description="ngram only: one more column, 1/sqrt(distinct n-grams), so a linear model "
        "can learn how short input shifts its score",
    )
    negation_scope: int = Field(
        ge=0,
        le=10,
        description="ngram only: mark up to this many tokens after a negation ('not', "
        "'never', 'didn't'...) as negated tokens of their own (0: off)",
    )
    name_masking: NameMaskingParams = Field(
        description="ngram only: map every name (learned from the training text's capitals) "
        "to one shared token",
    )
    sublinear_tf: bool
    binary: bool

    @field_validator("ngram_range", mode="before")
    @classmethod
    def _non_empty_range(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ValueError("must be two integers [min_n, max_n], e.g. [1, 2]")
        low, high = value
        if not (isinstance(low, int) and isinstance(high, int)) or low < 1 or low > high:
            raise ValueError(f"must satisfy 1 <= min_n <= max_n, got {list(value)}")
        return value

    @field_validator("token_pattern")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as error:
            raise ValueError(f"not a regular expression: {error}") from None
        if compiled.groups:
            raise ValueError("use non-capturing groups (?:...): findall would return the groups")
        return value

    @model_validator(mode="after")
    def _ngram_limits(self) -> FeaturizeParams:
        if self.vectorizer == "ngram":
            if self.ngram_range[0] != 1 or self.ngram_range[1] > 3:
                raise ValueError(
                    "vectorizer 'ngram' builds every n-gram from 1 up to at most 3: "
                    f"ngram_range must be [1, 1], [1, 2] or [1, 3], got {list(self.ngram_range)}"
                )
            if self.max_features is not None:
                raise ValueError("max_features is only supported by vectorizer 'tfidf'; use min_df")
        elif (
            self.length_feature
            or self.negation_scope
            or self.name_masking.min_count
            or self.token_pattern != DEFAULT_TOKEN_PATTERN
        ):
            raise ValueError(
                "length_feature, negation_scope, name_masking and token_pattern are for "
                "vectorizer 'ngram' only"
            )
        return self


class TrainParams(_Section):
    model: Literal["logistic_regression", "linear_svm", "sgd"]
    C: float = Field(
        gt=0, description="Inverse regularisation strength (logistic_regression, linear_svm)"
    )
    alpha: float = Field(gt=0, description="Regularisation strength (sgd)")
    max_iter: int = Field(ge=1)
    class_weight: Literal["balanced"] | None
    nb_weighting: bool = Field(
        description="Scale features by naive-Bayes log-count ratios (NBSVM); folded into coef",
    )
    nb_smoothing: float = Field(gt=0, description="Add-alpha for the NB ratios")
    nb_interpolation: float = Field(
        gt=0,
        le=1,
        description="Wang & Manning's beta: n-gram weights w become (1 - beta) * mean|w| + "
        "beta * w, between NB (small beta) and the plain learner (1: off); needs nb_weighting",
    )
    short_review_weight: float = Field(
        ge=0,
        le=1,
        description="Sample weight of the first/last sentences of training reviews (0: unused)",
    )
    calibration: Literal["none", "platt"] = Field(
        description="platt: fit a sigmoid on validation scores, folded into coef and intercept",
    )
    balance_short_reviews: bool = Field(
        description="Shift the threshold for short input along the length feature so that "
        "validation's short sentences are called positive at their true rate "
        "(needs featurize.length_feature)",
    )
    lexicon_prior: float = Field(
        ge=0,
        le=100,
        description="Strength of the VADER lexicon prior: strength * valence / 4 is added to "
        "each lexicon word's unigram weight and -1/2 of that to its NOT_ form (0: off)",
    )
    refit: bool = Field(
        description="Export a model refitted on train + validation with the same settings "
        "(validation metrics stay those of the model fitted on train only)",
    )
    seed: int = Field(ge=0)

    @model_validator(mode="after")
    def _probabilities(self) -> TrainParams:
        if self.model == "linear_svm" and self.calibration != "platt":
            raise ValueError(
                "model 'linear_svm' has no probabilities of its own: set calibration to 'platt'"
            )
        if self.nb_interpolation != 1.0 and not self.nb_weighting:
            raise ValueError(
                "nb_interpolation < 1 interpolates towards naive Bayes: set nb_weighting to true"
            )
        return self


class EvaluateParams(_Section):
    threshold: float = Field(gt=0, lt=1, description="Probability above which a review is positive")
    curve_points: int = Field(ge=10, le=10_000, description="Points kept per ROC/PR curve")
    error_examples: int = Field(ge=0, le=1000, description="Most confident mistakes to report")
    calibration_bins: int = Field(ge=2, le=100, description="Reliability-plot bins")
    short_min_words: int = Field(
        ge=1, le=50, description="Shortest sentence kept in the short-review sets"
    )
    top_ngrams: int = Field(ge=1, le=500, description="n-grams per class reported")
    not_sure_accuracy: float = Field(
        gt=0.5,
        lt=1,
        description="The 'not sure' band around 0.5 ends where validation sentences start being "
        "called right more often than this",
    )


class ExportParams(_Section):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    parity_sample: int = Field(ge=1, description="Validation reviews re-scored from raw text")

    @model_validator(mode="after")
    def _reasonable_sample(self) -> ExportParams:
        if self.parity_sample > 100_000:
            raise ValueError("parity_sample above 100000 only slows export down")
        return self


SECTIONS: dict[str, type[_Section]] = {
    "data": DataParams,
    "split": SplitParams,
    "featurize": FeaturizeParams,
    "train": TrainParams,
    "evaluate": EvaluateParams,
    "export": ExportParams,
}
S = TypeVar("S", bound=_Section)


def read_params_file(path: Path = PARAMS_FILE) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError as error:
        raise ParamsError(f"{path} not found: run the stages from the project root") from error
    if not isinstance(raw, dict):
        raise ParamsError(f"{path} must be a mapping of sections")
    return raw


def parse_section(name: str, values: Any, model: type[S]) -> S:
    """Validate one section, turning pydantic's report into one readable line per problem."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(
            f"{name}.{'.'.join(str(p) for p in issue['loc']) or '<section>'}: {issue['msg']}"
            + (f" (got {issue['input']!r})" if "input" in issue and issue["loc"] else "")
            for issue in error.errors()
        )
        raise ParamsError(f"invalid params: {problems}") from None


def load_section(name: str, model: type[S], path: Path = PARAMS_FILE) -> S:
    raw = read_params_file(path)
    if name not in raw:
        raise ParamsError(f"{path} has no '{name}' section")
    return parse_section(name, raw[name], model)


def load_all(path: Path = PARAMS_FILE) -> dict[str, _Section]:
    """Every section, validated: used by the export stage to record what shaped the model."""
    raw = read_params_file(path)
    return {name: parse_section(name, raw.get(name), model) for name, model in SECTIONS.items()}
