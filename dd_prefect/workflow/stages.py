"""Stages of a composite workflow: definition, validation, fingerprints and metadata.

No Prefect here: :mod:`dd_prefect.orchestration.composite` runs what this module plans.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dd_prefect._version import __version__
from dd_prefect.config.builder import DataDesignerConfig, DataDesignerConfigBuilder
from dd_prefect.config.fingerprint import digest
from dd_prefect.config.io import atomic_write_text
from dd_prefect.config.processors import ProcessorConfig
from dd_prefect.config.run_config import RunConfig
from dd_prefect.config.seeds import IndexRange, PartitionBlock, SamplingStrategy
from dd_prefect.config.workflow_spec import name_problem, output_problem
from dd_prefect.engine.parquet_io import count_rows, parquet_files
from dd_prefect.errors import ConfigIssue, ConfigValidationError, WorkflowError

WORKFLOW_METADATA = "workflow-metadata.json"
StageStatus = Literal["running", "failed", "completed", "completed_empty", "skipped_empty_upstream"]
OnSuccess = Callable[[Path], Any]


@dataclass
class Stage:
    """One stage: a config and how its output is selected and handed on."""

    name: str
    config: DataDesignerConfig
    num_records: int | None = None
    on_success: OnSuccess | None = None
    on_success_version: str | None = None
    output_processors: list[Any] = field(default_factory=list)
    output: str = "final"
    allow_empty: bool = False
    sampling_strategy: SamplingStrategy = SamplingStrategy.ORDERED
    selection_strategy: IndexRange | PartitionBlock | None = None
    review: bool = False

    @property
    def callback_name(self) -> str | None:
        """The callback's name (its managed output directory's name)."""
        if self.on_success is None:
            return None
        return getattr(self.on_success, "__name__", type(self.on_success).__name__)

    def dir_name(self, index: int) -> str:
        return f"stage-{index}-{self.name}"


def make_stage(
    existing: list[Stage],
    name: str,
    config_builder: DataDesignerConfigBuilder | DataDesignerConfig,
    *,
    num_records: int | None,
    on_success: OnSuccess | None,
    on_success_version: str | None,
    output_processors: list[Any] | None,
    output: str,
    allow_empty: bool,
    sampling_strategy: SamplingStrategy | str,
    selection_strategy: IndexRange | PartitionBlock | None,
    review: bool = False,
) -> Stage:
    """Validate a stage definition and build it (the builder is deep-copied).

    Raises ConfigValidationError listing every problem found, each naming the stage.
    """
    problems: list[str] = []
    if problem := name_problem(name):
        problems.append(problem)
    elif any(s.name == name for s in existing):
        problems.append("duplicate stage name")
    if isinstance(config_builder, DataDesignerConfigBuilder):
        config = copy.deepcopy(config_builder).build()
    elif isinstance(config_builder, DataDesignerConfig):
        config = config_builder.model_copy(deep=True)
    else:
        problems.append(
            f"config_builder must be a DataDesignerConfigBuilder, got "
            f"{type(config_builder).__name__}"
        )
        config = DataDesignerConfig()
    if num_records is not None and (
        not isinstance(num_records, int) or isinstance(num_records, bool) or num_records < 0
    ):
        problems.append(f"num_records must be a non-negative int, got {num_records!r}")
    if on_success is not None and not callable(on_success):
        problems.append("on_success must be callable")
    if on_success_version is not None and not isinstance(on_success_version, str):
        problems.append(
            f"on_success_version must be a string, got {type(on_success_version).__name__}"
        )
    if not isinstance(allow_empty, bool):
        problems.append(f"allow_empty must be a bool, got {type(allow_empty).__name__}")
    if not isinstance(review, bool):
        problems.append(f"review must be a bool, got {type(review).__name__}")
    try:
        sampling = SamplingStrategy(sampling_strategy)
    except ValueError:
        problems.append(
            f"sampling_strategy must be one of ordered, shuffle; got {sampling_strategy!r}"
        )
        sampling = SamplingStrategy.ORDERED
    if selection_strategy is not None and not isinstance(
        selection_strategy, IndexRange | PartitionBlock
    ):
        problems.append(
            "selection_strategy must be an IndexRange or PartitionBlock, got "
            f"{type(selection_strategy).__name__}"
        )
    processors = list(output_processors or [])
    from pydantic import TypeAdapter

    adapter: TypeAdapter[Any] = TypeAdapter(ProcessorConfig)
    typed = []
    for processor in processors:
        try:
            typed.append(adapter.validate_python(processor))
        except ValidationError as exc:
            problems.append(f"invalid output processor: {exc.errors()[0]['msg']}")
    own = [p.name for p in config.processors]
    extra = [p.name for p in typed]
    for dup in sorted({n for n in extra if extra.count(n) > 1}):
        problems.append(f"duplicate output processor '{dup}'")
    for clash in sorted(set(extra) & set(own)):
        problems.append(
            f"output processor '{clash}' collides with a processor of the stage's config"
        )
    if not isinstance(output, str):
        problems.append(f"output must be a string, got {type(output).__name__}")
    elif problem := output_problem(output, set(own) | set(extra)):
        problems.append(problem)
    if problems:
        raise ConfigValidationError([ConfigIssue(p, stage=str(name)) for p in problems])
    return Stage(
        name=name,
        config=config,
        num_records=num_records,
        on_success=on_success,
        on_success_version=on_success_version,
        output_processors=typed,
        output=output,
        allow_empty=allow_empty,
        sampling_strategy=sampling,
        selection_strategy=copy.deepcopy(selection_strategy),
        review=review,
    )


def stage_fingerprint(
    stage: Stage,
    num_records: int,
    upstream: str | None,
    run_config: RunConfig,
    *,
    seed_digest: str | None = None,
) -> str:
    """Identity of a stage's output: config, size, strategies, callback version, selection
    of output, library version, the upstream stage's fingerprint, the run settings that
    change rows (seed, on_cell_error) and the first stage's own seed files (`seed_digest`)."""
    return digest(
        {
            "config": stage.config.fingerprint(),
            "seed": run_config.seed,
            "on_cell_error": run_config.on_cell_error,
            "seed_files": seed_digest,
            "num_records": num_records,
            "sampling_strategy": str(stage.sampling_strategy),
            "selection_strategy": (
                stage.selection_strategy.model_dump(mode="json")
                if stage.selection_strategy
                else None
            ),
            "allow_empty": stage.allow_empty,
            "on_success": stage.callback_name,
            "on_success_version": stage.on_success_version,
            "output_processors": [p.model_dump(mode="json") for p in stage.output_processors],
            "output": stage.output,
            "version": __version__,
            "upstream": upstream,
        }
    )


class StageMetadata(BaseModel):
    """One stage's entry in ``workflow-metadata.json`` (paths relative to the workflow)."""

    model_config = ConfigDict(extra="allow")

    index: int
    name: str
    stage_dir: str
    depends_on: list[str] = Field(default_factory=list)
    status: StageStatus = "running"
    fingerprint: str | None = None
    requested_records: int | None = None
    actual_records: int | None = None
    seed_path: str | None = None
    output_path: str | None = None
    callback_output_path: str | None = None
    override_path: str | None = None
    duration: float | None = None
    error: str | None = None


class WorkflowMetadata(BaseModel):
    """``workflow-metadata.json``: the workflow's stages and what became of them."""

    model_config = ConfigDict(extra="allow")

    name: str
    library_version: str = __version__
    stages: list[StageMetadata] = Field(default_factory=list)
    updated_at: float = Field(default_factory=time.time)


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
