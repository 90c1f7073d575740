"""The API over a real uvicorn process: answers match the bundle scored in-process."""

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from imdb_sentiment.bundle import load_bundle

pytestmark = pytest.mark.slow

REVIEWS = [
    "A wonderful film: the acting is superb and the story kept me gripped to the end.",
    "Dull, far too long and the plot makes no sense. The worst film I have seen this year.",
    "It was fine. Some good moments, some boring ones.",
    "<br />Great cast,<br /><br />terrible script!",
    "Ça m'a plu — 10/10 ★★★",
]


@pytest.fixture(scope="module")
def model(small_bundle: Path):
    return load_bundle(small_bundle)


def test_health_ready_and_model_card(api_server: str, small_bundle: Path) -> None:
    manifest = json.loads((small_bundle / "manifest.json").read_text())
    assert requests.get(f"{api_server}/health", timeout=10).json() == {"status": "ok"}
    ready = requests.get(f"{api_server}/ready", timeout=10)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "model_version": manifest["version"]}
    card = requests.get(f"{api_server}/model", timeout=10).json()
    assert card.pop("source") == str(small_bundle)
    assert card.pop("release") == {"model_registry_version": None, "bundle_dvc_md5": None}
    assert card.pop("challenger") is None  # no challenger configured: no shadow scoring
    assert card == manifest


def test_predict_matches_the_bundle_scored_in_process(api_server: str, model) -> None:
    expected = model.predict_proba(REVIEWS)
    for text, probability in zip(REVIEWS, expected, strict=True):
        answer = requests.post(f"{api_server}/predict", json={"text": text}, timeout=10)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["probability_positive"] == pytest.approx(probability, abs=1e-12)
        assert body["label"] == model.labels_for([probability])[0]
        assert body["model_version"] == model.version
        assert body["explanation"] is None


def test_explain_returns_the_strongest_ngrams_each_way(api_server: str, model) -> None:
    text = REVIEWS[3]
    body = requests.post(
        f"{api_server}/predict", params={"explain": "true"}, json={"text": text}, timeout=10
    ).json()
    expected = model.explain(text, top_k=10)
    explanation = body["explanation"]
    assert body["probability_positive"] == pytest.approx(expected.probability, abs=1e-12)
    assert explanation["positive"] == [vars(item) for item in expected.positive]
    assert explanation["negative"] == [vars(item) for item in expected.negative]
    assert explanation["positive"] or explanation["negative"]
    positive = [item["weight"] for item in explanation["positive"]]
    negative = [item["weight"] for item in explanation["negative"]]
    assert all(weight > 0 for weight in positive) and positive == sorted(positive, reverse=True)
    assert all(weight < 0 for weight in negative) and negative == sorted(negative)
    # Features are what the model sees: the lowercased tokens of the text, no HTML, and only
    # n-grams (the length feature is not listed).
    words = set(model.pipeline[0].build_tokenizer()(text.lower())) - {"br"}
    for item in explanation["positive"] + explanation["negative"]:
        assert set(item["feature"].split()) <= words


