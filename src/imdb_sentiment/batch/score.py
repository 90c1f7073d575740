"""Scoring one chunk: check each batch of rows, score the texts, write the chunk's part files.

A chunk reports back only counts and profiles (:class:`ChunkSummary`), never the rows themselves:
its predictions and rejects go to part files in the run's staging folder.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from imdb_sentiment.batch import live, storage
from imdb_sentiment.batch.plan import ChunkSpec, Columns, InputError
from imdb_sentiment.batch.read import iter_chunk
from imdb_sentiment.batch.rows import REJECT_REASONS, reject_reasons, row_ids, true_labels
from imdb_sentiment.bundle import SentimentModel
from imdb_sentiment.profile import build_profile

PREDICTION_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("predicted_label", pa.string()),
        ("probability_positive", pa.float64()),
        ("model_version", pa.string()),
        ("scored_at", pa.timestamp("us", tz="UTC")),
    ]
)
REJECT_SCHEMA = pa.schema([("row", pa.int64()), ("id", pa.string()), ("reason", pa.string())])
PART_KINDS = ("predictions", "rejects")


@dataclass
class ChunkSummary:
    """What a chunk task reports back: counts and profiles, never the rows themselves."""

    index: int
    rows: int
    scored: int
    rejected: dict[str, int]
    # (profile, weights) of each batch that had rows to profile; merged once by the flow.
    profiles: list[tuple[dict[str, Any], dict[str, int]]]
    confusion: list[list[int]] | None
    labels_unrecognized: int
    seconds: float
    model_version: str = ""
    parts: dict[str, str] = field(default_factory=dict)
    # Rows of each part file, from the footer its writer wrote.
    part_rows: dict[str, int] = field(default_factory=dict)
    # A feedback export's counts per model version (see :mod:`.live`); None for other inputs.
    feedback: live.Tally | None = None


@dataclass
class _StartedBatch:
    """A batch whose texts are being scored, with what its scores will be combined with."""

    rows: np.ndarray  # input row numbers
    reasons: np.ndarray
    ok: np.ndarray
    ids: np.ndarray
    texts: list[str]
    truth: np.ndarray | None  # 0/1, -1 where unknown; scorable rows only
    labels_unrecognized: int
    scores: Callable[[], tuple[np.ndarray, np.ndarray]]
    feedback: live.Tally | None = None  # feedback exports only, with each scorable row's version
    versions: np.ndarray | None = None


@dataclass
class _ScoredBatch:
    """One batch of a chunk, scored: its rows for the part files and its tallies."""

    predictions: pa.Table
    rejects: pa.Table
    rejected: dict[str, int]
    profile: tuple[dict[str, Any], dict[str, int]] | None
    confusion: np.ndarray | None
    labels_unrecognized: int
    feedback: live.Tally | None = None


def score_chunk(
    spec: ChunkSpec,
    model_for_chunk: Callable[[], SentimentModel],
    outputs: storage.OutputPaths,
    scored_at: datetime,
) -> ChunkSummary:
    """Score every row of ``spec`` and write its part files; ``model_for_chunk`` is asked for
    the model once the first batch is read, so the first chunks are read while it loads."""
    started = time.perf_counter()
    model = None
    batches = []
    scoring = None  # the batch the scoring processes are working on
    for frame in iter_chunk(spec):
        model = model or model_for_chunk()
        # Hand this batch over before finishing the previous one: the scoring processes always
        # have work while this thread decodes, checks and writes.
        started_batch = _start_batch(frame, model, spec.columns)
        if scoring is not None:
            batches.append(_finish_batch(scoring, model, scored_at))
        scoring = started_batch
    if model is None or scoring is None:
        raise InputError(f"{spec.url}: chunk {spec.index} has no rows")
    batches.append(_finish_batch(scoring, model, scored_at))
    parts = {kind: outputs.part(kind, spec.index) for kind in PART_KINDS}
    tables = {
        "predictions": pa.concat_tables([b.predictions for b in batches]),
        "rejects": pa.concat_tables([b.rejects for b in batches]),
    }
    with ThreadPoolExecutor(len(tables), thread_name_prefix="write-part") as writers:
        writing = {
            kind: writers.submit(storage.write_table, tables[kind], parts[kind]) for kind in parts
        }
        part_rows = {kind: future.result() for kind, future in writing.items()}
    confusions = [b.confusion for b in batches if b.confusion is not None]
    return ChunkSummary(
        index=spec.index,
        rows=spec.rows,
        scored=sum(b.predictions.num_rows for b in batches),
        rejected={r: sum(b.rejected[r] for b in batches) for r in REJECT_REASONS},
        profiles=[b.profile for b in batches if b.profile is not None],
        confusion=np.sum(confusions, axis=0).tolist() if confusions else None,
        labels_unrecognized=sum(b.labels_unrecognized for b in batches),
        seconds=time.perf_counter() - started,
        model_version=model.version,
        parts=parts,
        part_rows=part_rows,
        feedback=live.merge(b.feedback for b in batches if b.feedback is not None)
        if spec.columns.shown
        else None,
    )


def _start_batch(frame: pd.DataFrame, model: SentimentModel, columns: Columns) -> _StartedBatch:
    """Check one batch of rows and start scoring the ones that can be scored."""
    reasons = reject_reasons(frame[columns.text])
    ok = pd.isna(reasons)
    texts = frame[columns.text].to_numpy(object)[ok].tolist()
    truth, unrecognized, tally, versions = None, 0, None, None
    if columns.label is not None:
        truth, unrecognized = true_labels(frame[columns.label])
        if columns.shown is not None and columns.version is not None:
            versions = frame[columns.version].to_numpy(object)
            tally = live.tally_shown(versions, truth, true_labels(frame[columns.shown])[0])
            versions = versions[ok]
        truth = truth[ok]
    return _StartedBatch(
        rows=frame.index.to_numpy(),
        reasons=reasons,
        ok=ok,
        ids=row_ids(frame, columns.id),
        texts=texts,
        truth=truth,
        labels_unrecognized=unrecognized,
        feedback=tally,
        versions=versions,
        # One pass over the text gives both: the OOV rate costs nothing extra.
        scores=model.start_proba_and_oov_rates(texts),
    )


def _finish_batch(batch: _StartedBatch, model: SentimentModel, scored_at: datetime) -> _ScoredBatch:
    """Wait for a batch's scores: its predictions and rejects tables, its profile and tallies."""
    probabilities, oov = batch.scores()
    texts, ok = batch.texts, batch.ok

    reference = model.manifest.get("reference_profile")
    profile = None
    if reference and texts:
        weights = dict.fromkeys(("rows", "text_length", "score", "oov_rate"), len(texts))
        built = build_profile(texts, probabilities, oov, model.threshold, reference=reference)
        profile = (built, weights)

    confusion = None
    if batch.truth is not None:
        known = batch.truth >= 0
        guess = (probabilities >= model.threshold).astype(np.int64)
        confusion = np.bincount(batch.truth[known] * 2 + guess[known], minlength=4).reshape(2, 2)
        if batch.feedback is not None and batch.versions is not None:
            live.tally_batch(batch.feedback, batch.versions, batch.truth, guess)

    utc = np.datetime64(scored_at.astimezone(UTC).replace(tzinfo=None), "us")
    predictions = pa.table(
        {
            "id": pa.array(batch.ids[ok].tolist(), pa.string()),
            "predicted_label": pa.array(model.labels_for(probabilities), pa.string()),
            "probability_positive": pa.array(probabilities, pa.float64()),
            "model_version": pa.array([model.version] * len(texts), pa.string()),
            "scored_at": pa.array(np.full(len(texts), utc), pa.timestamp("us", tz="UTC")),
        },
        schema=PREDICTION_SCHEMA,
    )
    rejects = pa.table(
        {
            "row": pa.array(batch.rows[~ok], pa.int64()),
            "id": pa.array(batch.ids[~ok].tolist(), pa.string()),
            "reason": pa.array(batch.reasons[~ok].tolist(), pa.string()),
        },
        schema=REJECT_SCHEMA,
    )
    return _ScoredBatch(
        predictions=predictions,
        rejects=rejects,
        rejected={r: int(np.count_nonzero(batch.reasons == r)) for r in REJECT_REASONS},
        profile=profile,
        confusion=confusion,
        labels_unrecognized=batch.labels_unrecognized,
        feedback=batch.feedback,
    )
