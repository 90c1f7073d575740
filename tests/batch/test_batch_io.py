"""Chunk planning and reading: every row comes back exactly once, in order, whatever the format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from batch_support import read_chunk

from imdb_sentiment.batch import plan as planning
from imdb_sentiment.batch import storage
from imdb_sentiment.batch.plan import Columns, InputError, InputPlan, plan_input, resolve_columns
from imdb_sentiment.batch.publish import concatenate_parts
from imdb_sentiment.batch.read import iter_chunk

TRICKY_TEXTS = [
    'He said "wow", then left.',
    "line one\nline two, still the same review",
    "",
    "plain",
    '"quoted at both ends"',
    "trailing newline\n",
    "comma, comma, comma",
]


def _frame(rows: int) -> pd.DataFrame:
    texts = [TRICKY_TEXTS[i % len(TRICKY_TEXTS)] + f" #{i}" for i in range(rows)]
    return pd.DataFrame({"id": [f"r{i}" for i in range(rows)], "review": texts})


def _read_all(plan: InputPlan) -> pd.DataFrame:
    return pd.concat([read_chunk(spec) for spec in plan.chunks])


@pytest.mark.parametrize("chunk_rows", [1, 3, 7, 50])
def test_csv_chunks_cover_every_record_once_even_with_quoted_newlines(
    tmp_path: Path, chunk_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(planning, "BATCH_ROWS", 4)  # chunks of 7 and 50 rows come in batches
    frame = _frame(23)
    path = tmp_path / "reviews.csv"
    frame.to_csv(path, index=False)
    plan = plan_input(str(path), chunk_rows)
    assert plan.rows == 23
    assert [spec.rows for spec in plan.chunks] == [
        min(chunk_rows, 23 - start) for start in range(0, 23, chunk_rows)
    ]
    assert all(len(f) <= 4 for spec in plan.chunks for f in iter_chunk(spec))
    back = _read_all(plan)
    assert back.index.tolist() == list(range(23))
    assert back["review"].tolist() == frame["review"].tolist()
    assert back["id"].tolist() == frame["id"].tolist()


def test_csv_with_crlf_blank_lines_and_bom_matches_pandas(tmp_path: Path) -> None:
    path = tmp_path / "windows.csv"
    path.write_bytes(
        b'\xef\xbb\xbfid,text\r\n1,"first\r\nreview"\r\n\r\n2,second\r\n3,"a ""quote"""\r\n'
    )
    plan = plan_input(str(path), 2)
    assert plan.columns == Columns(text="text", id="id")
    back = _read_all(plan)
    assert back["text"].tolist() == ["first\r\nreview", "second", 'a "quote"']
    assert back["id"].tolist() == ["1", "2", "3"]


def test_parquet_chunks_are_whole_row_groups_and_a_large_group_is_read_in_batches(
    tmp_path: Path,
) -> None:
    frame = _frame(40)
    path = tmp_path / "reviews.parquet"
    pq.write_table(pa.Table.from_pandas(frame), path, row_group_size=6)  # 6 x 6 rows + 4

    plan = plan_input(str(path), 13)
    assert [spec.rows for spec in plan.chunks] == [12, 12, 12, 4]
    assert [spec.row_groups for spec in plan.chunks] == [(0, 2), (2, 4), (4, 6), (6, 7)]
    back = _read_all(plan)
    assert back.index.tolist() == list(range(40))
    assert back["review"].tolist() == frame["review"].tolist()

    # Chunks smaller than a row group would each read and decode the whole group: instead the
    # group is one chunk, decoded chunk_rows at a time.
    plan = plan_input(str(path), 4)
    assert [spec.rows for spec in plan.chunks] == [6] * 6 + [4]
    frames = list(iter_chunk(plan.chunks[1]))
    assert [len(f) for f in frames] == [4, 2]
    assert [f.index.tolist() for f in frames] == [[6, 7, 8, 9], [10, 11]]
    back = _read_all(plan)
    assert back.index.tolist() == list(range(40))
    assert back["review"].tolist() == frame["review"].tolist()