def test_batch_keeps_order_and_matches_single_predictions(api_server: str, model) -> None:
    texts = REVIEWS * 3
    answer = requests.post(f"{api_server}/predict/batch", json={"texts": texts}, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_version"] == model.version
    got = [item["probability_positive"] for item in body["predictions"]]
    assert got == pytest.approx(model.predict_proba(texts).tolist(), abs=1e-12)
    explained = requests.post(
        f"{api_server}/predict/batch",
        params={"explain": "true"},
        json={"texts": texts[:2]},
        timeout=30,
    ).json()
    assert [item["explanation"] is not None for item in explained["predictions"]] == [True, True]


def test_parallel_requests_give_the_sequential_answers(api_server: str) -> None:
    texts = [f"{review} (copy {number})" for number in range(12) for review in REVIEWS]

    def ask(text: str) -> dict:
        answer = requests.post(f"{api_server}/predict", json={"text": text}, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

    sequential = [ask(text) for text in texts]
    with ThreadPoolExecutor(max_workers=32) as pool:
        parallel = list(pool.map(ask, texts))
    assert parallel == sequential
    with ThreadPoolExecutor(max_workers=8) as pool:
        batches = list(
            pool.map(
                lambda chunk: requests.post(
                    f"{api_server}/predict/batch", json={"texts": chunk}, timeout=30
                ).json()["predictions"],
                [texts[start : start + 10] for start in range(0, len(texts), 10)],
            )
        )
    assert [item for batch in batches for item in batch] == sequential


def _samples(metrics_text: str, name: str) -> dict[str, float]:
    pattern = re.compile(rf"^{name}\{{(.*)\}} (\S+)$", re.MULTILINE)
    return {labels: float(value) for labels, value in pattern.findall(metrics_text)}


def test_metrics_count_requests_latencies_and_labels(api_server: str, model) -> None:
    def scrape() -> str:
        answer = requests.get(f"{api_server}/metrics", timeout=10)
        assert answer.headers["content-type"].startswith("text/plain")
        return answer.text

    before = scrape()
    texts = REVIEWS[:2]
    labels = model.predict(texts)
    requests.post(f"{api_server}/predict/batch", json={"texts": texts}, timeout=10)
    requests.post(f"{api_server}/predict", json={"text": " "}, timeout=10)
    requests.post(f"{api_server}/predict", json={"text": texts[0]}, timeout=10)
    after = scrape()

    def delta(name: str, labels_text: str) -> float:
        return _samples(after, name).get(labels_text, 0) - _samples(before, name).get(
            labels_text, 0
        )

    requests_total = "imdb_sentiment_http_requests_total"
    assert delta(requests_total, 'method="POST",route="/predict/batch",status="200"') == 1
    assert delta(requests_total, 'method="POST",route="/predict",status="422"') == 1
    # Answered by the fast path (see the next test), counted like any other request.
    assert delta(requests_total, 'method="POST",route="/predict",status="200"') == 1
    labels.append(labels[0])
    for label in ("positive", "negative"):
        assert delta("imdb_sentiment_predictions_total", f'label="{label}"') == labels.count(label)
    # The lone single request went through the micro-batcher as a group of one.
    assert delta("imdb_sentiment_microbatch_size_bucket", 'le="1.0"') == 1
    histogram = "imdb_sentiment_http_request_duration_seconds_count"
    assert delta(histogram, 'method="POST",route="/predict/batch"') == 1
    info = f'name="{model.name}",version="{model.version}"'
    assert _samples(after, "imdb_sentiment_model_info")[info] == 1


def test_the_fast_path_answers_exactly_as_the_route(api_server: str) -> None:
    """Plain well-formed requests skip FastAPI (app.fast_path); a query string sends the same
    request through the FastAPI route. Both must give the same status, headers and body."""
    url = f"{api_server}/predict"
    for text in REVIEWS:
        body = json.dumps({"text": text}).encode()
        fast = requests.post(
            url, data=body, headers={"Content-Type": "application/json"}, timeout=10
        )
        routed = requests.post(
            url,
            params={"explain": "false"},
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert fast.status_code == routed.status_code == 200
        assert fast.content == routed.content
        assert fast.headers["content-type"] == routed.headers["content-type"]
        assert fast.headers["content-length"] == routed.headers["content-length"]
    variants = [
        {"Content-Type": "application/json; charset=utf-8"},
        {"Content-Type": "Application/JSON"},
    ]
    expected = requests.post(url, json={"text": REVIEWS[0]}, timeout=10).json()
    for headers in variants:
        answer = requests.post(
            url, data=json.dumps({"text": REVIEWS[0]}), headers=headers, timeout=10
        )
        assert answer.status_code == 200, (headers, answer.text)
        assert answer.json() == expected
    # A body streamed in chunks (no Content-Length) is read whole.
    chunks = iter([b'{"text": "', REVIEWS[0].encode(), b'"}'])
    answer = requests.post(
        url, data=chunks, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == expected


def test_openapi_documents_the_limits_and_examples(api_server: str) -> None:
    schema = requests.get(f"{api_server}/openapi.json", timeout=10).json()
    components = schema["components"]["schemas"]
    text = components["PredictRequest"]["properties"]["text"]
    assert (text["minLength"], text["maxLength"]) == (1, 20_000)
    visible = re.compile(text["pattern"])
    assert visible.search("a") and visible.search(" 10/10 ")
    assert not visible.search(" \t\n\u0085\u00a0\u2003\ufeff")
    assert components["BatchPredictRequest"]["properties"]["texts"]["maxItems"] == 256
    assert components["PredictRequest"]["examples"]
    docs = requests.get(f"{api_server}/docs", timeout=10)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
