"""What runs give back: a dataset on disk, a preview in memory, a workflow's stages.

Load them, count them, export them (jsonl, csv, parquet), or seed a new config from them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from dd_prefect.config.builder import DataDesignerConfigBuilder
from dd_prefect.config.seeds import LocalFileSeedSource
from dd_prefect.engine.failed_rows import read_failed_rows
from dd_prefect.engine.parquet_io import (
    count_rows,
    export_table,
    parquet_files,
    plain_value,
    read_parquet,
    write_parquet,
)
from dd_prefect.errors import ConfigValidationError, WorkflowError
from dd_prefect.workflow.analysis import DatasetViews, PreviewViews
from dd_prefect.workflow.layout import OUTPUT_PROCESSORS_DIR, DatasetLayout
from dd_prefect.workflow.metadata import DatasetMetadata
from dd_prefect.workflow.usage import Usage, UsageEstimate, estimate

ExportFormat = Literal["jsonl", "csv", "parquet"]


def export_frame(frame: pd.DataFrame, path: str | Path, fmt: ExportFormat | None = None) -> Path:
    """Write a DataFrame as jsonl, csv or parquet (by `fmt` or the suffix), atomically.

    Nothing a format can hold is lost: floats keep every digit (they read back equal).

    - jsonl: one JSON object per row; dicts and lists as JSON objects and arrays;
      NaN, infinities and missing values as null (JSON has no NaN); dates and times as
      ISO 8601 text.
    - parquet: dicts and lists as Arrow structs and lists, which pyarrow, pandas and
      duckdb read as nested data; a column Arrow can't type (a dict in one row and a
      string in another, lists mixing kinds, empty dicts) falls back to JSON text
      (see :func:`~dd_prefect.engine.parquet_io.export_table`).
    - csv: dicts and lists as JSON text.
    """
    path = Path(path)
    by_suffix: dict[str, ExportFormat] = {".jsonl": "jsonl", ".csv": "csv", ".parquet": "parquet"}
    fmt = fmt or by_suffix.get(path.suffix)
    if fmt not in ("jsonl", "csv", "parquet"):
        raise ConfigValidationError.of(
            f"unknown export format {fmt!r} for {path.name} (use jsonl, csv or parquet)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if fmt == "jsonl":  # not frame.to_json: it keeps 10 significant digits of a float
            with tmp.open("w", encoding="utf-8") as out:
                for record in frame.to_dict("records"):
                    out.write(json.dumps(plain_value(record), ensure_ascii=False, default=str))
                    out.write("\n")
        elif fmt == "csv":
            nested = [c for c in frame.columns if frame[c].map(_is_nested).any()]
            out = frame.copy()
            for c in nested:
                out[c] = out[c].map(lambda v: json.dumps(v, default=str) if _is_nested(v) else v)
            out.to_csv(tmp, index=False)
        else:
            write_parquet(export_table(frame), tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def builder_seeded_from(
    output: Path, columns: list[str] | None = None
) -> DataDesignerConfigBuilder:
    """A new builder seeded from parquet output (a directory or a file); with `columns`,
    the seed's other columns are marked drop=True."""
    pattern = output / "*.parquet" if output.is_dir() else output
    builder = DataDesignerConfigBuilder()
    builder.with_seed_dataset(LocalFileSeedSource(path=str(pattern)))
    if columns is not None:
        for column in builder.columns:
            if column.name not in columns:
                column.drop = True
    return builder


def _is_nested(value: Any) -> bool:
    return isinstance(value, dict | list)


class DatasetCreationResults(DatasetViews):
    """A dataset on disk: load it, count it, export it, or seed a new config from it."""

    def __init__(self, base_dir: str | Path, metadata: DatasetMetadata | None = None) -> None:
        self.layout = DatasetLayout(base_dir)
        self._metadata = metadata

    @property
    def base_dataset_path(self) -> Path:
        """The dataset directory."""
        return self.layout.base_dir

    @property
    def metadata(self) -> DatasetMetadata:
        """The dataset's metadata.json."""
        if self._metadata is None:
            self._metadata = self.layout.read_metadata()
            if self._metadata is None:
                raise FileNotFoundError(f"no readable metadata.json in {self.layout.base_dir}")
        return self._metadata

    @property
    def usage(self) -> Usage:
        """LLM usage per model over every attempt and of the last one, with cost where the
        models have prices (see :class:`~dd_prefect.workflow.usage.Usage`)."""
        m = self.metadata
        return Usage.of(m.llm_usage_total, m.llm_usage, m.duration, m.llm_usage_attempts)

    def load_failed_rows(self) -> pd.DataFrame:
        """The rows whose cells failed, one each: ``row_index``, ``row_group``,
        ``seed_row_index``, the failing ``column``, ``error_kind``, ``message``,
        ``attempts`` and whether it was ``dropped`` (``create(..., retry_failed=True)``
        regenerates them)."""
        base, groups = self.layout.base_dir, self.metadata.row_groups
        return read_failed_rows([base / r.files["failed"] for r in groups if "failed" in r.files])

    def output_files(self, output: str = "final") -> list[Path]:
        """Parquet files of the main output, or of ``"processor:<name>"``."""
        if output == "final":
            return [self.layout.base_dir / f for f in self.metadata.files]
        name = output.removeprefix("processor:")
        return parquet_files(self.layout.processor_dir(name))

    def load_dataset(self) -> pd.DataFrame:
        """The main output as one DataFrame (structured columns decoded to dicts)."""
        return read_parquet(self.output_files())

    def load_processor_dataset(self, name: str) -> pd.DataFrame:
        """A processor's own output."""
        files = self.output_files(f"processor:{name}")
        if not files:
            raise FileNotFoundError(
                f"processor '{name}' wrote no output in {self.base_dataset_path}"
            )
        return read_parquet(files)

    def count_records(self) -> int:
        """Rows in the main output (read from file footers)."""
        return count_rows(self.output_files())

    def export(self, path: str | Path, format: ExportFormat | None = None) -> Path:
        """Write the main output to one jsonl, csv or parquet file."""
        return export_frame(self.load_dataset(), path, format)

    def to_config_builder(self, columns: list[str] | None = None) -> DataDesignerConfigBuilder:
        """A new builder seeded from this dataset's parquet files."""
        return builder_seeded_from(self.layout.parquet_dir, columns)

    def __repr__(self) -> str:
        return f"DatasetCreationResults({str(self.base_dataset_path)!r})"


