"""Directory layouts of a dataset and a workflow, and reading/writing their metadata.

A dataset directory (``<artifact_path>/<dataset_name>/``, or a workflow stage's)::

    parquet-files/batch_00000.parquet ...    the main output, one file per row group
    processors-files/<processor>/...          each processor's own output
    dropped-columns/...                       columns with drop=True
    config.yaml                               the config that produced it
    metadata.json                             what was asked, what exists, stats
    row-groups.jsonl                          row groups finished since metadata.json
                                              was last written (while a run goes on)

A workflow directory holds ``workflow-metadata.json`` and ``stage-<i>-<name>/`` per stage
(a dataset directory, plus ``output-processors/`` and ``callback-outputs/<callback>/``).
Every file is written atomically but the row-group ledger, which is only appended to (a
line cut short by a kill is skipped when read). Paths in metadata are relative to the
directory, so a tree can be moved and still be resumed.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

from pydantic import ValidationError

from dd_prefect.config.builder import DataDesignerConfig
from dd_prefect.config.io import atomic_write_text, dump_text
from dd_prefect.config.stage import Stage
from dd_prefect.engine.generator import PARQUET_DIR, PROCESSORS_DIR
from dd_prefect.engine.parquet_io import count_rows, parquet_files
from dd_prefect.errors import WorkflowError
from dd_prefect.workflow.dataset_totals import fill_totals
from dd_prefect.workflow.metadata import DatasetMetadata, RowGroupRecord, WorkflowMetadata

METADATA_FILE = "metadata.json"
ROW_GROUP_LEDGER = "row-groups.jsonl"
CONFIG_FILE = "config.yaml"
WORKFLOW_METADATA = "workflow-metadata.json"
OUTPUT_PROCESSORS_DIR = "output-processors"
CALLBACK_DIR = "callback-outputs"


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

    @property
    def ledger_path(self) -> Path:
        return self.base_dir / ROW_GROUP_LEDGER

    def read_metadata(self) -> DatasetMetadata | None:
        """The metadata with every row group finished so far (also those only in the
        ledger yet), or None when absent or unreadable."""
        try:
            metadata = DatasetMetadata.model_validate_json(self.metadata_path.read_text())
        except (OSError, ValueError, ValidationError):
            return None
        try:
            lines = self.ledger_path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return metadata
        newer: dict[int, RowGroupRecord] = {}
        for line in filter(None, lines):
            try:
                record = RowGroupRecord.model_validate_json(line)
            except ValueError:  # cut short by a kill
                continue
            newer[record.index] = record
        if newer:
            fill_totals(metadata, {**{r.index: r for r in metadata.row_groups}, **newer})
        return metadata

    def append_row_group(self, record: RowGroupRecord) -> None:
        """Record a finished row group at once, at a cost that does not grow with the
        dataset: a line appended to the ledger (``metadata.json``, rewritten whole, follows
        within a second). Each line starts a new one, so one cut short by a kill stays
        apart from the next."""
        with self.ledger_path.open("a", encoding="utf-8") as ledger:
            ledger.write("\n" + record.model_dump_json())

    def write_metadata(self, metadata: DatasetMetadata) -> None:
        """Write ``metadata.json`` (with every row group finished so far: the ledger's
        are in it, so the ledger goes)."""
        atomic_write_text(self.metadata_path, metadata.model_dump_json(indent=2) + "\n")
        self.ledger_path.unlink(missing_ok=True)

    def write_config(self, config: DataDesignerConfig) -> None:
        try:
            atomic_write_text(self.config_path, dump_text(config.to_dict(), "yaml"))
        except ValueError:  # a DataFrame seed is never serialized: record the rest
            data = config.model_dump(mode="json", exclude={"seed_config"})
            data["seed_config"] = {"source": {"seed_type": "dataframe"}}
            atomic_write_text(self.config_path, dump_text(data, "yaml"))

    def row_group_valid(self, record: RowGroupRecord) -> bool:
        """Whether a finished row group's files are all still as written: each exists with
        its recorded content hash (the main file also with its row count)."""
        rel = record.files.get("main")
        if rel is None:
            return record.rows == 0
        try:
            if count_rows([self.base_dir / rel]) != record.rows:
                return False
            return all(
                file_sha256(self.base_dir / record.files[kind]) == expected
                for kind, expected in record.hashes.items()
            )
        except (OSError, KeyError, ValueError):
            return False

    def clean(self) -> None:
        """Remove the dataset directory's generated content."""
        if self.base_dir.exists():
            shutil.rmtree(self.base_dir)


