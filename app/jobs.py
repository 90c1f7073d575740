"""The work a scoring process does, and the plain-bytes messages that carry it.

A job is a kind byte and a payload; its answer is a kind byte and a payload. No pickle crosses:
texts travel as lengths plus UTF-8 bytes, scores as float64 bytes, everything else as JSON.

- ``SCORE``: texts -> probabilities (the micro-batches of single reviews).
- ``PING``: an empty answer, so ``/ready`` knows the process still answers.
- ``BATCH``: the raw body of ``POST /predict/batch`` -> the whole HTTP answer (status and JSON).
  Parsing, validating, scoring and explaining all happen here, in the scoring process, so a
  large or hostile batch costs the server's event loop only the copy of its bytes.
- ``EXPLAIN``: one text -> the ``/predict?explain=true`` answer.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from imdb_sentiment.bundle import SentimentModel

SCORE, PING, BATCH, EXPLAIN = b"S", b"P", b"B", b"E"
# Answers: scores, a JSON answer (status, label counts, body), a pong, a failure.
SCORES, JSON_ANSWER, PONG, FAILURE = b"S", b"J", b"P", b"F"
LENGTH = struct.Struct("!Q")
_JSON_HEAD = struct.Struct("!HII")  # status, positive count, negative count


@dataclass(frozen=True)
class JobAnswer:
    status: int
    body: bytes
    labels: dict[str, int]


def encode_texts(texts: Sequence[str]) -> bytes:
    """Texts as their count, their UTF-8 byte lengths and their bytes (plain data, no pickle)."""
    encoded = [text.encode("utf-8", "surrogatepass") for text in texts]
    lengths = np.fromiter(map(len, encoded), dtype=np.uint32, count=len(encoded))
    return LENGTH.pack(len(encoded)) + lengths.tobytes() + b"".join(encoded)


def decode_texts(payload: bytes) -> list[str]:
    (count,) = LENGTH.unpack_from(payload)
    ends = np.cumsum(np.frombuffer(payload, np.uint32, count, LENGTH.size), dtype=np.int64)
    data = memoryview(payload)[LENGTH.size + 4 * count :]
    bounds = [0, *ends.tolist()]
    return [str(data[start:end], "utf-8", "surrogatepass") for start, end in pairwise(bounds)]


def dumps(content: Any) -> bytes:
    """The service's JSON: compact, UTF-8, no NaN (the fast path and the jobs share it)."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def decode_answer(data: bytes) -> np.ndarray | JobAnswer | None:
    """A scoring process's answer; a failure raises ``RuntimeError`` with its message."""
    kind = data[:1]
    if kind == SCORES:
        return np.frombuffer(data, dtype=np.float64, offset=1)
    if kind == JSON_ANSWER:
        status, positive, negative = _JSON_HEAD.unpack_from(data, 1)
        body = data[1 + _JSON_HEAD.size :]
        return JobAnswer(status, body, {"positive": positive, "negative": negative})
    if kind == PONG:
        return None
    raise RuntimeError(data[1:].decode(errors="replace"))


class Jobs:
    """What a scoring process can do with the model (also run in-process when asked)."""

    def __init__(self, model: SentimentModel, batch_request: type[BaseModel], top_k: int) -> None:
        self.model = model
        self.batch_request = batch_request
        self.top_k = top_k

    def answer(self, kind: bytes, payload: bytes) -> bytes:
        try:
            if kind == SCORE:
                scores = self.model.predict_proba(decode_texts(payload))
                return SCORES + scores.astype(np.float64).tobytes()
            if kind == PING:
                return PONG
            if kind == BATCH:
                return self._json(*self.batch(payload[1:], explain=payload[:1] == b"1"))
            if kind == EXPLAIN:
                (prediction,) = self.predictions(decode_texts(payload), explain=True)
                return self._json(200, prediction)
            raise ValueError(f"unknown job kind {kind!r}")
        except Exception as error:  # the server turns it into a 500
            return FAILURE + f"{type(error).__name__}: {error}".encode()

    def batch(self, body: bytes, explain: bool) -> tuple[int, Any]:
        """The answer to a batch body, exactly as FastAPI's route would give it."""
        try:
            content = json.loads(body)
        except json.JSONDecodeError as error:
            return 400, {
                "detail": f"the body is not valid JSON: {error.msg} at character {error.pos}"
            }
        except UnicodeDecodeError as error:
            return 400, {"detail": f"the body is not valid JSON: {error.reason}"}
        try:
            request = self.batch_request.model_validate(content)
        except ValidationError as error:
            return 422, {"detail": validation_details(error.errors(), prefix=("body",))}
        predictions = self.predictions(request.texts, explain)
        return 200, {"model_version": self.model.version, "predictions": predictions}

    def predictions(self, texts: Sequence[str], explain: bool) -> list[dict[str, Any]]:
        if explain:
            explanations = [self.model.explain(text, top_k=self.top_k) for text in texts]
            probabilities = [item.probability for item in explanations]
        else:
            explanations = [None] * len(texts)
            probabilities = self.model.predict_proba(texts).tolist()
        labels = self.model.labels_for(probabilities)
        return [
            {
                "label": label,
                "probability_positive": probability,
                "model_version": self.model.version,
                "explanation": None
                if explanation is None
                else {
                    "positive": [vars(item) for item in explanation.positive],
                    "negative": [vars(item) for item in explanation.negative],
                },
            }
            for label, probability, explanation in zip(
                labels, probabilities, explanations, strict=True
            )
        ]

    @staticmethod
    def _json(status: int, content: Any) -> bytes:
        predictions = content.get("predictions", [content]) if status == 200 else []
        positive = sum(1 for item in predictions if item["label"] == "positive")
        head = _JSON_HEAD.pack(status, positive, len(predictions) - positive)
        return JSON_ANSWER + head + dumps(content)


def validation_details(
    problems: Sequence[Any], prefix: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Pydantic's errors as the service reports them: where, what, which kind."""
    return [
        {
            "loc": [*prefix, *problem["loc"]],
            "msg": problem["msg"],
            "type": problem["type"],
        }
        for problem in problems
    ]
