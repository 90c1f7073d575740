"""Runtime settings, read once from environment variables (the pipeline's knobs live in params.yaml).

| variable                         | default                          | meaning                          |
|----------------------------------|----------------------------------|----------------------------------|
| IMDB_SENTIMENT_MODEL             | models/imdb-sentiment            | bundle to serve: a folder, an    |
|                                  |                                  | s3:// URL or models:/name/<N>    |
|                                  |                                  | (never an alias: pinned version) |
| IMDB_SENTIMENT_EXPECTED_BUNDLE_HASH | (none)                        | DVC md5 (<hex>.dir) the served   |
|                                  |                                  | bundle must have (the image sets |
|                                  |                                  | it from dvc.lock)                |
| IMDB_SENTIMENT_MODEL_REGISTRY_VERSION | (none)                      | registry version the image ships |
|                                  |                                  | (shown by /model)                |
| IMDB_SENTIMENT_CHALLENGER_MODEL | (none)                           | bundle scored in the shadow      |
| IMDB_SENTIMENT_SHADOW_FRACTION   | 1.0                              | share of /predict it also scores |
| IMDB_SENTIMENT_SHADOW_QUEUE_LIMIT | 1024                            | texts waiting; more are skipped  |
| IMDB_SENTIMENT_SHADOW_TIMEOUT_SECONDS | 10                        | deadline of one challenger batch |
| IMDB_SENTIMENT_SHADOW_NICE       | 15                               | CPU niceness of the challenger   |
| IMDB_SENTIMENT_FEEDBACK_DB       | sqlite:///data/feedback/feedback.db | SQLAlchemy URL, POST /feedback |
| IMDB_SENTIMENT_FEEDBACK_QUEUE_LIMIT | 10000                         | rows waiting for the database    |
| IMDB_SENTIMENT_MAX_TEXT_CHARS    | 20000                            | longest text the API accepts     |
| IMDB_SENTIMENT_MAX_BATCH_SIZE    | 256                              | most texts in one batch request  |
| IMDB_SENTIMENT_EXPLAIN_TOP_K     | 10                               | n-grams shown each way (explain) |
| IMDB_SENTIMENT_SCORING_WORKERS   | 1                                | processes for batches >= 2,000   |
| IMDB_SENTIMENT_API_SCORING_PROCESSES | 1                            | processes scoring /predict next  |
|                                  |                                  | to each API worker; 0 = in it    |
| IMDB_SENTIMENT_SCORING_TIMEOUT_SECONDS | 5                          | deadline of one single-review    |
|                                  |                                  | micro-batch; then 503, replaced  |
| IMDB_SENTIMENT_QUEUE_LIMIT       | 1024                             | single reviews waiting; then 503 |
| IMDB_SENTIMENT_HEAVY_SCORING_PROCESSES | 1                          | processes for batch and explain  |
| IMDB_SENTIMENT_HEAVY_TIMEOUT_SECONDS | 30                           | deadline of one batch or explain |
| IMDB_SENTIMENT_HEAVY_QUEUE_LIMIT | 16                               | heavy requests waiting; then 503 |
| IMDB_SENTIMENT_HEAVY_NICE        | 10                               | CPU niceness of heavy processes  |
| IMDB_SENTIMENT_READY_TIMEOUT_SECONDS | 2                            | /ready: ping deadline            |
| IMDB_SENTIMENT_MAX_BATCH_BODY_BYTES | batch size x text chars + 64 KiB | /predict/batch body limit     |
| IMDB_SENTIMENT_LIMIT_CONCURRENCY | 512                              | uvicorn: connections + tasks     |
| IMDB_SENTIMENT_GRACEFUL_SHUTDOWN_SECONDS | 20                       | uvicorn: drain time on SIGTERM   |
| IMDB_SENTIMENT_FORWARDED_ALLOW_IPS | 127.0.0.1                      | proxies trusted for X-Forwarded- |
| IMDB_SENTIMENT_DOCS_ENABLED      | true                             | serve /docs, /redoc, openapi.json|
| IMDB_SENTIMENT_METRICS_ENABLED   | true                             | serve /metrics                   |
| IMDB_SENTIMENT_TRACKING          | true                             | log to MLflow, register models   |
| IMDB_SENTIMENT_STRICT_TRACKING   | false                            | fail if MLflow is unreachable    |
| IMDB_SENTIMENT_MLFLOW_EXPERIMENT | imdb-sentiment                   | MLflow experiment of the stages  |
| IMDB_SENTIMENT_REGISTRY_CACHE    | ~/.cache/imdb-sentiment/registry | where models:/ bundles download  |
| IMDB_SENTIMENT_BATCH_CHUNK_ROWS | 50000           | most rows per chunk: one task, one read request; |
|                                  |                 | decoded and scored 5,000 rows at a time          |
| IMDB_SENTIMENT_BATCH_WORKERS | 0 (= all cores)    | processes scoring chunks when no Dask address is set |
| IMDB_SENTIMENT_BATCH_DASK_ADDRESS | (none)        | scheduler address (tcp://host:8786): score on Dask |
| IMDB_SENTIMENT_BATCH_RETRIES | 3                  | Prefect retries of a failed read/score/write task  |
| IMDB_SENTIMENT_BATCH_RETRY_DELAY_SECONDS | 1.0    | first retry delay; doubles for each later retry    |
| IMDB_SENTIMENT_DRIFT_PSI_THRESHOLD | 0.2          | PSI above which a distribution counts as drifted   |
| IMDB_SENTIMENT_DRIFT_POSITIVE_RATE_THRESHOLD | 0.15 | abs. change of the positive rate that is drift   |

MLflow's own MLFLOW_TRACKING_URI picks the tracking server and registry; unset, it is
sqlite:///<project>/mlflow.db (see imdb_sentiment.registry.tracking_uri).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IMDB_SENTIMENT_", extra="ignore")

    model: str = Field(
        default="models/imdb-sentiment",
        description="Bundle to load: a local folder, an s3:// URL or models:/<name>/<version> "
        "(a pinned version, never an alias)",
    )
    expected_bundle_hash: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{32}\.dir$",
        description="DVC hash (dvc.lock) the bundle IMDB_SENTIMENT_MODEL names must have",
    )
    model_registry_version: str | None = Field(
        default=None,
        pattern=r"^\d+$",
        description="Registry version of the served bundle (set in the image, shown by GET /model)",
    )
    challenger_model: str | None = Field(
        default=None,
        description="Challenger bundle scored in the shadow of the served one (same forms as "
        "IMDB_SENTIMENT_MODEL, pinned); unset = no shadow scoring",
    )
    shadow_fraction: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="Share of /predict requests the challenger also scores, off the response path",
    )
    shadow_queue_limit: int = Field(
        default=1024, ge=1, description="Texts waiting for the challenger; more are skipped"
    )
    shadow_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Deadline of one challenger batch; then it is replaced"
    )
    shadow_nice: int = Field(
        default=15,
        ge=0,
        le=19,
        description="CPU niceness of the challenger's process (below every lane clients wait on)",
    )
    feedback_db: str = Field(
        default="sqlite:///data/feedback/feedback.db",
        description="SQLAlchemy URL of the feedback store (POST /feedback); SQLite relative "
        "to the working directory by default, postgresql+psycopg2://... in production",
    )
    feedback_queue_limit: int = Field(
        default=10_000, ge=1, description="Feedback rows waiting for the database; then 503"
    )
    tracking: bool = Field(default=True, description="Log stage runs to MLflow and register models")
    strict_tracking: bool = Field(
        default=False, description="Fail the stage if MLflow is unreachable instead of warning"
    )
    mlflow_experiment: str = Field(default="imdb-sentiment", description="MLflow experiment name")
    registry_cache: Path = Field(
        default=Path.home() / ".cache" / "imdb-sentiment" / "registry",
        description="Local cache of bundles downloaded from the model registry",
    )
    # The longest IMDB review has about 13,700 characters; the limit leaves room above that.
    max_text_chars: int = Field(default=20_000, ge=1, description="Longest accepted text")
    max_batch_size: int = Field(default=256, ge=1, description="Most texts in one batch request")
    explain_top_k: int = Field(default=10, ge=1, le=100, description="N-grams shown each way")
    scoring_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Worker processes that score large batches (pass to load_bundle); "
        "2 on a 2-core batch machine, 1 in a multi-worker API server",
    )
    api_scoring_processes: int = Field(
        default=1,
        ge=0,
        le=64,
        description="Processes that score single-review requests beside each API worker, so "
        "its event loop keeps answering HTTP meanwhile; 0 scores them in the worker itself",
    )
    # The API's bounds (app/): every queue, body and wait has a limit.
    scoring_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Deadline of one micro-batch of single reviews"
    )
    queue_limit: int = Field(
        default=1024, ge=1, description="Single reviews waiting to be scored; more get a 503"
    )
    heavy_scoring_processes: int = Field(
        default=1, ge=1, le=64, description="Processes for batch and explain requests"
    )
    heavy_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Deadline of one batch or explain request"
    )
    heavy_queue_limit: int = Field(
        default=16, ge=0, description="Batch/explain requests waiting beyond those being scored"
    )
    heavy_nice: int = Field(
        default=10, ge=0, le=19, description="CPU niceness of the batch/explain processes"
    )
    ready_timeout_seconds: float = Field(
        default=2.0, gt=0, description="/ready fails unless the scorers answer a ping by then"
    )
    max_batch_body_bytes: int | None = Field(
        default=None,
        ge=1024,
        description="Largest /predict/batch body; default max_batch_size x max_text_chars + 64 KiB",
    )
    limit_concurrency: int = Field(
        default=512, ge=1, description="uvicorn: connections and tasks before it answers 503"
    )
    graceful_shutdown_seconds: float = Field(
        default=20.0, gt=0, description="uvicorn: time to finish requests after SIGTERM"
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Proxies whose X-Forwarded-For/-Proto uvicorn trusts (comma-separated)",
    )
    docs_enabled: bool = Field(default=True, description="Serve /docs, /redoc and /openapi.json")
    metrics_enabled: bool = Field(default=True, description="Serve /metrics")
    # Batch flow (imdb_sentiment.batch)
    batch_chunk_rows: int = Field(default=50_000, ge=1, description="Rows per chunk")
    batch_workers: int = Field(default=0, ge=0, description="Scoring processes; 0 = all cores")
    batch_dask_address: str | None = Field(
        default=None, description="Dask scheduler address; set it to score on a Dask cluster"
    )
    batch_retries: int = Field(default=3, ge=0, description="Retries of a failed I/O task")
    batch_retry_delay_seconds: float = Field(
        default=1.0, ge=0, description="First retry delay, doubled for each later retry"
    )
    # PSI 0.1-0.2 is commonly read as a moderate shift, above 0.2 as a significant one.
    drift_psi_threshold: float = Field(default=0.2, gt=0, description="PSI drift threshold")
    drift_positive_rate_threshold: float = Field(
        default=0.15, gt=0, description="Drift threshold on |positive rate - reference|"
    )

    @field_validator("expected_bundle_hash", "model_registry_version", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # an image built without the build args

    @field_validator("challenger_model", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("model", "challenger_model")
    @classmethod
    def _pinned(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        # An alias resolved at boot lets two instances of one deploy serve different models.
        if value.startswith("models:/") and "@" in value:
            raise ValueError(
                f"IMDB_SENTIMENT_{str(info.field_name).upper()}={value} names a registry alias, "
                "which each instance would resolve at boot: pin a version, models:/<name>/<version>"
            )
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
