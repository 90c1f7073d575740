"""Deploy decisions: go live, or roll back when the new version is unhealthy or fails its smoke test.

The smoke test talks HTTP to a real server on loopback (issue 4's app is not on this branch yet:
the server answers /ready and /predict the way the API does). Source bundles go to a real
moto_server S3 bucket. Beanstalk itself is a small stand-in: moto 5.2 implements neither
application versions nor UpdateEnvironment.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from imdb_sentiment.cli import main
from imdb_sentiment.deploy import (
    DeployError,
    deploy,
    ensure_version,
    smoke_test_once,
    source_bundle,
)
from imdb_sentiment.integrity import folder_md5

BEANSTALK_SOURCE = Path(__file__).resolve().parents[2] / "app" / "beanstalk" / "source"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/imdb-sentiment:" + "a" * 40


class FakeApi:
    """What each version's container does: ok, predict_500, wrong_labels, not_ready."""

    def __init__(self) -> None:
        self.behaviour: dict[str, str] = {}
        self.serving: str | None = None

    @property
    def mode(self) -> str:
        return self.behaviour.get(self.serving or "", "down")


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/ready":
                ready = api.mode not in ("not_ready", "down")
                self._send(200 if ready else 503, {"ready": ready})
            elif self.path == "/model":
                # What the image's environment says: the version in the label it was built for.
                _, _, version = (api.serving or "").rpartition("-model-v")
                self._send(200, {"release": {"model_registry_version": version or None}})
            else:
                self._send(404, {"detail": "not found"})

        def do_POST(self) -> None:
            text = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["text"]
            if self.path != "/predict" or api.mode in ("predict_500", "down"):
                self._send(500, {"detail": "internal error"})
                return
            positive = "wonderful" in text.lower()
            if api.mode == "wrong_labels":
                positive = not positive
            label = "positive" if positive else "negative"
            self._send(200, {"label": label, "probability_positive": 0.9 if positive else 0.1})

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def api() -> Iterator[tuple[FakeApi, str]]:
    state = FakeApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class FakeBeanstalk:
    """One application and environment. An update reports Updating for a few polls, then the
    environment runs the version (the API above serves it) with the health ``health`` gives."""

    def __init__(self, api: FakeApi, s3: Any, current: str | None, health: dict[str, str]):
        self.api, self.s3, self.health = api, s3, health
        self.versions: dict[str, dict[str, str]] = {}
        self.updates: list[str] = []
        self.env = {"Status": "Ready", "Health": "Green", "CNAME": "unused.example"}
        if current:
            self.versions[current] = {}
            self.env["VersionLabel"] = current
        api.serving = current
        self._pending: tuple[str, int] | None = None

    # boto3's keyword names.
    def describe_environments(self, EnvironmentNames: list, IncludeDeleted: bool) -> dict:  # noqa: N803
        assert EnvironmentNames == ["api-env"]
        if self._pending:
            label, polls = self._pending
            if polls > 0:
                self._pending = (label, polls - 1)
            else:
                self._pending = None
                self.env.update(
                    Status="Ready", VersionLabel=label, Health=self.health.get(label, "Green")
                )
                self.api.serving = label
        return {"Environments": [dict(self.env)]}

    def describe_application_versions(self, ApplicationName: str, VersionLabels: list) -> dict:  # noqa: N803
        found = [{"VersionLabel": v} for v in VersionLabels if v in self.versions]
        return {"ApplicationVersions": found}

    def create_application_version(self, **kwargs: Any) -> None:
        assert kwargs["VersionLabel"] not in self.versions
        source = kwargs["SourceBundle"]
        # Beanstalk reads the bundle from S3: it must be there.
        self.s3.head_object(Bucket=source["S3Bucket"], Key=source["S3Key"])
        self.versions[kwargs["VersionLabel"]] = source

    def update_environment(self, EnvironmentName: str, VersionLabel: str) -> None:  # noqa: N803
        assert VersionLabel in self.versions
        self.updates.append(VersionLabel)
        self.env.update(Status="Updating", Health="Grey")
        self._pending = (VersionLabel, 2)


@pytest.fixture
def s3(s3_bucket: str, moto_server: str):
    return boto3.client("s3", endpoint_url=moto_server), s3_bucket


def run_deploy(eb: FakeBeanstalk, s3_client: Any, bucket: str, url: str, label: str, **kw: Any):
    deploy(
        eb,
        s3_client,
        application="imdb-sentiment",
        environment="api-env",
        bucket=bucket,
        image=IMAGE,
        label=label,
        beanstalk_source=BEANSTALK_SOURCE,
        base_url=url,
        timeout=kw.pop("timeout", 5.0),
        poll=0.01,
        smoke_attempts=2,
        smoke_delay=0.01,
        log=lambda message: None,
        **kw,
    )


