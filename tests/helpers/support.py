"""Helpers the tests share: the sample archive, small params, running stages in a folder."""

from __future__ import annotations

import gzip
import io
import json
import os
import runpy
import shutil
import subprocess
import tarfile
from collections.abc import Iterator, Mapping
from contextlib import chdir, contextmanager
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "fixtures" / "imdb_sample.jsonl.gz"
STAGES = ("ingest", "split", "featurize", "train", "evaluate", "export")
# The real params, shrunk so the 480-review sample trains in seconds.
SMALL_OVERRIDES = {"featurize.min_df": 1, "export.parity_sample": 100, "evaluate.curve_points": 20}


def sample_members() -> dict[str, str]:
    """Archive member name -> text, for the committed sample of real reviews."""
    with gzip.open(SAMPLE, "rt") as lines:
        return {row["name"]: row["text"] for row in map(json.loads, lines)}


def write_archive(
    path: Path, members: Mapping[str, str | bytes], order: list[str] | None = None
) -> Path:
    """A gzip tar archive holding ``members`` (in ``order`` if given)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for name in order or sorted(members):
            data = members[name]
            data = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return path


def params_with(overrides: Mapping[str, Any], base: Path = ROOT / "params.yaml") -> dict[str, Any]:
    params = yaml.safe_load(base.read_text())
    for dotted, value in overrides.items():
        section, key = dotted.split(".", 1)
        params[section][key] = value
    return params


def write_params(directory: Path, overrides: Mapping[str, Any] = SMALL_OVERRIDES) -> Path:
    path = directory / "params.yaml"
    path.write_text(yaml.safe_dump(params_with(overrides), sort_keys=False))
    return path


@contextmanager
def environment(**values: str) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_stages(workdir: Path, archive: Path, stages: tuple[str, ...] = STAGES) -> None:
    """Run the real stage scripts in-process inside ``workdir`` (no DVC): fast and debuggable."""
    with chdir(workdir), environment(IMDB_ARCHIVE=str(archive)):
        for stage in stages:
            runpy.run_path(str(ROOT / "stages" / f"{stage}.py"), run_name="__main__")


def copy_project(destination: Path) -> Path:
    """The files a clone has that the pipeline needs (code is installed in the venv)."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in ("dvc.yaml", "params.yaml", ".dvcignore", ".gitignore"):
        shutil.copy2(ROOT / name, destination / name)
    for folder in ("stages", "src", "tests/behaviour"):
        shutil.copytree(
            ROOT / folder, destination / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    return destination


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_http(url: str, timeout: float, process: Any = None) -> None:
    """Poll ``url`` until it answers (any status), the process dies, or ``timeout`` passes."""
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"{process.args} exited with {process.returncode} before serving {url}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@contextmanager
def running_process(
    command: list[str],
    log: Path,
    ready_url: str,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    stop_timeout: float = 20,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command`` (stdout and stderr to ``log``); yield it once ``ready_url`` answers.

    ``env`` replaces the environment (``None`` inherits ours). Afterwards, or if it dies or
    times out first, the process is terminated, and killed if it has not stopped within
    ``stop_timeout`` seconds.
    """
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_http(ready_url, timeout=timeout, process=process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def mlflow_server(backend_uri: str, artifacts: str, log: Path, **env: str) -> Iterator[str]:
    """A real `mlflow server` on loopback that proxies artifacts to ``artifacts`` (e.g. s3://).

    Yields its URL once /health answers. ``env`` is added to the server's environment only
    (MLFLOW_S3_ENDPOINT_URL and AWS credentials): clients need nothing but the URL.
    """
    import sys

    port = free_port()
    command = [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        backend_uri,
        "--artifacts-destination",
        artifacts,
        "--workers",
        "1",
    ]
    # Job execution starts extra workers that slow start-up from ~11 s to ~40 s here.
    server_env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **env}
    url = f"http://127.0.0.1:{port}"
    with running_process(command, log, f"{url}/health", env=server_env, timeout=180):
        yield url
