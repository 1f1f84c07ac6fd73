"""Which datasets have failed rows to regenerate (``retry_failed``)."""

from __future__ import annotations

from pathlib import Path

from dd_prefect.errors import ConfigValidationError
from dd_prefect.workflow.layout import DatasetLayout
from dd_prefect.workflow.resume import ResumeMode


def has_failed_rows(dataset_dir: Path) -> bool:
    """Whether a finished row group of the dataset in `dataset_dir` recorded failed rows."""
    metadata = DatasetLayout(dataset_dir).read_metadata()
    return metadata is not None and any("failed" in r.files for r in metadata.row_groups)


def check_retry_failed(retry_failed: bool, resume: ResumeMode) -> None:
    """retry_failed regenerates rows of an earlier run: it needs a resume mode."""
    if retry_failed and resume is ResumeMode.NEVER:
        raise ConfigValidationError.of(
            "retry_failed needs resume=IF_POSSIBLE or ALWAYS (resume=NEVER starts over, "
            "regenerating every row)",
            field="retry_failed",
        )
