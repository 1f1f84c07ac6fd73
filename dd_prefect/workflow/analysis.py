"""Data Designer's ways of looking at generated data: a per-column analysis with a printed
report, one sample record at a time, and the paths of a dataset's artifacts.

``preview.analysis.to_report()``, ``results.load_analysis()``,
``preview.display_sample_record()`` and ``results.artifact_storage.final_dataset_path``
work as in Data Designer. The analysis is descriptive (counts, nulls, distinct values, a
few examples per column); Data Designer's LLM-judge score profiles are not computed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dd_prefect.engine.output import DROPPED_DIR, PARQUET_DIR, PROCESSORS_DIR
from dd_prefect.engine.parquet_io import plain_value
from dd_prefect.workflow.layout import METADATA_FILE, DatasetLayout


@dataclass(frozen=True)
class ColumnStatistics:
    """What one column of a dataset holds."""

    column_name: str
    dtype: str
    num_records: int
    num_null: int
    num_unique: int
    examples: list[str]


class DatasetAnalysis:
    """Per-column statistics of a generated dataset (Data Designer's profiler results)."""

    def __init__(self, dataset: pd.DataFrame, target_num_records: int | None = None) -> None:
        self.num_records = len(dataset)
        self.target_num_records = (
            self.num_records if target_num_records is None else target_num_records
        )
        self.column_statistics = [_statistics(dataset, c) for c in dataset.columns]

    def to_dict(self) -> dict[str, Any]:
        return {
            "num_records": self.num_records,
            "target_num_records": self.target_num_records,
            "column_statistics": [asdict(s) for s in self.column_statistics],
        }

    def to_report(self) -> None:
        """Print the analysis as a table."""
        from rich.console import Console
        from rich.table import Table

        table = Table(
            title=f"{self.num_records} records (target {self.target_num_records})",
            show_lines=False,
        )
        for header in ("column", "dtype", "nulls", "unique", "examples"):
            table.add_column(header)
        for s in self.column_statistics:
            examples = ", ".join(s.examples)
            table.add_row(s.column_name, s.dtype, str(s.num_null), str(s.num_unique), examples)
        Console().print(table)

    def __repr__(self) -> str:
        return (
            f"DatasetAnalysis(num_records={self.num_records}, "
            f"columns={[s.column_name for s in self.column_statistics]})"
        )


def _statistics(dataset: pd.DataFrame, column: str) -> ColumnStatistics:
    values = dataset[column]
    present = [v for v in values if not _missing(v)]
    texts = [_text(v) for v in present]
    return ColumnStatistics(
        column_name=str(column),
        dtype=str(values.dtype),
        num_records=len(values),
        num_null=len(values) - len(present),
        num_unique=len(set(texts)),
        examples=[t if len(t) <= 40 else t[:39] + "…" for t in dict.fromkeys(texts)][:3],
    )


def _missing(value: Any) -> bool:
    if isinstance(value, dict | list):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # array-like values
        return False


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(plain_value(value), ensure_ascii=False, default=str, sort_keys=True)


@dataclass(frozen=True)
class ArtifactStorage:
    """Where a dataset's artifacts are (Data Designer's ``results.artifact_storage``)."""

    base_dataset_path: Path

    @property
    def final_dataset_path(self) -> Path:
        """The main output's parquet files."""
        return self.base_dataset_path / PARQUET_DIR

    @property
    def dropped_columns_dataset_path(self) -> Path:
        return self.base_dataset_path / DROPPED_DIR

    @property
    def processors_outputs_path(self) -> Path:
        return self.base_dataset_path / PROCESSORS_DIR

    @property
    def metadata_file_path(self) -> Path:
        return self.base_dataset_path / METADATA_FILE


class SampleRecords:
    """``display_sample_record()``: print one record; without an index, each call shows
    the next one (cycling), as in Data Designer."""

    _next_sample = 0

    def load_dataset(self) -> pd.DataFrame:
        raise NotImplementedError

    def display_sample_record(self, index: int | None = None) -> None:
        """Print record `index` (default: the next one) column by column."""
        from rich.console import Console
        from rich.table import Table

        dataset = self.load_dataset()
        if dataset.empty:
            Console().print("(no records)")
            return
        if index is None:
            index = self._next_sample % len(dataset)
            self._next_sample = index + 1
        record = dataset.iloc[index]
        table = Table(title=f"record {index}", show_header=True)
        table.add_column("column")
        table.add_column("value", overflow="fold")
        for column, value in record.items():
            table.add_row(str(column), _text(value) if not _missing(value) else "null")
        Console().print(table)


class PreviewViews(SampleRecords):
    """Data Designer's views of a preview: ``analysis`` and sample records."""

    @property
    def analysis(self) -> DatasetAnalysis:
        """Per-column statistics of the preview's rows."""
        return DatasetAnalysis(self.load_dataset())


class DatasetViews(SampleRecords):
    """Data Designer's views of a dataset on disk: its analysis, sample records and
    artifact paths."""

    @property
    def base_dataset_path(self) -> Path:
        raise NotImplementedError

    @property
    def artifact_storage(self) -> ArtifactStorage:
        """The dataset's artifact paths (``final_dataset_path``, ``processors_outputs_path``...)."""
        return ArtifactStorage(self.base_dataset_path)

    def load_analysis(self) -> DatasetAnalysis:
        """Per-column statistics of the dataset (read from its files)."""
        metadata = DatasetLayout(self.base_dataset_path).read_metadata()
        target = metadata.target_records if metadata is not None else None
        return DatasetAnalysis(self.load_dataset(), target)

    def get_path_to_processor_artifacts(self, processor_name: str) -> Path:
        """The directory holding a processor's output (FileNotFoundError if it wrote none)."""
        path = self.artifact_storage.processors_outputs_path / processor_name
        if not path.exists():
            raise FileNotFoundError(
                f"processor '{processor_name}' has no artifacts in {path.parent}"
            )
        return path
