"""Deploy an image to Elastic Beanstalk, smoke-test it and roll back when the smoke test fails.

`imdb-sentiment deploy` (run by .github/workflows/deploy.yml after the image is in ECR):
1. remember the version the environment runs now (the rollback target);
2. upload a source bundle (Dockerrun.aws.json naming the image, plus `.platform/` hooks if the
   project has them) and create the application version (reused if the label exists);
3. update the environment and wait until it is Ready, Green and on the new version;
4. smoke-test `/ready` and `/predict`;
5. on failure, redeploy the previous version, wait for it, smoke-test it, and exit non-zero.

`imdb-sentiment smoke-test URL` runs step 4 alone. Deployment tooling: serving never imports it.
"""

from __future__ import annotations

import json
import string
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imdb_sentiment.errors import ImdbSentimentError
from imdb_sentiment.files import deterministic_zip
from imdb_sentiment.labels import LABELS

API_PORT = 8000
DOCKERRUN = "Dockerrun.aws.json"
# Two unambiguous reviews: a model that loads but answers wrongly fails the smoke test too.
SMOKE_REVIEWS = {
    "positive": "A wonderful, moving film. Brilliant acting and a great story; I loved every minute.",
    "negative": "Awful, boring and badly acted. The worst film I have seen; a complete waste of time.",
}


class DeployError(ImdbSentimentError, RuntimeError):
    """The deploy did not end with the new version live and answering."""


# ---------------------------------------------------------------- smoke test


def _request(url: str, body: dict[str, Any] | None, timeout: float) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's own API
        url, data=data, headers={"Content-Type": "application/json"} if data else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    try:
        return status, json.loads(payload or b"null")
    except json.JSONDecodeError:
        return status, payload.decode(errors="replace")[:200]


def _label_in(payload: Any) -> str | None:
    """The first `label` value anywhere in the response (the API may nest its prediction)."""
    if isinstance(payload, dict):
        if isinstance(payload.get("label"), str):
            return payload["label"]
        payload = list(payload.values())
    if isinstance(payload, list):
        for item in payload:
            label = _label_in(item)
            if label is not None:
                return label
    return None


def smoke_test_once(
    base_url: str, timeout: float = 10.0, model_version: str | None = None
) -> list[str]:
    """Problems found at ``base_url`` (empty list: it passed). With ``model_version``, /model
    must report that registry version (the one the deploy pinned into the image)."""
    base_url = base_url.rstrip("/")
    problems = []
    try:
        status, payload = _request(f"{base_url}/ready", None, timeout)
        if status != 200:
            problems.append(f"GET /ready answered {status}: {payload}")
        if model_version is not None:
            status, payload = _request(f"{base_url}/model", None, timeout)
            served = (payload.get("release") or {}) if isinstance(payload, dict) else {}
            if served.get("model_registry_version") != model_version:
                problems.append(
                    f"GET /model reports registry version "
                    f"{served.get('model_registry_version')!r}, not {model_version!r}"
                )
        for expected, text in SMOKE_REVIEWS.items():
            status, payload = _request(f"{base_url}/predict", {"text": text}, timeout)
            label = _label_in(payload)
            if status != 200:
                problems.append(f"POST /predict answered {status}: {payload}")
            elif label not in LABELS:
                problems.append(f"POST /predict gave no label in {LABELS}: {payload}")
            elif label != expected:
                problems.append(f"POST /predict called a clearly {expected} review {label}")
    except (OSError, TimeoutError) as error:
        problems.append(f"{base_url} unreachable: {error}")
    return problems


def smoke_test(
    base_url: str,
    attempts: int = 5,
    delay: float = 6.0,
    log: Callable[[str], None] = print,
    model_version: str | None = None,
) -> bool:
    """Retry briefly: a load balancer may need a moment after Beanstalk reports Green."""
    for attempt in range(1, attempts + 1):
        problems = smoke_test_once(base_url, model_version=model_version)
        if not problems:
            log(f"smoke test passed at {base_url}")
            return True
        log(f"smoke test attempt {attempt}/{attempts} failed: " + "; ".join(problems))
        if attempt < attempts:
            time.sleep(delay)
    return False


# ---------------------------------------------------------------- Beanstalk


