"""The Prefect batch flow: score a CSV/Parquet file (local or s3://) with the exported bundle.

    plan-input ─► score-chunk × N ─► publish-outputs

(chunks in threads that score on forked processes, one per core; or on a Dask cluster)

This module only orchestrates: which task runs where, retries, the checks between steps. The
work is done by :mod:`.plan` (cut the input into chunks), :mod:`.score` (read, check and score
one chunk, write its part files), :mod:`.publish` (put the run's files in place, all or nothing)
and :mod:`.report` / :mod:`.report_html` (the monitoring report), on :mod:`.storage`.

* A missing file or text column fails the run at once; so does a bad bundle, before anything is
  written. I/O tasks retry transient errors with exponential backoff.
* An interrupted run leaves only its subfolder of the hidden staging folder, which the next run
  to finish removes.

Serving code: this module never imports :mod:`imdb_sentiment.training`.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from prefect import flow, task, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import Completed
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from imdb_sentiment.batch import score
from imdb_sentiment.batch.live import read_shadow_source
from imdb_sentiment.batch.plan import ChunkSpec, InputError, InputPlan
from imdb_sentiment.batch.plan import plan_input as plan_chunks
from imdb_sentiment.batch.publish import RowAccountingError, publish_outputs
from imdb_sentiment.batch.report import build_report, count_rows, drift_markdown, summarize
from imdb_sentiment.batch.report_html import render_html
from imdb_sentiment.batch.score import PART_KINDS, ChunkSummary
from imdb_sentiment.batch.storage import OutputPaths
from imdb_sentiment.bundle import BundleError, SentimentModel
from imdb_sentiment.registry import load_bundle
from imdb_sentiment.settings import Settings

__all__ = ["PERMANENT_ERRORS", "RowAccountingError", "batch_predict", "cached_model", "summarize"]

# Errors that another attempt cannot fix: fail the run at once with the message.
PERMANENT_ERRORS = (
    InputError,
    BundleError,
    RowAccountingError,
    FileNotFoundError,
    PermissionError,
    TypeError,
)
# The Prefect artifact that holds each run's drift table (one version per run).
DRIFT_ARTIFACT_KEY = "imdb-sentiment-batch-drift"

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


@_task(name="plan-input")
def plan_input(url: str, chunk_rows: int, columns: dict[str, str | None]) -> InputPlan:
    return plan_chunks(url, chunk_rows, **columns)


@_task(name="score-chunk")
def score_chunk(
    spec: ChunkSpec,
    model_location: str,
    outputs: OutputPaths,
    scored_at: datetime,
    scoring_workers: int = 1,
) -> ChunkSummary:
    # The model is asked for after the first read: the first chunks are read while it loads.
    return score.score_chunk(
        spec, lambda: cached_model(model_location, scoring_workers), outputs, scored_at
    )


@_task(name="publish-outputs")
def publish(
    parts: dict[str, list[str]],
    part_rows: dict[str, list[int]],
    reports: dict[str, bytes],
    scored: int,
    outputs: OutputPaths,
    write_csv: bool,
) -> list[str]:
    # The reports come rendered and the parts as URLs, not as the report dict and the chunk
    # summaries: Prefect walks every parameter of a task twice looking for futures, which for
    # the report's nested profile is a measurable cost on the run's last step.
    return publish_outputs(parts, part_rows, reports, scored, outputs, write_csv)


def make_task_runner(settings: Settings) -> tuple[TaskRunner, int]:
    """The task runner, and how many processes each chunk's scoring is spread over.

    With a Dask scheduler address, chunks run on that cluster (one process each). Otherwise
    threads read, profile and write the chunks while the scoring itself goes to the model's
    pool of forked processes (one per core by default), which inherit the loaded bundle.
    Prefect's ProcessPoolTaskRunner would spawn fresh interpreters that import Prefect and load
    the bundle again: seconds of fixed cost per run, most of a 25k-review run.
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
    Threads share this process's settings already, and the switch costs time: they skip it.
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


