"""Which datasets have failed rows to regenerate (``retry_failed``)."""

from __future__ import annotations

from pathlib import Path

from dd_prefect.workflow.layout import DatasetLayout


def has_failed_rows(dataset_dir: Path) -> bool:
    """Whether a finished row group of the dataset in `dataset_dir` recorded failed rows."""
    metadata = DatasetLayout(dataset_dir).read_metadata()
    return metadata is not None and any("failed" in r.files for r in metadata.row_groups)
