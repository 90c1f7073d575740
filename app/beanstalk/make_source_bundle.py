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
import string
import sys
import zipfile
from pathlib import Path

SOURCE = Path(__file__).parent / "source"
DOCKERRUN = "Dockerrun.aws.json"
# registry/repository[:tag|@digest], e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/imdb-sentiment:1a2b3c
IMAGE_URI = re.compile(
    r"^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[\w.-]{1,128}|@sha256:[0-9a-f]{64})$"
)


def build(image: str, output: Path) -> Path:
    if not IMAGE_URI.match(image):
        raise ValueError(f"{image!r} is not an image URI like registry/repository:tag")
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(SOURCE.rglob("*")):
            if not path.is_file():
                continue
            name = path.relative_to(SOURCE).as_posix()
            text = path.read_text()
            if name == DOCKERRUN:
                text = string.Template(text).substitute(IMAGE_URI=image)
            # Fixed timestamps: the same inputs give the same zip.
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            bundle.writestr(info, text)
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
