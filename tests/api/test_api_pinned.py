"""The service the deploy builds: it serves only the bundle dvc.lock pins, and /model says which
registry version that is (the image's environment, set by the deploy)."""

import subprocess
from pathlib import Path

import pytest
import requests
from helpers.api_server import running_server, serve_command
from helpers.support import free_port

from imdb_sentiment.integrity import folder_md5

pytestmark = pytest.mark.slow


def test_model_card_names_the_pinned_registry_version_and_bundle_hash(
    small_bundle: Path, tmp_path: Path
) -> None:
    pinned = folder_md5(small_bundle)
    with running_server(
        small_bundle,
        tmp_path / "server.log",
        IMDB_SENTIMENT_EXPECTED_BUNDLE_HASH=pinned,
        IMDB_SENTIMENT_MODEL_REGISTRY_VERSION="7",
    ) as base:
        card = requests.get(f"{base}/model", timeout=10).json()
    assert card["release"] == {"model_registry_version": "7", "bundle_dvc_md5": pinned}


def test_a_bundle_other_than_the_pinned_one_refuses_to_start(
    small_bundle: Path, tmp_path: Path
) -> None:
    wrong = "f" * 32 + ".dir"
    env = {
        "IMDB_SENTIMENT_MODEL": str(small_bundle),
        "IMDB_SENTIMENT_EXPECTED_BUNDLE_HASH": wrong,
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        serve_command(free_port()), env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert wrong in done.stderr and folder_md5(small_bundle) in done.stderr