def test_healthy_version_goes_live_without_rollback(api, s3) -> None:
    state, url = api
    s3_client, bucket = s3
    state.behaviour = {"v1": "ok", "v2": "ok"}
    eb = FakeBeanstalk(state, s3_client, current="v1", health={})
    run_deploy(eb, s3_client, bucket, url, "v2")
    assert eb.updates == ["v2"]
    assert eb.env["VersionLabel"] == "v2" and state.serving == "v2"
    # The version's bundle in S3 runs exactly the pushed image on the API port.
    key = eb.versions["v2"]["S3Key"]
    body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    dockerrun = json.loads(zipfile.ZipFile(io.BytesIO(body)).read("Dockerrun.aws.json"))
    assert dockerrun["Image"]["Name"] == IMAGE
    assert dockerrun["Ports"] == [{"ContainerPort": 8000}]


@pytest.mark.parametrize("broken", ["predict_500", "wrong_labels", "not_ready"])
def test_failed_smoke_test_rolls_back_to_previous_version(api, s3, broken: str) -> None:
    state, url = api
    s3_client, bucket = s3
    state.behaviour = {"v1": "ok", "v2": broken}
    eb = FakeBeanstalk(state, s3_client, current="v1", health={})
    with pytest.raises(DeployError, match=r"smoke test of v2 failed; rolled back to v1$"):
        run_deploy(eb, s3_client, bucket, url, "v2")
    assert eb.updates == ["v2", "v1"]
    assert eb.env["VersionLabel"] == "v1" and state.serving == "v1"
    assert smoke_test_once(url) == []


def test_environment_that_never_turns_green_rolls_back(api, s3) -> None:
    state, url = api
    s3_client, bucket = s3
    state.behaviour = {"v1": "ok", "v2": "ok"}
    eb = FakeBeanstalk(state, s3_client, current="v1", health={"v2": "Red"})
    with pytest.raises(DeployError, match=r"not live on v2 within 0s.*rolled back to v1"):
        run_deploy(eb, s3_client, bucket, url, "v2", timeout=0.5)
    assert eb.updates == ["v2", "v1"] and eb.env["VersionLabel"] == "v1"


def test_failed_first_deploy_reports_nothing_to_roll_back(api, s3) -> None:
    state, url = api
    s3_client, bucket = s3
    state.behaviour = {"v1": "predict_500"}
    eb = FakeBeanstalk(state, s3_client, current=None, health={})
    with pytest.raises(DeployError, match="no previous version to roll back to"):
        run_deploy(eb, s3_client, bucket, url, "v1")
    assert eb.updates == ["v1"]


def test_rerun_reuses_an_existing_version(s3) -> None:
    s3_client, bucket = s3
    eb = FakeBeanstalk(FakeApi(), s3_client, current="v1", health={})
    ensure_version(eb, s3_client, "imdb-sentiment", "v1", bucket, b"unused")
    assert eb.versions == {"v1": {}}
    assert s3_client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_source_bundle_runs_the_image_on_the_api_port() -> None:
    bundle = zipfile.ZipFile(io.BytesIO(source_bundle(IMAGE, BEANSTALK_SOURCE)))
    dockerrun = json.loads(bundle.read("Dockerrun.aws.json"))
    assert dockerrun["Image"]["Name"] == IMAGE
    assert dockerrun["Ports"] == [{"ContainerPort": 8000}]
    # The API's health check and nginx limits travel with it, at the root where EB looks.
    names = bundle.namelist()
    assert any(name.startswith(".ebextensions/") for name in names)
    assert any(name.startswith(".platform/") for name in names)


def test_source_bundle_is_the_same_bytes_for_the_same_image() -> None:
    assert source_bundle(IMAGE, BEANSTALK_SOURCE) == source_bundle(IMAGE, BEANSTALK_SOURCE)
    assert source_bundle(IMAGE, BEANSTALK_SOURCE) != source_bundle(IMAGE + "b", BEANSTALK_SOURCE)


def test_source_bundle_refuses_a_folder_without_a_dockerrun(tmp_path: Path) -> None:
    (tmp_path / ".platform").mkdir()
    with pytest.raises(DeployError, match=r"Dockerrun\.aws\.json"):
        source_bundle(IMAGE, tmp_path)


def test_smoke_test_reports_each_problem(api) -> None:
    state, url = api
    state.serving, state.behaviour = "v1", {"v1": "wrong_labels"}
    problems = smoke_test_once(url)
    assert problems == [
        "POST /predict called a clearly positive review negative",
        "POST /predict called a clearly negative review positive",
    ]
    closed = smoke_test_once("http://127.0.0.1:9")
    assert len(closed) == 1 and "unreachable" in closed[0]


def test_smoke_test_command_exit_code(api) -> None:
    state, url = api
    command = [str(Path(sys.executable).with_name("imdb-sentiment")), "smoke-test", url]
    state.serving, state.behaviour = "v1", {"v1": "ok"}
    ok = subprocess.run([*command, "--attempts", "1"], capture_output=True, text=True)
    assert ok.returncode == 0 and "smoke test passed" in ok.stdout
    state.behaviour = {"v1": "predict_500"}
    failed = subprocess.run([*command, "--attempts", "1"], capture_output=True, text=True)
    assert failed.returncode == 1 and "POST /predict answered 500" in failed.stdout


