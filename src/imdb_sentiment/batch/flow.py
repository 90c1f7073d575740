"""The Prefect batch flow: score a CSV/Parquet file (local or s3://) with the exported bundle.

    plan_input ─► score_chunk × N ─► publish

(chunks in threads that score on forked processes, one per core; or on a Dask cluster)

* ``plan_input`` checks the input and cuts it into chunks; a missing file or text column fails the
  run at once. ``score_chunk`` reads its own chunk, scores it with the bundle (loaded once per
  process) and writes a part file to a staging folder; it returns only counts and a profile.
* ``publish`` streams the parts into the final Parquet/CSV files and the rejects file, still in
  staging, then puts them all in place with the reports, the JSON report last. An interrupted
  run leaves only its subfolder of the hidden staging folder, which the next run to finish
  removes.
* I/O tasks retry transient errors with exponential backoff; bad input or a bad bundle does not.

Serving code: this module never imports :mod:`imdb_sentiment.pipeline`.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import Completed
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from imdb_sentiment.batch import io
from imdb_sentiment.batch.report import drift_section, label_metrics, merge_profiles, render_html
from imdb_sentiment.bundle import BundleError, SentimentModel, load_bundle
from imdb_sentiment.profile import build_profile
from imdb_sentiment.settings import Settings

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
REJECT_REASONS = ("missing_text", "empty_text", "not_text")
LABEL_VALUES = {
    "negative": 0,
    "neg": 0,
    "0": 0,
    "positive": 1,
    "pos": 1,
    "1": 1,
}


class RowAccountingError(RuntimeError):
    """The rows scored, rejected and written do not add up: the run publishes nothing."""


# Errors that another attempt cannot fix: fail the run at once with the message.
PERMANENT_ERRORS = (
    io.InputError,
    BundleError,
    RowAccountingError,
    FileNotFoundError,
    PermissionError,
    TypeError,
)

_models: dict[tuple[str, int], SentimentModel] = {}
_models_lock = threading.Lock()


def cached_model(location: str, scoring_workers: int = 1) -> SentimentModel:
    """The bundle at ``location``, loaded (and verified) once per process."""
    with _models_lock:
        key = (location, scoring_workers)
        if key not in _models:
            _models[key] = load_bundle(location, scoring_workers=scoring_workers)
        return _models[key]


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry condition: retry unless the error is one a retry cannot fix."""
    try:
        state.result()
    except PERMANENT_ERRORS:
        return False
    except Exception:
        return True
    return False


def _task(**options: Any):
    return task(cache_policy=NO_CACHE, retry_condition_fn=_transient, **options)


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


@dataclass
class _ScoredBatch:
    """One batch of a chunk, scored: its rows for the part files and its tallies."""

    predictions: pa.Table
    rejects: pa.Table
    rejected: dict[str, int]
    profile: tuple[dict[str, Any], dict[str, int]] | None
    confusion: np.ndarray | None
    labels_unrecognized: int


@_task(name="plan-input")
def plan_input(url: str, chunk_rows: int, columns: dict[str, str | None]) -> io.InputPlan:
    return io.plan_input(url, chunk_rows, **columns)


def _is_missing(value: Any) -> bool:
    """None, NaN, pd.NA or NaT: what CSV empties and Parquet nulls turn into."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists and other containers are values, not missing
        return False


def reject_reasons(values: pd.Series) -> np.ndarray:
    """Why each value cannot be scored (None where it can)."""
    reasons = np.full(len(values), None, dtype=object)
    for position, value in enumerate(values.tolist()):
        if type(value) is str:  # nearly every row: skip the per-value pd.isna, which costs more
            if not value.strip():
                reasons[position] = "empty_text"
        elif _is_missing(value):
            reasons[position] = "missing_text"
        elif not isinstance(value, str):
            reasons[position] = "not_text"
        elif not value.strip():
            reasons[position] = "empty_text"
    return reasons


def _label_code(value: Any) -> int | None:
    key = str(int(value)) if isinstance(value, (bool, int, np.integer)) else str(value)
    return LABEL_VALUES.get(key.strip().lower())


def _true_labels(values: pd.Series) -> tuple[np.ndarray, int]:
    """0/1 per row (-1 where missing or unrecognised) and how many were present but unrecognised."""
    labels = np.full(len(values), -1, dtype=np.int64)
    unrecognized = 0
    codes: dict[tuple[type, Any], int | None] = {}  # a label column holds a handful of values
    for position, value in enumerate(values.tolist()):
        try:
            key = (type(value), value)
            code = codes[key] if key in codes else codes.setdefault(key, _label_code(value))
        except TypeError:  # unhashable, such as a list
            code = _label_code(value)
        if code is None:
            if not _is_missing(value):
                unrecognized += 1
        else:
            labels[position] = code
    return labels, unrecognized


def _row_ids(frame: pd.DataFrame, id_column: str | None) -> np.ndarray:
    """Each row's id as a string (None where missing); the input row number without an id column."""
    if id_column is None:
        return frame.index.astype(str).to_numpy(object)
    return np.array(
        [
            value if type(value) is str else None if _is_missing(value) else str(value)
            for value in frame[id_column].tolist()
        ],
        dtype=object,
    )


