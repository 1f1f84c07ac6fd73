"""Data Designer's ways of looking at generated data: a per-column analysis with a printed
report, one sample record at a time, and the paths of a dataset's artifacts.

``preview.analysis.to_report()``, ``results.load_analysis()``,
``preview.display_sample_record()`` and ``results.artifact_storage.final_dataset_path``
work as in Data Designer. The analysis (:mod:`dd_prefect.workflow.analysis_store`) holds
per-column counts, distributions, category frequencies against their weights, judge score
distributions, estimated tokens per cell, failed rows and LLM usage; Data Designer's
LLM-written summaries of judge scores are not produced.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dd_prefect.engine.output import DROPPED_DIR, PARQUET_DIR, PROCESSORS_DIR
from dd_prefect.workflow.analysis_store import load_or_compute, profile
from dd_prefect.workflow.layout import METADATA_FILE
from dd_prefect.workflow.profiles import frames, is_missing, text_of


@dataclass(frozen=True)
class ColumnStatistics:
    """What one column of a dataset holds (Data Designer's column statistics, one class
    for every column type; fields that do not apply to a column are None).

    ``distribution`` is Data Designer's: numerical (min, max, mean, stddev, median, plus
    ``quantiles`` and a ``histogram`` of numpy's bins) or categorical (most and least
    common value, ``histogram`` of categories and counts). ``length_distribution``: the
    same numerical shape over text lengths in characters. ``category_weights``: a category
    sampler's configured values and normalized weights. ``output_tokens_*``: tokens per
    cell of an LLM column, estimated from its text (no per-cell token count is recorded).
    """

    column_name: str
    dtype: str
    num_records: int
    num_null: int
    num_unique: int
    examples: list[str]
    column_type: str = "general"
    num_unique_estimated: bool = False
    sampler_type: str | None = None
    distribution_type: str | None = None
    distribution: dict[str, Any] | None = None
    length_distribution: dict[str, Any] | None = None
    category_weights: dict[str, list[Any]] | None = None
    output_tokens_mean: float | None = None
    output_tokens_median: float | None = None
    output_tokens_stddev: float | None = None
    output_tokens_distribution: dict[str, Any] | None = None
    num_valid_records: int | None = None

    @property
    def percent_null(self) -> float:
        return 100 * self.num_null / self.num_records if self.num_records else 0.0

    @property
    def percent_unique(self) -> float:
        return 100 * self.num_unique / self.num_records if self.num_records else 0.0


class DatasetAnalysis:
    """A dataset's profile (Data Designer's ``DatasetProfilerResults``): per-column
    statistics, judge score distributions (``column_profiles``), failed rows and LLM usage.

    ``DatasetAnalysis(frame)`` profiles rows in memory; ``results.load_analysis()`` reads
    a dataset's files batch by batch and keeps the result in ``analysis.json`` beside it.
    """

    def __init__(
        self,
        dataset: pd.DataFrame | None = None,
        target_num_records: int | None = None,
        *,
        data: dict[str, Any] | None = None,
    ) -> None:
        if data is None:
            frame = dataset if dataset is not None else pd.DataFrame()
            data = profile(frames([frame]), None, None, target_num_records)
        self.data = data
        self.num_records: int = data["num_records"]
        self.target_num_records: int = data["target_num_records"]
        self.column_statistics = [ColumnStatistics(**s) for s in data["column_statistics"]]
        self.side_effect_column_names: list[str] | None = data.get("side_effect_column_names")
        self.column_profiles: list[dict[str, Any]] | None = data.get("column_profiles")
        self.failed_rows: dict[str, Any] = data.get("failed_rows") or {}
        self.llm_usage: dict[str, dict[str, Any]] = data.get("llm_usage") or {}

    @property
    def percent_complete(self) -> float:
        """Records made, as a percentage of the target."""
        return 100 * self.num_records / self.target_num_records if self.target_num_records else 0.0

    @property
    def column_types(self) -> list[str]:
        """The column types present, in first-seen order."""
        return list(dict.fromkeys(s.column_type for s in self.column_statistics))

    def get_column_statistics_by_type(self, column_type: str) -> list[ColumnStatistics]:
        """The statistics of the columns of `column_type` (``"llm-judge"``, ``"sampler"``...)."""
        return [s for s in self.column_statistics if s.column_type == column_type]

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.data,
            "column_statistics": [asdict(s) for s in self.column_statistics],
        }

    def category_rows(self) -> list[dict[str, Any]]:
        """One row per category of each categorical column: count, share and (for a
        category sampler) the configured weight."""
        rows = []
        for s in self.column_statistics:
            if s.distribution_type != "categorical" or not s.distribution:
                continue
            hist = s.distribution["histogram"]
            total = sum(hist["counts"]) or 1
            weights = s.category_weights or {"categories": [], "weights": []}
            expected = dict(zip(map(str, weights["categories"]), weights["weights"], strict=True))
            for category, count in zip(hist["categories"], hist["counts"], strict=True):
                weight = expected.pop(str(category), None)
                rows.append(_category_row(s.column_name, category, count, total, weight))
            for category, weight in expected.items():  # configured, never drawn
                rows.append(_category_row(s.column_name, category, 0, total, weight))
        return rows

    def score_rows(self) -> list[dict[str, Any]]:
        """One row per score value of each judge column's score: count and share."""
        rows = []
        for profile_ in self.column_profiles or []:
            histograms = profile_["score_distributions"]["histograms"]
            for score, hist in histograms.items():
                total = sum(hist["counts"]) or 1
                for value, count in sorted(
                    zip(hist["categories"], hist["counts"], strict=True), key=lambda p: str(p[0])
                ):
                    rows.append(
                        {
                            "column": profile_["column_name"],
                            "score": score,
                            "value": value,
                            "count": count,
                            "share": round(count / total, 4),
                        }
                    )
        return rows

    def to_report(self, save_path: str | Path | None = None) -> None:
        """Print the analysis as tables (columns; categories vs weights; judge scores);
        with `save_path`, also save them as HTML (``.html``) or SVG (``.svg``), as Data
        Designer does. The plots are in ``report.html`` beside the dataset."""
        from rich.console import Console

        console = Console(record=save_path is not None)
        console.print(
            _table(
                f"{self.num_records} records (target {self.target_num_records})",
                [column_row(s) for s in self.column_statistics],
            )
        )
        for title, rows in (
            ("category frequencies (vs configured weights)", self.category_rows()),
            ("judge score distributions", self.score_rows()),
        ):
            if rows:
                console.print(_table(title, rows))
        failed = self.failed_rows
        if failed.get("dropped_rows") or failed.get("errors_by_kind"):
            console.print(f"failed rows: {failed}")
        if save_path is not None:
            path = Path(save_path)
            if path.suffix not in (".html", ".svg"):
                raise ValueError(f"to_report: save_path must end in .html or .svg, got {path}")
            (console.save_html if path.suffix == ".html" else console.save_svg)(str(path))

    def __repr__(self) -> str:
        return (
            f"DatasetAnalysis(num_records={self.num_records}, "
            f"columns={[s.column_name for s in self.column_statistics]})"
        )


