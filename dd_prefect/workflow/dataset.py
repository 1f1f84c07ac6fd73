"""One dataset on disk: its layout, `metadata.json`, resume decisions and results.

Layout of ``<artifact_path>/<dataset_name>/``::

    parquet-files/batch_00000.parquet ...    the main output, one file per row group
    processors-files/<processor>/...          each processor's own output
    dropped-columns/...                       columns with drop=True
    config.yaml                               the config that produced it
    metadata.json                             what was asked, what exists, stats

Every file is written atomically. Paths in metadata are relative to the dataset directory,
so a dataset directory can be moved and still be resumed.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dd_prefect._version import __version__
from dd_prefect.config.builder import DataDesignerConfig, DataDesignerConfigBuilder
from dd_prefect.config.fingerprint import digest
from dd_prefect.config.io import atomic_write_text, dump_text
from dd_prefect.config.run_config import RunConfig
from dd_prefect.config.seeds import LocalFileSeedSource
from dd_prefect.config.workflow_spec import name_problem
from dd_prefect.engine.generator import PARQUET_DIR, PROCESSORS_DIR
from dd_prefect.engine.parquet_io import count_rows, parquet_files, read_parquet
from dd_prefect.errors import ResumeError
from dd_prefect.workflow.resume import ResumeMode

METADATA_FILE = "metadata.json"
CONFIG_FILE = "config.yaml"
ExportFormat = Literal["jsonl", "csv", "parquet"]


def dataset_key(
    config_fingerprint: str,
    num_records: int,
    run_config: RunConfig,
    *,
    name: str,
    seed_digest: str | None = None,
) -> str:
    """Identity of a dataset's row groups: what they contain and how rows are split.

    Row group `i` of two runs with the same key holds the same rows (with a seed, the very
    same values), so a finished one can be reused instead of generated again. The dataset
    name keeps two datasets of one config apart; `seed_digest` notices an edited seed file.
    """
    return digest(
        {
            "name": name,
            "seed_files": seed_digest,
            "config": config_fingerprint,
            "num_records": num_records,
            "buffer_size": run_config.buffer_size,
            "seed": run_config.seed,
            "on_cell_error": run_config.on_cell_error,
            "version": __version__,
        }
    )[:32]


class RowGroupRecord(BaseModel):
    """One finished row group as recorded in metadata."""

    model_config = ConfigDict(extra="allow")

    index: int
    start: int
    requested: int
    rows: int
    dropped_rows: int = 0
    errors: dict[str, int] = Field(default_factory=dict)
    nulls: dict[str, int] = Field(default_factory=dict)
    files: dict[str, str] = Field(default_factory=dict)
    duration: float = 0.0


class DatasetMetadata(BaseModel):
    """`metadata.json` of a dataset. Unknown fields are kept when rewritten."""

    model_config = ConfigDict(extra="allow")

    dataset_name: str
    library_version: str = __version__
    status: Literal["running", "completed", "failed"] = "running"
    dataset_key: str
    config_fingerprint: str
    target_records: int
    actual_records: int = 0
    buffer_size: int
    num_batches: int
    seed: int | None = None
    shuffle_seed: int | None = None  # SHUFFLE's key when there is no seed (kept for resume)
    row_groups: list[RowGroupRecord] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    column_stats: dict[str, dict[str, Any]] = Field(default_factory=dict)
    dropped_rows: int = 0
    errors: dict[str, int] = Field(default_factory=dict)
    llm_usage: dict[str, dict[str, Any]] = Field(default_factory=dict)
    started_at: float = Field(default_factory=time.time)
    duration: float = 0.0
    error: str | None = None


class DatasetLayout:
    """Paths of one dataset directory."""

    def __init__(self, base_dir: str | Path) -> None:
        self.base_dir = Path(base_dir)

    @property
    def metadata_path(self) -> Path:
        return self.base_dir / METADATA_FILE

    @property
    def config_path(self) -> Path:
        return self.base_dir / CONFIG_FILE

    @property
    def parquet_dir(self) -> Path:
        return self.base_dir / PARQUET_DIR

    def processor_dir(self, name: str) -> Path:
        return self.base_dir / PROCESSORS_DIR / name

    def read_metadata(self) -> DatasetMetadata | None:
        """The metadata, or None when absent or unreadable."""
        try:
            return DatasetMetadata.model_validate_json(self.metadata_path.read_text())
        except (OSError, ValueError, ValidationError):
            return None

    def write_metadata(self, metadata: DatasetMetadata) -> None:
        atomic_write_text(self.metadata_path, metadata.model_dump_json(indent=2) + "\n")

    def write_config(self, config: DataDesignerConfig) -> None:
        try:
            atomic_write_text(self.config_path, dump_text(config.to_dict(), "yaml"))
        except ValueError:  # a DataFrame seed is never serialized: record the rest
            data = config.model_dump(mode="json", exclude={"seed_config"})
            data["seed_config"] = {"source": {"seed_type": "dataframe"}}
            atomic_write_text(self.config_path, dump_text(data, "yaml"))

    def row_group_valid(self, record: dict[str, Any] | RowGroupRecord) -> bool:
        """Whether a row group's main file exists with the recorded row count."""
        if isinstance(record, dict):
            record = RowGroupRecord.model_validate(record)
        rel = record.files.get("main")
        if rel is None:
            return record.rows == 0
        path = self.base_dir / rel
        try:
            return path.is_file() and count_rows([path]) == record.rows
        except Exception:
            return False

    def clean(self) -> None:
        """Remove the dataset directory's generated content."""
        if self.base_dir.exists():
            shutil.rmtree(self.base_dir)