@_task(name="score-chunk")
def score_chunk(
    spec: io.ChunkSpec,
    model_location: str,
    outputs: io.OutputPaths,
    scored_at: datetime,
    scoring_workers: int = 1,
) -> ChunkSummary:
    started = time.perf_counter()
    model = None
    batches = []
    scoring = None  # the batch the scoring processes are working on
    for frame in io.iter_chunk(spec):
        # Asked for after the first read: the first chunks are read while the flow loads it.
        model = model or cached_model(model_location, scoring_workers)
        # Hand this batch over before finishing the previous one: the scoring processes always
        # have work while this thread decodes, checks and writes.
        started_batch = _start_batch(frame, model, spec.columns)
        if scoring is not None:
            batches.append(_finish_batch(scoring, model, scored_at))
        scoring = started_batch
    if model is None or scoring is None:
        raise io.InputError(f"{spec.url}: chunk {spec.index} has no rows")
    batches.append(_finish_batch(scoring, model, scored_at))
    parts = {
        "predictions": outputs.part("predictions", spec.index),
        "rejects": outputs.part("rejects", spec.index),
    }
    tables = {
        "predictions": pa.concat_tables([b.predictions for b in batches]),
        "rejects": pa.concat_tables([b.rejects for b in batches]),
    }
    with ThreadPoolExecutor(len(tables), thread_name_prefix="write-part") as writers:
        writing = {
            kind: writers.submit(io.write_table, tables[kind], parts[kind]) for kind in parts
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
    )


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


def _start_batch(frame: pd.DataFrame, model: SentimentModel, columns: io.Columns) -> _StartedBatch:
    """Check one batch of rows and start scoring the ones that can be scored."""
    reasons = reject_reasons(frame[columns.text])
    ok = pd.isna(reasons)
    texts = frame[columns.text].to_numpy(object)[ok].tolist()
    truth, unrecognized = None, 0
    if columns.label is not None:
        truth, unrecognized = _true_labels(frame[columns.label])
        truth = truth[ok]
    return _StartedBatch(
        rows=frame.index.to_numpy(),
        reasons=reasons,
        ok=ok,
        ids=_row_ids(frame, columns.id),
        texts=texts,
        truth=truth,
        labels_unrecognized=unrecognized,
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
    )


@_task(name="publish-outputs")
def publish(
    parts: dict[str, list[str]],
    part_rows: dict[str, list[int]],
    reports: dict[str, bytes],
    scored: int,
    outputs: io.OutputPaths,
    write_csv: bool,
) -> list[str]:
    """Join the parts in staging, then put every file in place, the JSON report last.

    ``parts`` are the chunks' part files of each kind (predictions, rejects) in input order, with
    the rows each holds in ``part_rows``; ``reports`` the rendered report files by final URL.
    When the JSON report is there, the rest of the run's files are too. Joining, then putting in
    place, happen for all files at once (on S3 each is a request or more: 15-60 ms apiece
    against moto). A retry starts again from the parts, which stay in staging.

    The reports come rendered and the parts as URLs, not as the report dict and the chunk
    summaries: Prefect walks every parameter of a task twice looking for futures, ~0.04 s for
    the report's nested profile, on the run's last step.
    """
    with ThreadPoolExecutor(4, thread_name_prefix="publish") as pool:
        joining = {
            outputs.predictions: pool.submit(
                io.concatenate_parts,
                parts["predictions"],
                PREDICTION_SCHEMA,
                outputs.staged(outputs.predictions),
                outputs.staged(outputs.csv) if write_csv else None,
                part_rows=part_rows["predictions"],
            ),
            outputs.rejects: pool.submit(
                io.concatenate_parts,
                parts["rejects"],
                REJECT_SCHEMA,
                outputs.staged(outputs.rejects),
                part_rows=part_rows["rejects"],
            ),
        }
        sources = {final: future.result()[1] for final, future in joining.items()}
        written = joining[outputs.predictions].result()[0]
        if written != scored:
            raise RowAccountingError(
                f"row accounting failed: {scored} rows scored but {written} written; "
                "nothing was published"
            )
        if write_csv:
            sources[outputs.csv] = outputs.staged(outputs.csv)
        putting = [pool.submit(io.commit, staged, final) for final, staged in sources.items()] + [
            pool.submit(io.put_in_place, data, outputs.staged(final), final)
            for final, data in reports.items()
            if final != outputs.report_json
        ]
        for future in putting:
            future.result()
    final_report = outputs.report_json
    io.put_in_place(reports[final_report], outputs.staged(final_report), final_report)
    io.remove_tree(outputs.staging)  # this run's subfolder, and any an interrupted run left
    return [*sources, *reports]


