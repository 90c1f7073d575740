"""Runtime settings, read once from environment variables (the pipeline's knobs live in params.yaml).

| variable               | default                  | meaning                                          |
|------------------------|--------------------------|--------------------------------------------------|
| IMDB_SENTIMENT_MODEL   | models/imdb-sentiment    | bundle to serve: a folder path or s3:// URL      |
| IMDB_SENTIMENT_BATCH_CHUNK_ROWS | 5000            | rows per batch chunk (the unit of work and memory) |
| IMDB_SENTIMENT_BATCH_WORKERS | 0 (= all cores)    | processes scoring chunks when no Dask address is set |
| IMDB_SENTIMENT_BATCH_DASK_ADDRESS | (none)        | scheduler address (tcp://host:8786): score on Dask |
| IMDB_SENTIMENT_BATCH_RETRIES | 3                  | Prefect retries of a failed read/score/write task  |
| IMDB_SENTIMENT_BATCH_RETRY_DELAY_SECONDS | 1.0    | first retry delay; doubles for each later retry    |
| IMDB_SENTIMENT_BATCH_OOV_SAMPLE_EVERY | 10        | measure out-of-vocabulary rate on every Nth row    |
| IMDB_SENTIMENT_DRIFT_PSI_THRESHOLD | 0.2          | PSI above which a distribution counts as drifted   |
| IMDB_SENTIMENT_DRIFT_POSITIVE_RATE_THRESHOLD | 0.15 | abs. change of the positive rate that is drift   |
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IMDB_SENTIMENT_", extra="ignore")

    model: str = Field(
        default="models/imdb-sentiment",
        description="Bundle to load: a local folder or an s3:// URL",
    )
    # Batch flow (imdb_sentiment.batch)
    batch_chunk_rows: int = Field(default=5000, ge=1, description="Rows per chunk")
    batch_workers: int = Field(default=0, ge=0, description="Scoring processes; 0 = all cores")
    batch_dask_address: str | None = Field(
        default=None, description="Dask scheduler address; set it to score on a Dask cluster"
    )
    batch_retries: int = Field(default=3, ge=0, description="Retries of a failed I/O task")
    batch_retry_delay_seconds: float = Field(
        default=1.0, ge=0, description="First retry delay, doubled for each later retry"
    )
    batch_oov_sample_every: int = Field(
        default=10, ge=1, description="Out-of-vocabulary rate is measured on every Nth row"
    )
    # PSI 0.1-0.2 is commonly read as a moderate shift, above 0.2 as a significant one.
    drift_psi_threshold: float = Field(default=0.2, gt=0, description="PSI drift threshold")
    drift_positive_rate_threshold: float = Field(
        default=0.15, gt=0, description="Drift threshold on |positive rate - reference|"
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
