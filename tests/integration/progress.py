"""What a running (or killed) dataset has finished, read as the library reads it:
``metadata.json`` and the row-group ledger appended to since it was last written."""

from __future__ import annotations

from pathlib import Path

from dd_prefect.workflow.layout import DatasetLayout


def finished_row_groups(dataset_dir: Path) -> int:
    """Row groups of `dataset_dir` finished so far (0 before its metadata exists)."""
    metadata = DatasetLayout(dataset_dir).read_metadata()
    return len(metadata.row_groups) if metadata is not None else 0