def source_bundle(image: str, source: Path) -> bytes:
    """The application-version zip for ``image``: every file under ``source`` (the API's
    Beanstalk files, ``app/beanstalk/source``: Dockerrun.aws.json, .ebextensions/, .platform/)
    at the zip's root, with ``${IMAGE_URI}`` in Dockerrun.aws.json set to ``image``."""
    members = {
        path.relative_to(source).as_posix(): path.read_bytes()
        for path in sorted(Path(source).rglob("*"))
        if path.is_file()
    }
    if DOCKERRUN not in members:
        raise DeployError(f"{source} has no {DOCKERRUN}: pass the API's Beanstalk source folder")
    template = string.Template(members[DOCKERRUN].decode())
    members[DOCKERRUN] = template.substitute(IMAGE_URI=image).encode()
    return deterministic_zip(members, compression=zipfile.ZIP_DEFLATED)


def environment_state(eb: Any, environment: str) -> dict[str, Any]:
    found = eb.describe_environments(EnvironmentNames=[environment], IncludeDeleted=False)
    if not found["Environments"]:
        raise DeployError(f"Beanstalk environment {environment!r} not found")
    return found["Environments"][0]


def ensure_version(
    eb: Any, s3: Any, application: str, label: str, bucket: str, bundle: bytes
) -> None:
    """Create application version ``label`` from ``bundle`` unless it exists (a re-run)."""
    existing = eb.describe_application_versions(ApplicationName=application, VersionLabels=[label])
    if existing["ApplicationVersions"]:
        return
    key = f"{application}/{label}.zip"
    s3.put_object(Bucket=bucket, Key=key, Body=bundle)
    eb.create_application_version(
        ApplicationName=application,
        VersionLabel=label,
        Description=f"imdb-sentiment API {label}",
        SourceBundle={"S3Bucket": bucket, "S3Key": key},
        Process=True,
    )


def wait_until_live(
    eb: Any,
    environment: str,
    label: str,
    timeout: float,
    poll: float = 15.0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Wait for Status Ready, Health Green and VersionLabel ``label``; DeployError otherwise."""
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = environment_state(eb, environment)
        summary = f"{state['Status']}/{state.get('Health')} on {state.get('VersionLabel')}"
        log(f"{environment}: {summary}")
        if state["Status"] == "Ready":
            if state.get("VersionLabel") != label:
                # Beanstalk rolls a failed deployment back by itself and ends Ready on the old one.
                raise DeployError(
                    f"{environment} is Ready on {state.get('VersionLabel')}, not {label}"
                )
            if state.get("Health") == "Green":
                return state
        time.sleep(poll)
    raise DeployError(f"{environment} not live on {label} within {timeout:.0f}s (last: {state})")


def deploy(
    eb: Any,
    s3: Any,
    *,
    application: str,
    environment: str,
    bucket: str,
    image: str,
    label: str,
    beanstalk_source: Path,
    base_url: str | None = None,
    timeout: float = 1200.0,
    poll: float = 15.0,
    smoke_attempts: int = 5,
    smoke_delay: float = 6.0,
    log: Callable[[str], None] = print,
    model_version: str | None = None,
) -> None:
    """Deploy ``image`` as ``label``; roll back to the previous version if it is not healthy and
    answering (and, with ``model_version``, serving that registry version). Raises DeployError
    after a rollback (the deploy failed) or when none is possible."""
    before = environment_state(eb, environment)
    previous = before.get("VersionLabel")
    url = base_url or f"http://{before['CNAME']}"
    log(f"{environment} runs {previous}; deploying {label} ({image})")

    ensure_version(eb, s3, application, label, bucket, source_bundle(image, beanstalk_source))
    eb.update_environment(EnvironmentName=environment, VersionLabel=label)
    try:
        wait_until_live(eb, environment, label, timeout, poll, log)
        problem = None
        if not smoke_test(url, smoke_attempts, smoke_delay, log, model_version):
            problem = f"smoke test of {label} failed"
    except DeployError as error:
        problem = str(error)
    if problem is None:
        log(f"{label} is live")
        return

    log(f"deploy failed: {problem}")
    if not previous or previous == label:
        raise DeployError(f"{problem}; no previous version to roll back to")
    log(f"rolling back to {previous}")
    eb.update_environment(EnvironmentName=environment, VersionLabel=previous)
    wait_until_live(eb, environment, previous, timeout, poll, log)
    healthy = smoke_test(url, smoke_attempts, smoke_delay, log)
    raise DeployError(
        f"{problem}; rolled back to {previous}"
        + ("" if healthy else f" (and {previous} fails its smoke test too)")
    )