def make_task_runner(settings: Settings) -> tuple[TaskRunner, int]:
    """The task runner, and how many processes each chunk's scoring is spread over.

    With a Dask scheduler address, chunks run on that cluster (one process each). Otherwise
    threads read, profile and write the chunks while the scoring itself goes to the model's
    pool of forked processes (one per core by default), which inherit the loaded bundle.
    Prefect's ProcessPoolTaskRunner spawns fresh interpreters that import Prefect and load the
    bundle again: measured ~10 s of fixed cost per run here, 70% of a 25k-review run.
    """
    if settings.batch_dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=settings.batch_dask_address), 1
    workers = settings.batch_workers or os.cpu_count() or 1
    return ThreadPoolTaskRunner(max_workers=workers), workers


@contextmanager
def _workers_share_this_api(runner: TaskRunner) -> Iterator[None]:
    """Point worker processes (Dask's) at this run's Prefect API.

    Without a configured server, each process would otherwise start its own temporary server
    (a minute each on a busy machine) and its task runs would not show under this flow run.
    Threads share this process's settings already, and the switch costs ~80 ms: they skip it.
    """
    if PREFECT_API_URL.value() or isinstance(runner, ThreadPoolTaskRunner):
        yield
        return
    with get_client(sync_client=True) as client:
        url = str(client.api_url)
    with temporary_settings({PREFECT_API_URL: url}):
        yield


def _backoff(settings: Settings) -> list[float]:
    return [settings.batch_retry_delay_seconds * 2**n for n in range(settings.batch_retries)]


