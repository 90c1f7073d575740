# The prediction service with the model bundle baked in. Build from the repo root after
# `dvc pull` (or `make pipeline`) so models/imdb-sentiment exists:
#   docker build -t imdb-sentiment .
# CI (.github/scripts/build_push.sh) pins the bundle: --build-arg BUNDLE_HASH=<dvc.lock's md5 of
# models/imdb-sentiment> MODEL_REGISTRY_VERSION=<champion's version>. The build then fails, and
# the container refuses to start, unless the bundle inside is exactly that one.
# Versions come from uv.lock; the image runs as a non-root user and listens on 8000.
# Newest CPython 3.11 patch on current Debian, by full tag (no digest that could not be verified);
# Dependabot (.github/dependabot.yml) proposes newer patch tags as reviewed pull requests.
FROM python:3.11.16-slim-trixie AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# uv, and Amazon's RDS CA bundle (all regions): the feedback store's PostgreSQL URL verifies the
# server against it (sslmode=verify-full).
RUN pip install --no-cache-dir uv==0.13.9 \
    && python -c "import urllib.request as u; u.urlretrieve('https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem', '/app/rds-ca-bundle.pem')"
# Dependencies first, in their own layer: code changes do not re-install them.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --extra serve --no-install-project
COPY src/ src/
COPY app/ app/
RUN uv sync --frozen --no-dev --extra serve --no-editable

FROM python:3.11.16-slim-trixie
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin imdb
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY models/imdb-sentiment/ /app/models/imdb-sentiment/
COPY --from=build /app/rds-ca-bundle.pem /app/rds-ca-bundle.pem
ARG BUNDLE_HASH=""
ARG MODEL_REGISTRY_VERSION=""
LABEL imdb-sentiment.bundle-dvc-md5=$BUNDLE_HASH \
      imdb-sentiment.model-registry-version=$MODEL_REGISTRY_VERSION
ENV PATH=/app/.venv/bin:$PATH \
    IMDB_SENTIMENT_MODEL=/app/models/imdb-sentiment \
    IMDB_SENTIMENT_EXPECTED_BUNDLE_HASH=$BUNDLE_HASH \
    IMDB_SENTIMENT_MODEL_REGISTRY_VERSION=$MODEL_REGISTRY_VERSION \
    IMDB_SENTIMENT_FEEDBACK_DB=sqlite:////app/data/feedback/feedback.db \
    PYTHONUNBUFFERED=1
# The same check the service runs at start: a bundle other than the pinned one fails the build.
RUN ["imdb-sentiment", "predict", "build-time check: the pinned bundle verifies and loads"]
# The default feedback store (SQLite) needs a folder the service's user may write; it lives as
# long as the container unless a volume is mounted here. Production sets a PostgreSQL URL.
RUN mkdir -p /app/data/feedback && chown 10001 /app/data/feedback
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
CMD ["imdb-sentiment", "serve", "--host", "0.0.0.0", "--port", "8000"]
