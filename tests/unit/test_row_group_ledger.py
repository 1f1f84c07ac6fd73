"""The row-group ledger: a finished row group is on record at once (a line appended), and
read_metadata() sees it before metadata.json is rewritten; a line cut short by a kill is
skipped, and a rewrite of metadata.json takes the ledger's place."""

from __future__ import annotations

from pathlib import Path

from dd_prefect.workflow.dataset_totals import fill_totals
from dd_prefect.workflow.layout import DatasetLayout
from dd_prefect.workflow.metadata import DatasetMetadata, RowGroupRecord


def record(index: int, rows: int = 10, dropped: int = 0) -> RowGroupRecord:
    return RowGroupRecord(
        index=index,
        start=10 * index,
        requested=10,
        rows=rows,
        dropped_rows=dropped,
        errors={"parse": dropped} if dropped else {},
        files={"main": f"parquet-files/batch_{index:05d}.parquet"},
    )


def started(tmp_path: Path, *done: RowGroupRecord) -> tuple[DatasetLayout, DatasetMetadata]:
    layout = DatasetLayout(tmp_path)
    metadata = DatasetMetadata(
        dataset_name="d",
        dataset_key="k",
        config_fingerprint="f",
        target_records=50,
        buffer_size=10,
        num_batches=5,
    )
    fill_totals(metadata, {r.index: r for r in done})
    layout.write_metadata(metadata)
    return layout, metadata


def test_a_finished_row_group_is_read_back_before_metadata_is_rewritten(tmp_path):
    layout, _ = started(tmp_path, record(0))
    layout.append_row_group(record(2, rows=8, dropped=2))
    layout.append_row_group(record(1))
    read = layout.read_metadata()
    assert read is not None
    assert [r.index for r in read.row_groups] == [0, 1, 2]
    assert read.actual_records == 28 and read.dropped_rows == 2
    assert read.errors == {"parse": 2}
    assert read.files == [f"parquet-files/batch_0000{i}.parquet" for i in range(3)]


def test_the_newest_record_of_a_row_group_wins(tmp_path):
    layout, _ = started(tmp_path, record(0, rows=0, dropped=10))
    layout.append_row_group(record(0))  # regenerated
    read = layout.read_metadata()
    assert read is not None and read.actual_records == 10 and read.dropped_rows == 0


def test_a_line_cut_short_by_a_kill_is_skipped_and_the_next_one_kept(tmp_path):
    layout, _ = started(tmp_path)
    layout.append_row_group(record(0))
    whole = layout.ledger_path.read_text()
    layout.ledger_path.write_text(whole + "\n" + record(1).model_dump_json()[:40])  # killed
    layout.append_row_group(record(2))  # the next run goes on
    read = layout.read_metadata()
    assert read is not None and [r.index for r in read.row_groups] == [0, 2]


def test_rewriting_metadata_takes_the_ledgers_place(tmp_path):
    layout, metadata = started(tmp_path)
    layout.append_row_group(record(0))
    fill_totals(metadata, {0: record(0)})
    layout.write_metadata(metadata)
    assert not layout.ledger_path.exists()
    read = layout.read_metadata()
    assert read is not None and [r.index for r in read.row_groups] == [0]


def test_no_metadata_means_none_whatever_the_ledger_holds(tmp_path):
    layout = DatasetLayout(tmp_path)
    layout.append_row_group(record(0))
    assert layout.read_metadata() is None
