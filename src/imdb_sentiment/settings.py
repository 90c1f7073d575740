"""Runtime settings, read once from environment variables (the pipeline's knobs live in params.yaml).

| variable               | default                  | meaning                                          |
|------------------------|--------------------------|--------------------------------------------------|
| IMDB_SENTIMENT_MODEL   | models/imdb-sentiment    | bundle to serve: a folder path or s3:// URL      |
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