class PreviewResults(PreviewViews):
    """Rows generated in memory by ``preview()``: nothing written to disk."""

    def __init__(
        self,
        dataset: pd.DataFrame,
        processor_outputs: dict[str, pd.DataFrame],
        summary: dict[str, Any],
    ) -> None:
        self.dataset = dataset
        self.processor_outputs = processor_outputs
        self.summary = summary

    def load_dataset(self) -> pd.DataFrame:
        return self.dataset

    def count_records(self) -> int:
        return len(self.dataset)

    @property
    def usage(self) -> Usage:
        """The preview's LLM usage per model (with cost where the models have prices)."""
        spent = self.summary.get("llm_usage", {})
        return Usage.of(spent, spent)

    def estimate_usage(self, num_records: int) -> UsageEstimate:
        """An ESTIMATE of a full run's requests, tokens and cost for `num_records`,
        scaled from this preview's usage per row asked for."""
        asked = self.summary.get("requested_records", self.count_records())
        return estimate(self.usage, asked, num_records)

    def export(self, path: str | Path, format: ExportFormat | None = None) -> Path:
        return export_frame(self.dataset, path, format)


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

    @property
    def usage(self) -> Usage:
        """The stage's LLM usage (its main run's; an output-processor pass asks none)."""
        return self._main_run().usage

    def load_failed_rows(self) -> pd.DataFrame:
        """The failed rows of the stage's main run (see DatasetCreationResults)."""
        return self._main_run().load_failed_rows()

    def _main_run(self) -> DatasetCreationResults:
        base = self.base_dataset_path
        main = base.parent if base.name == OUTPUT_PROCESSORS_DIR else base
        return DatasetCreationResults(main, self.metadata if main == base else None)

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
    """Per-stage results of a workflow run, in stage order. The workflow's dataset is the
    output of its one sink (the stage nothing depends on: in a linear workflow, the last);
    with several sinks, name one (``load_dataset(stage=...)``)."""

    def __init__(
        self,
        name: str,
        workflow_dir: Path,
        stages: dict[str, StageResult | SkippedStageResult],
        *,
        sinks: list[str] | None = None,
    ) -> None:
        self.name = name
        self.workflow_dir = workflow_dir
        self._stages = stages
        self.sinks = list(sinks) if sinks is not None else list(stages)[-1:]

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
    def usage(self) -> Usage:
        """LLM usage of the stages that ran or were reused, summed (per stage:
        ``results[stage].usage``)."""
        return sum((r.usage for r in self._stages.values() if isinstance(r, StageResult)), Usage())

    @property
    def final_stage(self) -> str:
        """The workflow's one sink (WorkflowError naming them when there are several)."""
        if len(self.sinks) != 1:
            shown = ", ".join(f"'{s}'" for s in self.sinks) or "none"
            raise WorkflowError(
                f"workflow '{self.name}' has {len(self.sinks)} final stages ({shown}); "
                "name one: load_dataset(stage=...) or export(..., stage=...)"
            )
        return self.sinks[0]

    @property
    def final_records(self) -> int:
        """Rows in the final stages' outputs (the sinks'; a skipped one has none)."""
        return sum(r.actual_records for n in self.sinks if isinstance(r := self[n], StageResult))

    def load_dataset(self, stage: str | None = None) -> pd.DataFrame:
        """The selected output of `stage`, by default the final stage (the one sink);
        WorkflowError if that stage was skipped."""
        return self.load_stage_output(stage or self.final_stage)

    def export(
        self, path: str | Path, format: ExportFormat | None = None, *, stage: str | None = None
    ) -> Path:
        """Write the selected output of `stage` (default: the final stage) as jsonl, csv
        or parquet."""
        return export_frame(self.load_dataset(stage), path, format)

    def export_stage(
        self, stage: str, path: str | Path, format: ExportFormat | None = None
    ) -> Path:
        """Write one stage's selected output as jsonl, csv or parquet."""
        return export_frame(self.load_stage_output(stage), path, format)

    def to_config_builder(self, columns: list[str] | None = None) -> DataDesignerConfigBuilder:
        """A new builder seeded from the final stage's selected output."""
        return builder_seeded_from(self.get_stage_output_path(self.final_stage), columns)
