"""Assemble the Elastic Beanstalk source bundle: a zip that points EB's Docker platform at an image.

    python app/beanstalk/make_source_bundle.py \
        --image <account>.dkr.ecr.<region>.amazonaws.com/imdb-sentiment:<tag>

The zip holds ``Dockerrun.aws.json`` (image and container port 8000), ``.ebextensions/`` (health
check on /ready, the trusted proxy address) and ``.platform/`` (nginx body limits per route) at
its root, where EB looks for them. The image is built from the repo's Dockerfile and pushed to
ECR beforehand; EB only pulls it.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from imdb_sentiment.deploy import source_bundle

SOURCE = Path(__file__).parent / "source"
# registry/repository[:tag|@digest], e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/imdb-sentiment:1a2b3c
IMAGE_URI = re.compile(
    r"^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[\w.-]{1,128}|@sha256:[0-9a-f]{64})$"
)


def build(image: str, output: Path) -> Path:
    if not IMAGE_URI.match(image):
        raise ValueError(f"{image!r} is not an image URI like registry/repository:tag")
    output.parent.mkdir(parents=True, exist_ok=True)
    # The deploy command builds the same zip (fixed dates: the same inputs give the same bytes).
    output.write_bytes(source_bundle(image, SOURCE))
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True, help="image URI in ECR, with a tag or digest")
    parser.add_argument("--output", type=Path, default=Path("dist/eb-source-bundle.zip"))
    args = parser.parse_args(argv)
    try:
        print(build(args.image, args.output))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