class WorkflowLayout:
    """Paths of a workflow directory; stored paths are relative to it."""

    def __init__(self, workflow_dir: Path) -> None:
        self.dir = Path(workflow_dir)

    @property
    def metadata_path(self) -> Path:
        return self.dir / WORKFLOW_METADATA

    def rel(self, path: Path | None) -> str | None:
        """`path` relative to the workflow dir when inside it, else absolute."""
        if path is None:
            return None
        path = Path(path).resolve()
        try:
            return str(path.relative_to(self.dir.resolve()))
        except ValueError:
            return str(path)

    def abs(self, stored: str | None) -> Path | None:
        if stored is None:
            return None
        path = Path(stored)
        return path if path.is_absolute() else self.dir / path

    def read(self) -> tuple[WorkflowMetadata | None, str | None]:
        """(metadata, None) or (None, why it could not be used)."""
        if not self.metadata_path.exists():
            return None, "no workflow-metadata.json"
        try:
            return WorkflowMetadata.model_validate_json(self.metadata_path.read_text()), None
        except (OSError, ValueError, ValidationError) as exc:
            return None, f"workflow-metadata.json is unreadable ({type(exc).__name__})"

    def write(self, metadata: WorkflowMetadata) -> None:
        metadata.updated_at = time.time()
        atomic_write_text(self.metadata_path, metadata.model_dump_json(indent=2) + "\n")


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def content_digest(path: Path | None) -> str:
    """sha256 over the parquet files of an output (a file or a directory), names and
    bytes, in order: two outputs with equal digests hold the very same data."""
    files = parquet_files(path) if path is not None and path.exists() else []
    return hashlib.sha256(
        "\n".join(f"{f.name}:{file_sha256(f)}" for f in files).encode()
    ).hexdigest()


def output_ready(path: Path | None, expected_rows: int | None) -> bool:
    """Whether a selected output still exists with the recorded row count."""
    if path is None:
        return False
    files = parquet_files(path) if path.exists() else []
    if not files:
        return False
    try:
        return expected_rows is None or count_rows(files) == expected_rows
    except Exception:
        return False


def require_parquet(path: Path, what: str) -> list[Path]:
    """Parquet files at `path` (a file or a directory), or WorkflowError saying `what`."""
    files = parquet_files(path) if path.exists() else []
    if not files:
        raise WorkflowError(f"{what}: {path} holds no parquet file")
    return files


def selected_output(stage: Stage, stage_dir: Path) -> Path:
    """Where a stage's selected output is written (before any on_success callback)."""
    base = stage_dir / OUTPUT_PROCESSORS_DIR if stage.output_processors else stage_dir
    if stage.output.startswith("processor:"):
        name = stage.output.removeprefix("processor:")
        own = {p.name for p in stage.config.processors}
        return (stage_dir if name in own else base) / PROCESSORS_DIR / name
    return base / PARQUET_DIR


def stage_dataset_dir(stage: Stage, stage_dir: Path) -> Path:
    """The stage's effective dataset: its output-processor pass if it has one."""
    if stage.output_processors and (stage_dir / OUTPUT_PROCESSORS_DIR).exists():
        return stage_dir / OUTPUT_PROCESSORS_DIR
    return stage_dir


def seed_pattern(path: Path) -> Path:
    """A seed path for parquet output: ``<dir>/*.parquet`` for a directory, else the file."""
    return path / "*.parquet" if path.is_dir() else path
