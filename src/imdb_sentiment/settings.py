"""Runtime settings, read once from environment variables (the pipeline's knobs live in params.yaml).

| variable               | default                  | meaning                                          |
|------------------------|--------------------------|--------------------------------------------------|
| IMDB_SENTIMENT_MODEL   | models/imdb-sentiment    | bundle to serve: a folder path or s3:// URL      |
| IMDB_SENTIMENT_MAX_TEXT_CHARS | 20000             | longest review text the API accepts (characters) |
| IMDB_SENTIMENT_MAX_BATCH_SIZE | 256               | most texts one `POST /predict/batch` may carry   |
| IMDB_SENTIMENT_EXPLAIN_TOP_K  | 10                | n-grams returned each way when `explain=true`    |
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
