"""The bundle is pinned by git: it loads only if its DVC hash is the one dvc.lock records."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers.support import ROOT, environment

from imdb_sentiment.bundle import BundleError, load_bundle
from imdb_sentiment.integrity import PinError, folder_md5, locked_md5
from imdb_sentiment.settings import Settings

DVC = Path(sys.executable).with_name("dvc")


@pytest.fixture
def bundle_copy(small_bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(small_bundle, tmp_path / "bundle"))


def test_folder_hash_is_the_one_dvc_itself_records(bundle_copy: Path, tmp_path: Path) -> None:
    """`dvc add` on a copy of a bundle, in a fresh repo: same md5 as ours."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copytree(bundle_copy, repo / "bundle")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    for command in (["git", "init", "-q"], [str(DVC), "init", "-q"], [str(DVC), "add", "bundle"]):
        subprocess.run(command, cwd=repo, env=env, check=True, capture_output=True, timeout=120)
    recorded = yaml.safe_load((repo / "bundle.dvc").read_text())["outs"][0]["md5"]
    assert folder_md5(bundle_copy) == recorded


def test_folder_hash_of_the_real_bundle_is_what_dvc_lock_records(full_bundle: Path) -> None:
    assert folder_md5(full_bundle) == locked_md5(lock=ROOT / "dvc.lock")


def test_a_bundle_with_another_hash_than_expected_is_refused_naming_both(
    bundle_copy: Path,
) -> None:
    pinned = folder_md5(bundle_copy)
    assert load_bundle(bundle_copy, expected_hash=pinned).version
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["threshold"] = 0.3  # rewritten consistently: the manifest alone cannot tell
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    assert load_bundle(bundle_copy).threshold == 0.3
    actual = folder_md5(bundle_copy)
    with pytest.raises(BundleError) as refused:
        load_bundle(bundle_copy, expected_hash=pinned)
    assert actual in str(refused.value) and pinned in str(refused.value)


def test_the_served_bundle_is_checked_against_the_hash_from_the_environment(
    bundle_copy: Path, small_bundle: Path
) -> None:
    wrong = "0" * 32 + ".dir"
    with environment(
        IMDB_SENTIMENT_MODEL=str(bundle_copy), IMDB_SENTIMENT_EXPECTED_BUNDLE_HASH=wrong
    ):
        with pytest.raises(BundleError, match=wrong):
            load_bundle(bundle_copy)
        # Another bundle (a challenger, the batch flow's input) is not the pinned one.
        assert load_bundle(small_bundle).version
    with environment(
        IMDB_SENTIMENT_MODEL=str(bundle_copy),
        IMDB_SENTIMENT_EXPECTED_BUNDLE_HASH=folder_md5(bundle_copy),
    ):
        assert load_bundle(bundle_copy).version


def test_locked_md5_reads_the_export_output_and_explains_a_missing_one(tmp_path: Path) -> None:
    lock = tmp_path / "dvc.lock"
    stages = {"export": {"outs": [{"path": "models/imdb-sentiment", "md5": "a" * 32 + ".dir"}]}}
    lock.write_text(yaml.safe_dump({"schema": "2.0", "stages": stages}))
    assert locked_md5(lock=lock) == "a" * 32 + ".dir"
    lock.write_text(yaml.safe_dump({"schema": "2.0", "stages": {}}))
    with pytest.raises(PinError, match="make pipeline"):
        locked_md5(lock=lock)


@pytest.mark.parametrize("uri", ["models:/imdb-sentiment@champion", "models:/x@candidate"])
def test_serving_refuses_a_registry_alias(uri: str) -> None:
    with environment(IMDB_SENTIMENT_MODEL=uri), pytest.raises(ValueError, match="pin a version"):
        Settings()
    with environment(IMDB_SENTIMENT_MODEL="models:/imdb-sentiment/7"):
        assert Settings().model == "models:/imdb-sentiment/7"


def test_serve_command_refuses_an_alias_before_starting() -> None:
    cli = Path(sys.executable).with_name("imdb-sentiment")
    done = subprocess.run(
        [str(cli), "serve", "--model", "models:/imdb-sentiment@champion", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "names a registry alias" in done.stderr and "Traceback" not in done.stderr
