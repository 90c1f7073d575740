"""Runtime settings, read once from environment variables (the pipeline's knobs live in params.yaml).

| variable               | default                  | meaning                                          |
|------------------------|--------------------------|--------------------------------------------------|
| IMDB_SENTIMENT_MODEL   | models/imdb-sentiment    | bundle to serve: a folder path or s3:// URL      |
| IMDB_SENTIMENT_SCORING_WORKERS | 1                | processes for batches >= 2,000 texts (load_bundle) |
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
    scoring_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Worker processes that score large batches (pass to load_bundle); "
        "2 on a 2-core batch machine, 1 in a multi-worker API server",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