def _category_row(
    column: str, category: Any, count: int, total: int, weight: float | None
) -> dict[str, Any]:
    return {
        "column": column,
        "category": category,
        "count": count,
        "share": round(count / total, 4),
        "weight": round(weight, 4) if weight is not None else None,
    }


def column_row(s: ColumnStatistics) -> dict[str, Any]:
    spread = s.length_distribution if s.distribution_type == "text" else s.distribution
    detail = ""
    if s.distribution_type in ("numerical", "text") and spread:
        what = "length " if s.distribution_type == "text" else ""
        detail = f"{what}median {spread['median']:g} (min {spread['min']:g}, max {spread['max']:g})"
    elif s.distribution_type == "categorical" and s.distribution:
        detail = f"most common: {s.distribution['most_common_value']}"
    tokens = f"{s.output_tokens_mean:.1f}" if s.output_tokens_mean is not None else ""
    unique = f"~{s.num_unique}" if s.num_unique_estimated else str(s.num_unique)
    return {
        "column": s.column_name,
        "type": s.column_type,
        "dtype": s.dtype,
        "nulls": s.num_null,
        "unique": unique,
        "distribution": detail,
        "tokens/cell (est.)": tokens,
        "examples": ", ".join(s.examples),
    }


def _table(title: str, rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title=title)
    for header in rows[0] if rows else ():
        table.add_column(str(header))
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    return table


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
            table.add_row(str(column), text_of(value) if not is_missing(value) else "null")
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
        """The dataset's analysis: read from ``analysis.json`` beside it when that was
        computed from the same files, else computed batch by batch and stored there."""
        return DatasetAnalysis(data=load_or_compute(self.base_dataset_path))

    def get_path_to_processor_artifacts(self, processor_name: str) -> Path:
        """The directory holding a processor's output (FileNotFoundError if it wrote none)."""
        path = self.artifact_storage.processors_outputs_path / processor_name
        if not path.exists():
            raise FileNotFoundError(
                f"processor '{processor_name}' has no artifacts in {path.parent}"
            )
        return path
