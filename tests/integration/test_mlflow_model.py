"""The registered MLflow model is self-contained: a clean virtual environment with only its
requirements.txt (public packages) loads it, scores like the loader, and `mlflow models serve`
answers /invocations. The fresh venv is created with uv from PyPI (its cache makes it quick)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from helpers.support import ROOT, environment, free_port, running_process

from imdb_sentiment.bundle import load_bundle

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

TEXTS = [
    "A wonderful, moving film with superb acting.",
    "Dull, predictable and far too long.",
    "It was fine I guess, nothing special.",
]
UV = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")


def _clean_env(home: Path) -> dict[str, str]:
    """No project on any path, no inherited virtualenv or tracking settings; the machine's
    package index, proxy and CA settings (reaching PyPI) are kept."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key.startswith(("UV_", "PIP_", "SSL_", "REQUESTS_CA", "CURL_CA"))
        or key.lower() in ("http_proxy", "https_proxy", "no_proxy", "lang")
    }
    if "UV_CACHE_DIR" not in env:
        env["UV_CACHE_DIR"] = str(Path.home() / ".cache" / "uv")  # the warm cache
    return {
        **env,
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }


@pytest.fixture(scope="module")
def downloaded_candidate(small_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Register the sample bundle in a local registry, download models:/imdb-sentiment@candidate."""
    root = tmp_path_factory.mktemp("registry")
    with environment(
        MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}",
        IMDB_SENTIMENT_TRACKING="1",
        IMDB_SENTIMENT_STRICT_TRACKING="1",
    ):
        from imdb_sentiment.registry import mlflow_module
        from imdb_sentiment.tracking import register_bundle

        cwd = Path.cwd()
        os.chdir(root)
        try:
            assert register_bundle(small_bundle) == "1"
            mlflow = mlflow_module()
            model = mlflow.artifacts.download_artifacts(
                artifact_uri="models:/imdb-sentiment@candidate", dst_path=str(root / "download")
            )
        finally:
            os.chdir(cwd)
    return Path(model)


@pytest.fixture(scope="module")
def clean_venv(downloaded_candidate: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("venv")
    venv = root / "venv"
    env = _clean_env(root)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    for command in (
        [UV, "venv", "--quiet", "--python", sys.executable, str(venv)],
        [UV, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
         "-r", str(downloaded_candidate / "requirements.txt")],
    ):  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
    assert python in (venv / "pyvenv.cfg").read_text()
    return venv


def test_requirements_name_only_public_packages_pinned_to_the_lock(
    downloaded_candidate: Path,
) -> None:
    requirements = (downloaded_candidate / "requirements.txt").read_text().splitlines()
    names = {line.split("==")[0] for line in requirements if line and not line.startswith("#")}
    assert "imdb-sentiment" not in names
    assert all("==" in line for line in requirements if line and not line.startswith("#"))
    mlmodel = (downloaded_candidate / "MLmodel").read_text()
    assert "signature:" in mlmodel and '"name": "text"' in mlmodel
    assert (downloaded_candidate / "input_example.json").exists()
    assert (downloaded_candidate / "code" / "imdb_sentiment" / "bundle" / "__init__.py").exists()


def test_clean_venv_loads_the_model_and_scores_like_the_loader(
    clean_venv: Path, downloaded_candidate: Path, small_bundle: Path, tmp_path: Path
) -> None:
    script = (
        "import importlib.metadata, json, sys\n"
        "import mlflow, pandas as pd\n"
        "try:\n"
        "    importlib.metadata.version('imdb-sentiment')\n"
        "    sys.exit('imdb-sentiment is installed in the clean venv')\n"
        "except importlib.metadata.PackageNotFoundError:\n"
        "    pass\n"
        f"model = mlflow.pyfunc.load_model({str(downloaded_candidate)!r})\n"
        f"print(json.dumps(list(map(float, model.predict(pd.DataFrame({{'text': {TEXTS!r}}}))))))\n"
    )
    done = subprocess.run(
        [str(clean_venv / "bin" / "python"), "-c", script],
        cwd=tmp_path,  # not the project: nothing importable from here
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    remote = json.loads(done.stdout.strip().splitlines()[-1])
    local = load_bundle(small_bundle).predict_proba(TEXTS)
    np.testing.assert_allclose(remote, local, rtol=0, atol=1e-12)


def test_mlflow_models_serve_answers_invocations_on_loopback(
    clean_venv: Path, downloaded_candidate: Path, small_bundle: Path, tmp_path: Path
) -> None:
    port = free_port()
    command = [
        str(clean_venv / "bin" / "mlflow"), "models", "serve", "-m", str(downloaded_candidate),
        "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {**_clean_env(tmp_path), "PATH": f"{clean_venv / 'bin'}:/usr/bin:/bin"}
    ping = f"http://127.0.0.1:{port}/ping"
    with running_process(command, tmp_path / "serve.log", ping, env=env, timeout=180):
        body = json.dumps({"dataframe_split": {"columns": ["text"], "data": [[t] for t in TEXTS]}})
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            predictions = json.loads(response.read())["predictions"]
    local = load_bundle(small_bundle).predict_proba(TEXTS)
    np.testing.assert_allclose(predictions, local, rtol=0, atol=1e-12)