# ---------------------------------------------------------------- the registry gate


def _bundle_variant(small_bundle: Path, folder: Path, val_roc_auc: float) -> Path:
    """The sample bundle, registered as another version: its manifest records ``val_roc_auc``."""
    shutil.copytree(small_bundle, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["metrics"]["val"]["roc_auc"] = val_roc_auc
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _lock_naming(bundle: Path, lock: Path) -> Path:
    """dvc.lock of a commit whose export stage produced ``bundle``."""
    out = {"path": "models/imdb-sentiment", "hash": "md5", "md5": folder_md5(bundle)}
    lock.write_text(yaml.safe_dump({"schema": "2.0", "stages": {"export": {"outs": [out]}}}))
    return lock


def test_a_refused_promotion_stops_the_deploy_and_a_promoted_champion_ships_pinned(
    api, s3, small_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """main: register candidate -> promote gate -> deploy, against a real local MLflow registry."""
    state, url = api
    s3_client, bucket = s3
    summary = tmp_path / "summary.md"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("IMDB_SENTIMENT_REGISTRY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("IMDB_SENTIMENT_STRICT_TRACKING", "0")  # `register` sets it; undone after
    monkeypatch.setenv("IMDB_SENTIMENT_TRACKING", "1")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    eb = FakeBeanstalk(state, s3_client, current="git-old", health={})
    monkeypatch.setattr(
        boto3, "client", lambda service, **_: eb if service == "elasticbeanstalk" else s3_client
    )
    state.behaviour = {"git-old": "ok"}

    def commit_and_gate(bundle: Path) -> tuple[int, int]:
        lock = _lock_naming(bundle, tmp_path / "dvc.lock")
        assert main(["register", "--bundle", str(bundle)]) == 0
        gate = main(["promote", "--fail-if-not-promoted"])
        deployed = main(
            [
                *("deploy", "--application", "imdb-sentiment", "--environment", "api-env"),
                *("--bucket", bucket, "--image", IMAGE, "--label", "git-" + "a" * 7),
                *("--url", url, "--timeout", "5", "--poll", "0.01"),
                *("--bundle", str(bundle), "--lock", str(lock)),
                *("--beanstalk-source", str(BEANSTALK_SOURCE)),
            ]
        )
        return gate, deployed

    first = _bundle_variant(small_bundle, tmp_path / "v1", 0.90)
    state.behaviour["git-aaaaaaa-model-v1"] = "ok"
    assert commit_and_gate(first) == (0, 0)
    assert eb.updates == ["git-aaaaaaa-model-v1"]

    worse = _bundle_variant(small_bundle, tmp_path / "v2", 0.85)
    assert commit_and_gate(worse) == (3, 1)
    assert eb.updates == ["git-aaaaaaa-model-v1"], "the deploy must not reach Beanstalk"
    report = summary.read_text()
    assert "### Promotion refused" in report and "not promoted: val roc_auc" in report
    assert "### Deploy refused" in report and "is version 1" in report

    better = _bundle_variant(small_bundle, tmp_path / "v3", 0.95)
    state.behaviour["git-aaaaaaa-model-v3"] = "ok"
    assert commit_and_gate(better) == (0, 0)
    assert eb.updates[-1] == "git-aaaaaaa-model-v3" and eb.env["VersionLabel"].endswith("-v3")


def test_deploy_refuses_a_bundle_that_is_not_the_one_dvc_lock_pins(
    small_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    bundle = _bundle_variant(small_bundle, tmp_path / "b", 0.9)
    lock = _lock_naming(small_bundle, tmp_path / "dvc.lock")  # pins another bundle
    assert main(["release", "--bundle", str(bundle), "--lock", str(lock)]) == 1
    err = capsys.readouterr().err
    assert folder_md5(bundle) in err and folder_md5(small_bundle) in err


def test_release_resolves_the_champion_to_a_version_number(
    small_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("IMDB_SENTIMENT_STRICT_TRACKING", "0")
    monkeypatch.setenv("IMDB_SENTIMENT_TRACKING", "1")
    lock = _lock_naming(small_bundle, tmp_path / "dvc.lock")
    assert main(["release", "--bundle", str(small_bundle), "--lock", str(lock)]) == 1
    assert "names no champion" in capsys.readouterr().err
    assert main(["register", "--bundle", str(small_bundle)]) == 0
    assert main(["promote"]) == 0
    capsys.readouterr()
    assert main(["release", "--bundle", str(small_bundle), "--lock", str(lock)]) == 0
    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
    assert lines["model_version"] == "1" and lines["bundle_hash"] == folder_md5(small_bundle)


def test_smoke_test_checks_the_served_registry_version(api) -> None:
    state, url = api
    state.serving, state.behaviour = "git-a-model-v3", {"git-a-model-v3": "ok"}
    assert smoke_test_once(url, model_version="3") == []
    assert smoke_test_once(url, model_version="4") == [
        "GET /model reports registry version '3', not '4'"
    ]