# The task runner is not given to @flow(task_runner=...): which runner (threads or a Dask
# cluster) and how many threads are run-time settings, read when the run starts, and a run can
# pick them only by starting a subflow, one more flow run on the API per run. The chunks are
# fanned out with the runner's own .map instead.
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
    shadow: str | None = None,
) -> Any:
    """Score ``input`` into ``output`` (a *.parquet file or a folder), with a monitoring report;
    ``shadow`` (a service's /metrics URL or a JSON file) adds the shadow's agreement to it."""
    settings = Settings()
    try:  # read first: a source that was given and cannot be read fails the run at once
        shadow_figures = read_shadow_source(shadow)
    except (OSError, ValueError, AttributeError) as error:  # AttributeError: JSON not an object
        raise InputError(f"cannot read the shadow figures from {shadow}: {error}") from error
    started = time.perf_counter()
    scored_at = datetime.now(UTC).replace(microsecond=0)
    location = model or settings.model
    chunk_rows = chunk_rows or settings.batch_chunk_rows
    runner, scoring_workers = make_task_runner(settings)
    retry = {"retries": settings.batch_retries, "retry_delay_seconds": _backoff(settings)}
    # A staging subfolder of its own: nothing to clear before the run can start writing.
    outputs = OutputPaths.for_output(output, run=uuid.uuid4().hex[:12])
    # The bundle loads while the input is planned and the first chunks are read. A bad bundle
    # still fails the run before anything is written: chunks are only scored with it.
    with ThreadPoolExecutor(1, thread_name_prefix="load-bundle") as loader:
        loading = loader.submit(cached_model, location, scoring_workers)
        try:
            plan = plan_input.with_options(**retry)(
                input, chunk_rows, {"text": text_column, "id": id_column, "label": label_column}
            )
        except Exception:
            loading.result()  # when the bundle is bad too, that is the error to report
            raise
        with _workers_share_this_api(runner), runner:
            futures = runner.map(
                score_chunk.with_options(**retry),
                {
                    "spec": plan.chunks,
                    "model_location": unmapped(location),
                    "outputs": unmapped(outputs),
                    "scored_at": unmapped(scored_at),
                    "scoring_workers": unmapped(scoring_workers),
                },
            )
            bundle = loading.result()
            summaries = [future.result() for future in futures]
    # Workers elsewhere (Dask) load the bundle themselves: all must have scored the same one.
    versions = {s.model_version for s in summaries} - {bundle.version}
    if versions:
        raise BundleError(
            f"{location} changed during the run: this run loaded version {bundle.version} but "
            f"chunks were scored with {sorted(versions)}; nothing was published"
        )
    counts = count_rows(summaries)
    if counts["scored"] + counts["rejected"] != plan.rows:
        raise RowAccountingError(
            f"row accounting failed: {plan.rows} input rows, {counts['scored']} scored, "
            f"{counts['rejected']} rejected; nothing was published"
        )
    seconds = time.perf_counter() - started
    report = build_report(
        run={
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
            "chunk_rows": chunk_rows,
            "task_runner": type(runner).__name__,
            "scoring_workers": scoring_workers,
        },
        input_rows=plan.rows,
        counts=counts,
        summaries=summaries,
        reference=bundle.manifest.get("reference_profile"),
        labelled=plan.columns.label is not None,
        feedback=plan.columns.shown is not None,
        shadow=shadow_figures,
        psi_threshold=settings.drift_psi_threshold,
        positive_rate_threshold=settings.drift_positive_rate_threshold,
        files={
            "predictions": outputs.predictions,
            "csv": outputs.csv if write_csv else None,
            "rejects": outputs.rejects,
            "report_html": outputs.report_html,
            "report_json": outputs.report_json,
        },
    )
    ordered = sorted(summaries, key=lambda s: s.index)
    publish.with_options(**retry)(
        parts={kind: [s.parts[kind] for s in ordered] for kind in PART_KINDS},
        part_rows={kind: [s.part_rows[kind] for s in ordered] for kind in PART_KINDS},
        reports={
            outputs.report_html: render_html(report).encode(),
            outputs.report_json: json.dumps(report, indent=2, default=str).encode(),
        },
        scored=counts["scored"],
        outputs=outputs,
        write_csv=write_csv,
    )
    summary = summarize(report, total_seconds=time.perf_counter() - started)
    create_markdown_artifact(
        drift_markdown(report, summary["message"]),
        key=DRIFT_ARTIFACT_KEY,
        description="Drift of this batch run's inputs and scores against the training reference",
    )
    print(summary["message"])
    return Completed(message=summary["message"], data=summary)
