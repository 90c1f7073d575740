"""The same loader reads a bundle from S3 (a real moto_server over loopback) as from disk."""

from __future__ import annotations

from pathlib import Path

import boto3
import numpy as np
import pytest

from imdb_sentiment.bundle import BundleError, load_bundle


def _upload(folder: Path, bucket: str, prefix: str, endpoint: str) -> str:
    client = boto3.client("s3", endpoint_url=endpoint)
    for path in folder.iterdir():
        client.upload_file(str(path), bucket, f"{prefix}/{path.name}")
    return f"s3://{bucket}/{prefix}"


@pytest.mark.slow
def test_bundle_loads_from_s3_like_from_disk(
    small_bundle: Path, moto_server: str, s3_bucket: str
) -> None:
    url = _upload(small_bundle, s3_bucket, "models/imdb-sentiment", moto_server)
    texts = ["a wonderful film", "a dreadful film"]
    remote, local = load_bundle(url), load_bundle(small_bundle)
    assert remote.version == local.version
    np.testing.assert_array_equal(remote.predict_proba(texts), local.predict_proba(texts))


@pytest.mark.slow
def test_tampered_s3_bundle_is_refused(
    small_bundle: Path, moto_server: str, s3_bucket: str
) -> None:
    url = _upload(small_bundle, s3_bucket, "bundle", moto_server)
    boto3.client("s3", endpoint_url=moto_server).put_object(
        Bucket=s3_bucket, Key="bundle/classifier.coef.npy", Body=b"not the weights"
    )
    with pytest.raises(BundleError, match="does not match the sha256"):
        load_bundle(url)