def check_dataset_name(name: str) -> str:
    """The name, or ValueError when it can't name a directory."""
    if problem := name_problem(name, "dataset"):
        raise ValueError(problem)
    return name


def plan_resume(layout: DatasetLayout, key: str, mode: ResumeMode) -> bool:
    """Whether to keep what is in the dataset directory (True) or start clean (False).

    Raises ResumeError under ALWAYS when there is nothing compatible to resume.
    """
    if mode is ResumeMode.NEVER:
        return False
    metadata = layout.read_metadata()
    if metadata is None:
        if mode is ResumeMode.ALWAYS:
            reason = (
                "no metadata.json"
                if not layout.metadata_path.exists()
                else ("its metadata.json is unreadable")
            )
            raise ResumeError(f"cannot resume dataset at {layout.base_dir}: {reason}")
        return False
    if metadata.dataset_key != key:
        if mode is ResumeMode.ALWAYS:
            raise ResumeError(
                f"cannot resume dataset at {layout.base_dir}: it was generated with a different "
                "config, num_records, buffer_size or seed"
            )
        return False
    return True


def column_stats(frame: pd.DataFrame) -> dict[str, int]:
    """Null counts per column of a row group."""
    return {str(c): int(frame[c].isna().sum()) for c in frame.columns}


def export_frame(frame: pd.DataFrame, path: str | Path, fmt: ExportFormat | None = None) -> Path:
    """Write a DataFrame as jsonl, csv or parquet (by `fmt` or the suffix), atomically."""
    path = Path(path)
    fmt = fmt or {".jsonl": "jsonl", ".csv": "csv", ".parquet": "parquet"}.get(path.suffix)
    if fmt not in ("jsonl", "csv", "parquet"):
        raise ValueError(f"unknown export format {fmt!r} (use jsonl, csv or parquet)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if fmt == "jsonl":
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False, date_format="iso")
        elif fmt == "csv":
            nested = [c for c in frame.columns if frame[c].map(_is_nested).any()]
            out = frame.copy()
            for c in nested:
                out[c] = out[c].map(lambda v: json.dumps(v, default=str) if _is_nested(v) else v)
            out.to_csv(tmp, index=False)
        else:
            from dd_prefect.engine.parquet_io import to_table, write_parquet

            write_parquet(to_table(frame), tmp)
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


class DatasetCreationResults:
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


class PreviewResults:
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

    def export(self, path: str | Path, format: ExportFormat | None = None) -> Path:
        return export_frame(self.dataset, path, format)


__all__ = [
    "DatasetCreationResults",
    "DatasetLayout",
    "DatasetMetadata",
    "PreviewResults",
    "ResumeError",
    "ResumeMode",
    "RowGroupRecord",
    "builder_seeded_from",
    "check_dataset_name",
    "column_stats",
    "dataset_key",
    "export_frame",
    "plan_resume",
]
