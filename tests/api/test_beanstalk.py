"""The Elastic Beanstalk source bundle: what EB's Docker platform reads, at the zip's root."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from support import ROOT

from app.beanstalk import make_source_bundle
from imdb_sentiment.settings import Settings

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/imdb-sentiment:3f2a9c1"


@pytest.fixture
def bundle(tmp_path: Path) -> zipfile.ZipFile:
    output = tmp_path / "eb.zip"
    subprocess.run(
        [sys.executable, str(make_source_bundle.__file__), "--image", IMAGE, "--output", output],
        check=True,
        cwd=ROOT,
    )
    return zipfile.ZipFile(output)


def test_the_template_references_the_image_by_a_placeholder() -> None:
    template = json.loads((make_source_bundle.SOURCE / "Dockerrun.aws.json").read_text())
    assert template["Image"]["Name"] == "${IMAGE_URI}"


def test_the_zip_points_eb_at_the_image_and_port(bundle: zipfile.ZipFile) -> None:
    names = set(bundle.namelist())
    assert "Dockerrun.aws.json" in names
    # With a Dockerfile or compose file in the bundle EB would build instead of pulling.
    assert not names & {"Dockerfile", "docker-compose.yml"}
    dockerrun = json.loads(bundle.read("Dockerrun.aws.json"))
    assert dockerrun["AWSEBDockerrunVersion"] == "1"
    assert dockerrun["Image"] == {"Name": IMAGE, "Update": "true"}
    assert dockerrun["Ports"] == [{"ContainerPort": 8000}]


def test_the_zip_configures_the_health_check(bundle: zipfile.ZipFile) -> None:
    config = yaml.safe_load(bundle.read(".ebextensions/healthcheck.config"))
    options = config["option_settings"]
    assert (
        options["aws:elasticbeanstalk:environment:process:default"]["HealthCheckPath"] == "/health"
    )
    assert options["aws:elasticbeanstalk:application"]["Application Healthcheck URL"] == "/health"


def test_nginx_lets_the_largest_valid_batch_through(bundle: zipfile.ZipFile) -> None:
    conf = bundle.read(".platform/nginx/conf.d/body-size.conf").decode()
    megabytes = int(conf.split("client_max_body_size")[1].split("M;")[0])
    settings = Settings()
    # The same bound the service applies (app.main.BodySizeLimit).
    from app.main import BYTES_PER_CHAR

    largest = settings.max_batch_size * settings.max_text_chars * BYTES_PER_CHAR + 65_536
    assert megabytes * 1024 * 1024 >= largest


def test_a_malformed_image_uri_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(make_source_bundle.__file__),
            "--image",
            "imdb sentiment",
            "--output",
            str(tmp_path / "eb.zip"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "is not an image URI" in result.stderr
    assert not (tmp_path / "eb.zip").exists()
