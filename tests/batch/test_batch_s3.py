"""The batch flow against a real moto_server over loopback: s3:// in, out and model; flaky S3."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import s3fs
from batch_support import FlakyS3Proxy, list_keys, read_chunk, reviews_frame, upload_folder

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]
COLUMNS = ["id", "predicted_label", "probability_positive", "model_version"]


@pytest.fixture
def batch_env(monkeypatch: pytest.MonkeyPatch, small_bundle: Path) -> Path:
    monkeypatch.setenv("IMDB_SENTIMENT_MODEL", str(small_bundle))
    monkeypatch.setenv("IMDB_SENTIMENT_BATCH_WORKERS", "1")
    monkeypatch.setenv("IMDB_SENTIMENT_BATCH_RETRY_DELAY_SECONDS", "0.1")
    return small_bundle


@pytest.fixture
def fresh_s3fs():
    # fsspec (the bundle's loader, pandas) caches filesystems by arguments, not by environment:
    # start each test clean. The batch I/O's pyarrow clients are keyed by the AWS settings.
    s3fs.S3FileSystem.clear_instance_cache()
    yield
    s3fs.S3FileSystem.clear_instance_cache()


def test_s3_input_output_and_model_match_a_local_run(
    batch_env: Path,
    sample_pipeline: Path,
    moto_server: str,
    s3_bucket: str,
    fresh_s3fs: None,
    tmp_path: Path,
) -> None:
    import boto3

    from imdb_sentiment.batch.flow import batch_predict

    frame = reviews_frame(sample_pipeline / "data" / "split" / "test.parquet")
    local_input = tmp_path / "reviews.csv"
    frame.to_csv(local_input, index=False)
    client = boto3.client("s3", endpoint_url=moto_server)
    client.upload_file(str(local_input), s3_bucket, "in/reviews.csv")
    model_url = upload_folder(batch_env, s3_bucket, "models/imdb-sentiment", moto_server)

    summary = batch_predict(
        input=f"s3://{s3_bucket}/in/reviews.csv",
        output=f"s3://{s3_bucket}/out/scores.parquet",
        model=model_url,
        chunk_rows=16,
        write_csv=True,
    )
    batch_predict(input=str(local_input), output=str(tmp_path / "local"), chunk_rows=16)

    keys = list_keys(s3_bucket, moto_server)
    assert [k for k in keys if k.startswith("out/")] == [
        "out/",  # the empty folder marker pyarrow leaves when it deletes the staging prefix
        "out/scores.csv",
        "out/scores.parquet",
        "out/scores.rejects.parquet",
        "out/scores.report.html",
        "out/scores.report.json",
    ]  # and nothing left in the staging prefix
    remote = pd.read_parquet(f"s3://{s3_bucket}/out/scores.parquet")
    local = pd.read_parquet(tmp_path / "local" / "predictions.parquet")
    pd.testing.assert_frame_equal(remote[COLUMNS], local[COLUMNS])
    assert summary["counts"]["scored"] == len(frame)
    assert summary["files"]["report_json"] == f"s3://{s3_bucket}/out/scores.report.json"

    # One chunk: its part files are copied into place from staging as they are.
    batch_predict(input=f"s3://{s3_bucket}/in/reviews.csv", output=f"s3://{s3_bucket}/one/")
    assert [k for k in list_keys(s3_bucket, moto_server) if k.startswith("one/")] == [
        "one/",
        "one/predictions.parquet",
        "one/predictions.rejects.parquet",
        "one/predictions.report.html",
        "one/predictions.report.json",
    ]
    lone = pd.read_parquet(f"s3://{s3_bucket}/one/predictions.parquet")
    pd.testing.assert_frame_equal(lone[COLUMNS], local[COLUMNS])


def test_transient_s3_errors_are_retried_by_the_flow(
    batch_env: Path,
    sample_pipeline: Path,
    moto_server: str,
    s3_bucket: str,
    fresh_s3fs: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3

    from imdb_sentiment.batch.flow import batch_predict

    frame = reviews_frame(sample_pipeline / "data" / "split" / "test.parquet")
    source = tmp_path / "reviews.parquet"
    frame.to_parquet(source, row_group_size=16)  # several chunks, each retried on its own
    boto3.client("s3", endpoint_url=moto_server).upload_file(
        str(source), s3_bucket, "in/reviews.parquet"
    )
    # Let the task retries, not the S3 client's own (AWS_MAX_ATTEMPTS), deal with the errors.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")

    with FlakyS3Proxy(moto_server, "in/reviews.parquet", failures=2) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        monkeypatch.setenv("IMDB_SENTIMENT_BATCH_RETRIES", "0")
        with pytest.raises(OSError, match=r"SERVICE_UNAVAILABLE|ServiceUnavailable|503|injected"):
            batch_predict(
                input=f"s3://{s3_bucket}/in/reviews.parquet", output=str(tmp_path / "no-retry")
            )
        assert proxy.failed == 1
        assert not (tmp_path / "no-retry" / "predictions.parquet").exists()

        proxy.remaining = 2
        monkeypatch.setenv("IMDB_SENTIMENT_BATCH_RETRIES", "3")
        summary = batch_predict(
            input=f"s3://{s3_bucket}/in/reviews.parquet",
            output=f"s3://{s3_bucket}/out/",
            chunk_rows=16,
        )
        assert proxy.failed == 3
    assert summary["counts"]["scored"] == len(frame)
    scores = pd.read_parquet(
        f"s3://{s3_bucket}/out/predictions.parquet",
        storage_options={"client_kwargs": {"endpoint_url": moto_server}},
    )
    assert scores["id"].tolist() == frame["id"].tolist()


def test_a_parquet_chunk_read_from_s3_fetches_its_row_group_not_the_file(
    moto_server: str,
    s3_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import base64
    import os

    import boto3
    import pyarrow as pa
    import pyarrow.parquet as pq

    from imdb_sentiment.batch.plan import plan_input

    # 8 row groups of ~1 MB (random text does not compress), each chunk one row group.
    rows, per_group = 8 * 512, 512
    texts = [base64.b64encode(os.urandom(1500)).decode() for _ in range(rows)]
    source = tmp_path / "big.parquet"
    pq.write_table(pa.table({"review": texts}), source, row_group_size=per_group)
    boto3.client("s3", endpoint_url=moto_server).upload_file(
        str(source), s3_bucket, "in/big.parquet"
    )
    metadata = pq.ParquetFile(source).metadata
    group_bytes = metadata.row_group(3).column(0).total_compressed_size

    with FlakyS3Proxy(moto_server, "in/big.parquet", failures=0) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        plan = plan_input(f"s3://{s3_bucket}/in/big.parquet", per_group)
        proxy.gets = proxy.get_bytes = 0
        frame = read_chunk(plan.chunks[3])
    assert frame["review"].tolist() == texts[3 * per_group : 4 * per_group]
    # One ranged GET of that row group (the footer came with the plan), not the 8 MB file.
    assert (proxy.gets, proxy.get_bytes) == (1, group_bytes)


def test_put_in_place_on_s3_puts_small_files_straight_and_stages_large_ones(
    moto_server: str, s3_bucket: str
) -> None:
    """A report is one PutObject at its final key; data that pyarrow would send as a multipart
    upload (which it completes even after an error) goes through staging and a copy."""
    import os

    import boto3

    from imdb_sentiment.batch import storage

    small, large = b'{"rows": 3}', os.urandom(storage.SINGLE_PUT_BYTES)
    for name, data in (("small", small), ("large", large)):
        storage.put_in_place(
            data, f"s3://{s3_bucket}/staging/{name}", f"s3://{s3_bucket}/out/{name}"
        )
    client = boto3.client("s3", endpoint_url=moto_server)
    for name, data in (("small", small), ("large", large)):
        assert client.get_object(Bucket=s3_bucket, Key=f"out/{name}")["Body"].read() == data
    staged = [key for key in list_keys(s3_bucket, moto_server) if key.startswith("staging/")]
    assert staged == ["staging/large"]