def test_a_parquet_file_replaced_after_planning_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "reviews.parquet"
    pq.write_table(pa.Table.from_pandas(_frame(40)), path, row_group_size=6)
    plan = plan_input(str(path), 9)
    pq.write_table(pa.table({"review": ["x" * 50] * 7}), path)
    with pytest.raises(InputError, match="changed while it was being scored"):
        read_chunk(plan.chunks[2])


def test_kaggle_and_pipeline_column_names_are_recognised() -> None:
    kaggle = resolve_columns(["review", "sentiment"], "x.csv")
    assert kaggle == Columns(text="review", id=None, label="sentiment")
    split = resolve_columns(["review_id", "text", "label", "rating"], "x.parquet")
    assert split == Columns(text="text", id="review_id", label="label")


def test_missing_text_column_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "no_text.csv"
    pd.DataFrame({"id": [1], "body": ["hello"]}).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"no review text column.*'body'"):
        plan_input(str(path), 10)
    with pytest.raises(InputError, match="no text column 'comment'"):
        plan_input(str(path), 10, text="comment")


def test_missing_input_and_unknown_format_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        plan_input(str(tmp_path / "absent.csv"), 10)
    (tmp_path / "folder.parquet").mkdir()
    with pytest.raises(InputError, match="is not a file"):
        plan_input(str(tmp_path / "folder.parquet"), 10)
    (tmp_path / "reviews.txt").write_text("hello\n")
    with pytest.raises(InputError, match=r"name it \*\.csv or \*\.parquet"):
        plan_input(str(tmp_path / "reviews.txt"), 10)
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        plan_input(str(tmp_path / "broken.parquet"), 10)


def test_relative_paths_and_file_urls_read_the_same_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    pd.DataFrame({"review": ["fine", "awful"]}).to_csv("reviews.csv", index=False)
    urls = ["reviews.csv", str(tmp_path / "reviews.csv"), f"file://{tmp_path}/reviews.csv"]
    frames = [read_chunk(plan_input(url, 10).chunks[0]) for url in urls]
    for frame in frames:
        assert frame["review"].tolist() == ["fine", "awful"]


def test_access_denied_on_s3_is_a_permission_error_that_is_not_retried() -> None:
    from imdb_sentiment.batch.flow import PERMANENT_ERRORS

    # pyarrow reports it as a plain OSError, which the flow would retry as transient.
    denied = pytest.raises(PermissionError, match=r"s3://bucket/in\.csv: AWS Error ACCESS_DENIED")
    with denied, storage.s3_errors("s3://bucket/in.csv"):
        raise OSError("AWS Error ACCESS_DENIED during HeadObject operation: No response body.")
    assert PermissionError in PERMANENT_ERRORS


def test_parts_are_joined_in_order_and_a_lone_part_is_copied_and_kept(tmp_path: Path) -> None:
    schema = pa.schema([("id", pa.string()), ("score", pa.float64())])
    parts = []
    for index, ids in enumerate([["a", "b"], ["c"]]):
        parts.append(str(tmp_path / "parts" / f"part-{index}.parquet"))
        storage.write_table(
            pa.table({"id": ids, "score": [0.5] * len(ids)}, schema=schema), parts[-1]
        )
    joined = tmp_path / "joined.parquet"
    assert concatenate_parts(parts, schema, str(joined)) == (3, str(joined))
    assert pq.read_table(joined)["id"].to_pylist() == ["a", "b", "c"]

    # On disk a lone part is copied to the staged name, because committing renames that file.
    lone = tmp_path / "out" / "lone.parquet"
    assert concatenate_parts(parts[:1], schema, str(lone)) == (2, str(lone))
    assert pq.read_table(lone).equals(pq.read_table(parts[0]))
    storage.commit(str(lone), str(tmp_path / "final.parquet"))
    assert Path(parts[0]).exists(), "a retried call must still find its parts"

    # A lone part of another schema is converted, not copied.
    float32 = str(tmp_path / "parts" / "float32.parquet")
    storage.write_table(pa.table({"id": ["d"], "score": pa.array([1.0], pa.float32())}), float32)
    converted = tmp_path / "converted.parquet"
    assert concatenate_parts([float32], schema, str(converted)) == (1, str(converted))
    assert pq.read_schema(converted).field("score").type == pa.float64()


