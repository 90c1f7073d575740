"""The Elastic Beanstalk source bundle: what EB's Docker platform reads, at the zip's root."""

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from helpers.support import ROOT

from app.beanstalk import make_source_bundle
from app.fast_path import body_limits
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


def test_the_zip_checks_readiness_not_just_liveness(bundle: zipfile.ZipFile) -> None:
    config = yaml.safe_load(bundle.read(".ebextensions/healthcheck.config"))
    options = config["option_settings"]
    assert (
        options["aws:elasticbeanstalk:environment:process:default"]["HealthCheckPath"] == "/ready"
    )
    assert options["aws:elasticbeanstalk:application"]["Application Healthcheck URL"] == "/ready"


def test_only_nginx_on_the_docker_bridge_is_trusted_for_client_addresses(
    bundle: zipfile.ZipFile,
) -> None:
    config = yaml.safe_load(bundle.read(".ebextensions/proxy.config"))
    environment = config["option_settings"]["aws:elasticbeanstalk:application:environment"]
    assert environment["IMDB_SENTIMENT_FORWARDED_ALLOW_IPS"] == "172.17.0.1"


def _nginx_bytes(size: str) -> int:
    units = {"k": 1024, "m": 1024 * 1024}
    return int(size[:-1]) * units[size[-1]] if size[-1] in units else int(size)


def test_nginx_applies_each_routes_limit_just_above_the_services(bundle: zipfile.ZipFile) -> None:
    limits, default = body_limits(Settings())
    server = bundle.read(".platform/nginx/conf.d/elasticbeanstalk/limits.conf").decode()
    found = dict(
        re.findall(r"location = (\S+) \{\s*client_max_body_size (\w+);", server, re.MULTILINE)
    )
    assert set(found) == set(limits)
    overall = bundle.read(".platform/nginx/conf.d/body-size.conf").decode()
    found["*"] = re.search(r"^client_max_body_size (\w+);", overall, re.MULTILINE).group(1)
    for path, limit in [*limits.items(), ("*", default)]:
        # At least the service's limit (its 413 is the precise one), and less than 1 MiB above.
        assert limit <= _nginx_bytes(found[path]) < limit + 1024 * 1024, path
    # Each location passes requests on like EB's own "location /".
    assert server.count("proxy_pass http://docker;") == len(limits)
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in server


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
