"""Inputs and readers the batch tests share."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def reviews_frame(split_file: Path, rows: int | None = None) -> pd.DataFrame:
    """A Kaggle-style table (id, review, sentiment) from a split of the sample pipeline."""
    split = pd.read_parquet(split_file)
    frame = pd.DataFrame(
        {
            "id": split["review_id"],
            "review": split["text"],
            "sentiment": split["label"].map({0: "negative", 1: "positive"}),
        }
    )
    if rows is not None:
        frame = pd.concat([frame] * (rows // len(frame) + 1), ignore_index=True).head(rows)
        frame["id"] = [f"r{i}" for i in range(rows)]
    return frame


def read_outputs(folder: Path, stem: str = "predictions") -> dict[str, object]:
    import json

    return {
        "predictions": pd.read_parquet(folder / f"{stem}.parquet"),
        "rejects": pd.read_parquet(folder / f"{stem}.rejects.parquet"),
        "report": json.loads((folder / f"{stem}.report.json").read_text()),
    }


class FlakyS3Proxy:
    """A loopback HTTP proxy in front of moto that answers the first ``failures`` GETs of any
    path containing ``match`` with 503 ServiceUnavailable, as S3 does under load. It counts the
    GETs of such paths it forwards and the body bytes they return."""

    def __init__(self, upstream: str, match: str, failures: int) -> None:
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlsplit

        target = urlsplit(upstream)
        proxy = self
        self.match, self.remaining, self.failed = match, failures, 0
        self.gets = self.get_bytes = 0
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    return self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = b""  # pyarrow's S3 client streams uploads in HTTP chunks
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    body += self.rfile.read(size)
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return body

            def _forward(self) -> None:
                body = self._body()
                if self.command == "GET" and proxy.match in self.path and proxy._take():
                    payload = (
                        b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>ServiceUnavailable"
                        b"</Code><Message>injected by the test proxy</Message></Error>"
                    )
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("expect", "transfer-encoding", "content-length")
                }
                headers["Content-Length"] = str(len(body))
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                if self.command == "GET" and proxy.match in self.path:
                    with proxy._lock:
                        proxy.gets += 1
                        proxy.get_bytes += len(data)
                self.send_response(response.status, response.reason)
                length = str(len(data))
                for key, value in response.getheaders():
                    if key.lower() == "content-length" and self.command == "HEAD":
                        length = value  # a HEAD answer tells the size of what a GET would send
                    elif key.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", length)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                connection.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _take(self) -> bool:
        with self._lock:
            if self.remaining <= 0:
                return False
            self.remaining -= 1
            self.failed += 1
            return True

    def __enter__(self) -> FlakyS3Proxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def upload_folder(folder: Path, bucket: str, prefix: str, endpoint: str) -> str:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint)
    for path in folder.iterdir():
        client.upload_file(str(path), bucket, f"{prefix}/{path.name}")
    return f"s3://{bucket}/{prefix}"


def list_keys(bucket: str, endpoint: str) -> list[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def read_chunk(spec: object) -> pd.DataFrame:
    """A whole chunk as one frame: its batches, concatenated."""
    from imdb_sentiment.batch.read import iter_chunk

    return pd.concat(iter_chunk(spec))