def test_put_in_place_on_disk_goes_through_a_staged_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On disk a file is only ever put in place by a rename of a complete staged copy."""
    staged, final = tmp_path / "staging" / "run" / "r.json", tmp_path / "out" / "r.json"
    final.parent.mkdir()
    final.write_text("the previous run's report")
    renames: list[tuple[str, str, bytes]] = []
    real_commit = storage.commit

    def recorded_commit(staged_url: str, final_url: str) -> None:
        renames.append((staged_url, final_url, Path(staged_url).read_bytes()))
        real_commit(staged_url, final_url)

    monkeypatch.setattr(storage, "commit", recorded_commit)
    storage.put_in_place(b'{"rows": 3}', str(staged), str(final))
    assert renames == [(str(staged), str(final), b'{"rows": 3}')]
    assert final.read_bytes() == b'{"rows": 3}'
    assert not staged.exists(), "renamed into place, not copied"


def test_output_paths_for_a_file_and_for_a_folder() -> None:
    as_file = storage.OutputPaths.for_output("s3://bucket/run/scores.parquet")
    assert as_file.predictions == "s3://bucket/run/scores.parquet"
    assert as_file.rejects == "s3://bucket/run/scores.rejects.parquet"
    assert as_file.report_json == "s3://bucket/run/scores.report.json"
    assert as_file.staging == "s3://bucket/run/.scores.staging"
    assert as_file.part("predictions", 3).startswith("s3://bucket/run/.scores.staging/run/")
    # Each run stages in a subfolder of its own.
    other_run = storage.OutputPaths.for_output("s3://bucket/run/scores.parquet", run="b7")
    assert (
        other_run.staged(other_run.predictions)
        == "s3://bucket/run/.scores.staging/b7/scores.parquet"
    )
    as_folder = storage.OutputPaths.for_output("out/")
    assert as_folder.predictions == "out/predictions.parquet"
    assert as_folder.report_html == "out/predictions.report.html"


def test_row_checks_treat_every_kind_of_value_as_documented() -> None:
    """The per-row checks of the flow: what is rejected and why, which labels count, the ids."""
    from imdb_sentiment.batch.rows import reject_reasons, row_ids, true_labels

    texts = pd.Series(
        ["fine", None, float("nan"), pd.NA, "  \n", "", 5, np.str_("numpy text"), ["a", "list"]],
        dtype=object,
    )
    assert reject_reasons(texts).tolist() == [
        None,
        "missing_text",
        "missing_text",
        "missing_text",
        "empty_text",
        "empty_text",
        "not_text",
        None,
        "not_text",
    ]

    labels = pd.Series(
        [
            1,
            True,
            0,
            np.int64(1),
            "Positive ",
            "neg",
            "1",
            1.0,
            "unsure",
            None,
            float("nan"),
            ["x"],
        ],
        dtype=object,
    )
    codes, unrecognized = true_labels(labels)
    assert codes.tolist() == [1, 1, 0, 1, 1, 0, 1, -1, -1, -1, -1, -1]
    assert unrecognized == 3, "1.0, 'unsure' and the list; missing values are not counted"

    frame = pd.DataFrame({"id": pd.Series(["a", 7, None, float("nan"), 2.5], dtype=object)})
    frame.index = pd.RangeIndex(10, 15)
    assert row_ids(frame, "id").tolist() == ["a", "7", None, None, "2.5"]
    assert row_ids(frame, None).tolist() == ["10", "11", "12", "13", "14"]
