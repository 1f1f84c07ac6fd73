"""Results of a composite workflow run: per-stage results and the selected outputs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from dd_prefect.config.builder import DataDesignerConfigBuilder
from dd_prefect.engine.parquet_io import count_rows, parquet_files, read_parquet
from dd_prefect.errors import WorkflowError
from dd_prefect.workflow.dataset import (
    DatasetCreationResults,
    ExportFormat,
    builder_seeded_from,
    export_frame,
)


class StageResult(DatasetCreationResults):
    """A stage that ran (or was reused): its dataset plus the output it handed on.

    As a DatasetCreationResults it is the stage's effective dataset: the output-processor
    pass when the stage has output processors, else the main run.
    """

    def __init__(
        self,
        name: str,
        status: str,
        dataset_dir: Path,
        output_path: Path,
        fingerprint: str | None,
    ) -> None:
        super().__init__(dataset_dir)
        self.name = name
        self.status = status
        self.output_path = output_path
        self.fingerprint = fingerprint

    @property
    def actual_records(self) -> int:
        """Rows in the stage's selected output."""
        return count_rows(parquet_files(self.output_path))

    def load_output(self) -> pd.DataFrame:
        """The selected output (what the next stage is seeded from)."""
        return read_parquet(parquet_files(self.output_path))

    def __repr__(self) -> str:
        return f"StageResult({self.name!r}, status={self.status!r})"


class SkippedStageResult:
    """A stage that did not run because an upstream stage produced an empty output."""

    def __init__(self, name: str, reason: str, status: str = "skipped_empty_upstream") -> None:
        self.name = name
        self.reason = reason
        self.status = status
        self.actual_records = 0

    def _skipped(self, *args: object, **kwargs: object) -> Any:
        raise WorkflowError(f"stage '{self.name}' was skipped: {self.reason}")

    load_dataset = load_output = export = count_records = to_config_builder = _skipped

    def __repr__(self) -> str:
        return f"SkippedStageResult({self.name!r}, {self.reason!r})"


class CompositeWorkflowResults:
    """Per-stage results of a workflow run, in stage order; the last stage's output is the
    workflow's dataset."""

    def __init__(
        self, name: str, workflow_dir: Path, stages: dict[str, StageResult | SkippedStageResult]
    ) -> None:
        self.name = name
        self.workflow_dir = workflow_dir
        self._stages = stages

    def __getitem__(self, stage: str) -> StageResult | SkippedStageResult:
        try:
            return self._stages[stage]
        except KeyError:
            known = ", ".join(self._stages) or "none"
            raise KeyError(f"no stage '{stage}' in this run (stages: {known})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._stages)

    def __len__(self) -> int:
        return len(self._stages)

    def keys(self) -> list[str]:
        return list(self._stages)

    def items(self) -> list[tuple[str, StageResult | SkippedStageResult]]:
        return list(self._stages.items())

    def values(self) -> list[StageResult | SkippedStageResult]:
        return list(self._stages.values())

    def _ran(self, stage: str) -> StageResult:
        result = self[stage]
        if isinstance(result, SkippedStageResult):
            raise WorkflowError(f"stage '{stage}' was skipped: {result.reason}")
        return result

    def get_stage_output_path(self, stage: str) -> Path:
        """The selected output of `stage` (a directory of parquet files, or a file)."""
        return self._ran(stage).output_path

    def load_stage_output(self, stage: str) -> pd.DataFrame:
        """The selected output of `stage`: what its next stage is seeded from."""
        return self._ran(stage).load_output()

    def count_stage_output_records(self, stage: str) -> int:
        """Rows in `stage`'s selected output."""
        return self._ran(stage).actual_records

    @property
    def final_stage(self) -> str:
        return list(self._stages)[-1]

    def load_dataset(self) -> pd.DataFrame:
        """The final stage's selected output (WorkflowError if that stage was skipped)."""
        return self.load_stage_output(self.final_stage)

    def export(self, path: str | Path, format: ExportFormat | None = None) -> Path:
        """Write the final stage's selected output as jsonl, csv or parquet."""
        return export_frame(self.load_dataset(), path, format)

    def export_stage(
        self, stage: str, path: str | Path, format: ExportFormat | None = None
    ) -> Path:
        """Write one stage's selected output as jsonl, csv or parquet."""
        return export_frame(self.load_stage_output(stage), path, format)

    def to_config_builder(self, columns: list[str] | None = None) -> DataDesignerConfigBuilder:
        """A new builder seeded from the final stage's selected output."""
        return builder_seeded_from(self.get_stage_output_path(self.final_stage), columns)