@flow(name="imdb-sentiment-batch", log_prints=True)
def batch_predict(
    input: str,
    output: str,
    model: str | None = None,
    write_csv: bool = False,
    chunk_rows: int | None = None,
    text_column: str | None = None,
    id_column: str | None = None,
    label_column: str | None = None,
) -> Any:
    """Score ``input`` into ``output`` (a *.parquet file or a folder), with a monitoring report."""
    settings = Settings()
    started = time.perf_counter()
    scored_at = datetime.now(UTC).replace(microsecond=0)
    location = model or settings.model
    runner, scoring_workers = make_task_runner(settings)
    retry = {"retries": settings.batch_retries, "retry_delay_seconds": _backoff(settings)}
    # A staging subfolder of its own: nothing to clear before the run can start writing.
    outputs = io.OutputPaths.for_output(output, run=uuid.uuid4().hex[:12])
    # The bundle loads while the input is planned and the first chunks are read. A bad bundle
    # still fails the run before anything is written: chunks are only scored with it.
    with ThreadPoolExecutor(1, thread_name_prefix="load-bundle") as loader:
        loading = loader.submit(cached_model, location, scoring_workers)
        try:
            plan = plan_input.with_options(**retry)(
                input,
                chunk_rows or settings.batch_chunk_rows,
                {"text": text_column, "id": id_column, "label": label_column},
            )
        except Exception:
            loading.result()  # when the bundle is bad too, that is the error to report
            raise
        with _workers_share_this_api(runner), runner:
            futures = [
                runner.submit(
                    score_chunk.with_options(**retry),
                    {
                        "spec": spec,
                        "model_location": location,
                        "outputs": outputs,
                        "scored_at": scored_at,
                        "scoring_workers": scoring_workers,
                    },
                )
                for spec in plan.chunks
            ]
            bundle = loading.result()
            summaries = [future.result() for future in futures]
    # Workers elsewhere (Dask) load the bundle themselves: all must have scored the same one.
    versions = {s.model_version for s in summaries} - {bundle.version}
    if versions:
        raise BundleError(
            f"{location} changed during the run: this run loaded version {bundle.version} but "
            f"chunks were scored with {sorted(versions)}; nothing was published"
        )
    rejected = {
        reason: sum(s.rejected.get(reason, 0) for s in summaries) for reason in REJECT_REASONS
    }
    scored = sum(s.scored for s in summaries)
    if scored + sum(rejected.values()) != plan.rows:
        raise RowAccountingError(
            f"row accounting failed: {plan.rows} input rows, {scored} scored, "
            f"{sum(rejected.values())} rejected; nothing was published"
        )
    reference = bundle.manifest.get("reference_profile")
    profile = merge_profiles(pair for s in summaries for pair in s.profiles)
    drift_info = drift_section(
        reference,
        profile,
        settings.drift_psi_threshold,
        settings.drift_positive_rate_threshold,
    )
    confusion = None
    if plan.columns.label is not None:
        confusion = np.sum([s.confusion for s in summaries], axis=0).tolist() if summaries else None
    seconds = time.perf_counter() - started
    report = {
        "run": {
            "input": input,
            "output": outputs.predictions,
            "format": plan.format,
            "input_bytes": plan.bytes,
            "columns": {
                "text": plan.columns.text,
                "id": plan.columns.id,
                "label": plan.columns.label,
            },
            "model": {"name": bundle.name, "version": bundle.version, "source": location},
            "scored_at": scored_at.isoformat(),
            "seconds": round(seconds, 3),
            "rows_per_second": round(plan.rows / seconds, 1) if seconds else None,
            "chunks": len(plan.chunks),
            "chunk_rows": chunk_rows or settings.batch_chunk_rows,
            "task_runner": type(runner).__name__,
            "scoring_workers": scoring_workers,
        },
        "counts": {
            "input_rows": plan.rows,
            "scored": scored,
            "rejected": sum(rejected.values()),
            "rejected_by_reason": rejected,
            "labels_unrecognized": sum(s.labels_unrecognized for s in summaries),
        },
        "profile": profile or None,
        "reference_profile": reference,
        "drift": drift_info,
        "label_metrics": label_metrics(confusion),
        "files": {
            "predictions": outputs.predictions,
            "csv": outputs.csv if write_csv else None,
            "rejects": outputs.rejects,
            "report_html": outputs.report_html,
            "report_json": outputs.report_json,
        },
    }
    ordered = sorted(summaries, key=lambda s: s.index)
    publish.with_options(**retry)(
        parts={kind: [s.parts[kind] for s in ordered] for kind in ("predictions", "rejects")},
        part_rows={
            kind: [s.part_rows[kind] for s in ordered] for kind in ("predictions", "rejects")
        },
        reports={
            outputs.report_html: render_html(report).encode(),
            outputs.report_json: json.dumps(report, indent=2, default=str).encode(),
        },
        scored=scored,
        outputs=outputs,
        write_csv=write_csv,
    )
    summary = summarize(report, total_seconds=time.perf_counter() - started)
    print(summary["message"])
    return Completed(message=summary["message"], data=summary)


def summarize(report: dict[str, Any], total_seconds: float | None = None) -> dict[str, Any]:
    """The run summary: counts, drift flag and where the files are, with a one-line message.

    ``seconds`` is the whole run, report and publishing included (``total_seconds``); the
    report's own figure stops before the report is written.
    """
    counts, drift_info = report["counts"], report["drift"]
    seconds = report["run"]["seconds"] if total_seconds is None else round(total_seconds, 3)
    message = (
        f"scored {counts['scored']} of {counts['input_rows']} rows "
        f"({counts['rejected']} rejected) in {seconds:.1f} s"
    )
    if drift_info["flag"]:
        message += "; DRIFT over threshold: " + ", ".join(drift_info["drifted"])
    metrics = report.get("label_metrics")
    if metrics:
        message += f"; accuracy {metrics['accuracy']:.4f}, F1 {metrics['f1']:.4f}"
    return {
        "message": message,
        "counts": counts,
        "drift": drift_info,
        "label_metrics": metrics,
        "files": report["files"],
        "model_version": report["run"]["model"]["version"],
        "seconds": seconds,
    }
