"""Every kind of bad request gets a 4xx that says what is wrong, never a 5xx."""

import json

import pytest
import requests
from helpers.api_server import SMALL_LIMITS

from app.fast_path import body_limits
from imdb_sentiment.settings import Settings

pytestmark = pytest.mark.slow

MAX_CHARS = int(SMALL_LIMITS["IMDB_SENTIMENT_MAX_TEXT_CHARS"])
MAX_BATCH = int(SMALL_LIMITS["IMDB_SENTIMENT_MAX_BATCH_SIZE"])
JSON = {"Content-Type": "application/json"}


def _messages(body: dict) -> str:
    detail = body["detail"]
    return detail if isinstance(detail, str) else " | ".join(item["msg"] for item in detail)


@pytest.mark.parametrize(
    ("path", "payload", "status", "message"),
    [
        ("/predict", {"text": ""}, 422, "at least 1 character"),
        ("/predict", {"text": " \n\t "}, 422, "empty or only whitespace"),
        ("/predict", {"text": "\u0085\u00a0\u3000\ufeff"}, 422, "empty or only whitespace"),
        ("/predict", {"text": "x" * (MAX_CHARS + 1)}, 422, f"at most {MAX_CHARS} characters"),
        ("/predict", {"text": 42}, 422, "valid string"),
        ("/predict", {"text": None}, 422, "valid string"),
        ("/predict", {"text": ["a review"]}, 422, "valid string"),
        ("/predict", {}, 422, "Field required"),
        ("/predict", {"text": "fine", "extra": 1}, 422, "Extra inputs are not permitted"),
        ("/predict", ["a review"], 422, "valid dictionary"),
        ("/predict/batch", {"texts": []}, 422, "at least 1 item"),
        ("/predict/batch", {"texts": ["ok"] * (MAX_BATCH + 1)}, 422, f"at most {MAX_BATCH}"),
        ("/predict/batch", {"texts": ["ok", 3]}, 422, "valid string"),
        ("/predict/batch", {"texts": ["ok", "   "]}, 422, "empty or only whitespace"),
        ("/predict/batch", {"texts": "not a list"}, 422, "valid list"),
    ],
)
def test_invalid_json_bodies(
    limited_server: str, path: str, payload: object, status: int, message: str
) -> None:
    answer = requests.post(f"{limited_server}{path}", json=payload, timeout=10)
    assert answer.status_code == status, answer.text
    assert message in _messages(answer.json())


def test_the_error_points_at_the_bad_item(limited_server: str) -> None:
    answer = requests.post(
        f"{limited_server}/predict/batch", json={"texts": ["ok", "ok", 7]}, timeout=10
    )
    assert answer.json()["detail"][0]["loc"] == ["body", "texts", 2]


def test_a_text_at_the_limit_is_accepted(limited_server: str) -> None:
    answer = requests.post(f"{limited_server}/predict", json={"text": "a" * MAX_CHARS}, timeout=10)
    assert answer.status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"text": "unterminated', "not valid JSON"),
        ("{'text': 'single quotes'}", "not valid JSON"),
        ('{"text": "a"} trailing', "not valid JSON"),
        ("", "the body is empty"),
    ],
)
def test_malformed_json_is_a_400(limited_server: str, body: str, message: str) -> None:
    answer = requests.post(f"{limited_server}/predict", data=body, headers=JSON, timeout=10)
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["detail"]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None]
)
def test_a_body_that_is_not_declared_json_is_a_415(
    limited_server: str, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = requests.post(
        f"{limited_server}/predict",
        data=json.dumps({"text": "a fine film"}).encode(),
        headers=headers,
        timeout=10,
    )
    assert answer.status_code == 415, answer.text
    assert "Content-Type: application/json" in answer.json()["detail"]


def test_each_route_refuses_bodies_over_its_own_limit_with_a_413(limited_server: str) -> None:
    limits, _ = body_limits(Settings(max_text_chars=MAX_CHARS, max_batch_size=MAX_BATCH))
    # /predict: the largest valid single request plus a little; a batch-sized body is too big.
    batch_sized = json.dumps({"text": "x" * limits["/predict"]}).encode()
    single = requests.post(f"{limited_server}/predict", data=batch_sized, headers=JSON, timeout=30)
    assert single.status_code == 413
    assert f"larger than {limits['/predict']} bytes" in single.json()["detail"]
    # The same body is within the batch route's own limit: its problem is the schema.
    texts = {"texts": ["x" * (limits["/predict"] // 2)]}
    assert (
        requests.post(f"{limited_server}/predict/batch", json=texts, timeout=30).status_code == 422
    )
    oversized = json.dumps(
        {"texts": ["x" * MAX_CHARS] * (2 * limits["/predict/batch"] // MAX_CHARS)}
    ).encode()
    declared = requests.post(
        f"{limited_server}/predict/batch", data=oversized, headers=JSON, timeout=30
    )
    assert declared.status_code == 413
    assert "larger than" in declared.json()["detail"]
    assert declared.headers["x-content-type-options"] == "nosniff"
    # Chunked transfer has no Content-Length: the body is cut off at the limit.
    chunks = (oversized[start : start + 8192] for start in range(0, len(oversized), 8192))
    streamed = requests.post(
        f"{limited_server}/predict/batch", data=chunks, headers=JSON, timeout=30
    )
    assert streamed.status_code == 413


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/predict", 405), ("PUT", "/predict/batch", 405), ("GET", "/nowhere", 404)],
)
def test_wrong_methods_and_paths(limited_server: str, method: str, path: str, status: int) -> None:
    answer = requests.request(method, f"{limited_server}{path}", timeout=10)
    assert answer.status_code == status


def test_bad_query_parameter(limited_server: str) -> None:
    answer = requests.post(
        f"{limited_server}/predict", params={"explain": "perhaps"}, json={"text": "ok"}, timeout=10
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "explain"]


def test_the_service_keeps_serving_after_bad_input(limited_server: str) -> None:
    answer = requests.post(f"{limited_server}/predict", json={"text": "a good film"}, timeout=10)
    assert answer.status_code == 200
    metrics = requests.get(f"{limited_server}/metrics", timeout=10).text
    assert 'status="500"' not in metrics
