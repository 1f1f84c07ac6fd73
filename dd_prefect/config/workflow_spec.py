"""`WorkflowSpec`: a YAML-loadable description of a whole run (stages, models, run config).

It is what the CLI and Prefect deployments run. A spec validates with the same rules as a
single config, with the stage named in every message. Columns a stage receives from the
stage before it are inferred statically where possible, so `dd-prefect validate` catches a
reference to a column no earlier stage produces; where an `on_success` callback makes the
input unknowable, that check waits until the stage's real input exists.
"""

from __future__ import annotations

import fnmatch
import importlib
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dd_prefect.config.builder import DataDesignerConfig
from dd_prefect.config.errors import config_error_from
from dd_prefect.config.io import load_file
from dd_prefect.config.models import ModelConfig, ModelProvider
from dd_prefect.config.processors import (
    DropColumnsProcessorConfig,
    ProcessorConfig,
    SchemaTransformProcessorConfig,
)
from dd_prefect.config.run_config import RunConfig
from dd_prefect.config.seeds import SamplingStrategy, SelectionStrategy, read_seed_columns
from dd_prefect.config.validation import OWN_SEED, validate_config
from dd_prefect.errors import ConfigIssue, ConfigValidationError

_BAD_NAME_CHARS = set('<>:"/\\|?*')
_CALLABLE_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def name_problem(name: Any, what: str = "stage") -> str | None:
    """Why `name` can't name a stage or workflow (it becomes a directory), or None."""
    if not isinstance(name, str) or not name.strip():
        return f"{what} name must be a non-empty string"
    if name in (".", ".."):
        return f"{what} name must not be '.' or '..'"
    bad = sorted(set(name) & _BAD_NAME_CHARS)
    if bad:
        return f'{what} name {name!r} must not contain any of <>:"/\\|?* (found {"".join(bad)})'
    return None


def output_problem(output: str, processor_names: set[str]) -> str | None:
    """Why `output` is not "final" or "processor:<a known processor>", or None."""
    if output == "final":
        return None
    if not output.startswith("processor:"):
        return f"output must be 'final' or 'processor:<name>', got {output!r}"
    name = output.removeprefix("processor:")
    if name not in processor_names:
        known = ", ".join(sorted(processor_names)) or "none"
        return f"output names unknown processor '{name}' (known: {known})"
    return None


class StageSpec(BaseModel):
    """One stage of a workflow spec."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    name: str
    config: DataDesignerConfig = Field(default_factory=DataDesignerConfig)
    num_records: int | None = Field(default=None, ge=0)
    output: str = "final"
    output_processors: list[ProcessorConfig] = Field(default_factory=list)
    on_success: str | None = None
    on_success_version: str | None = None
    allow_empty: bool = False
    sampling_strategy: SamplingStrategy = SamplingStrategy.ORDERED
    selection_strategy: SelectionStrategy | None = None
    review: bool = False

    @field_validator("on_success")
    @classmethod
    def _callable_path(cls, value: str | None) -> str | None:
        if value is not None and not _CALLABLE_PATH.fullmatch(value):
            raise ValueError(f"on_success must look like 'pkg.module:function', got {value!r}")
        return value


class WorkflowSpec(BaseModel):
    """A named run: model providers and configs shared by its stages, run config, stages."""

    # Errors never echo the input: a literal api key given to a provider by mistake is
    # rejected, and must not reach a log through this (outermost) model's error text.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: str
    model_providers: list[ModelProvider] = Field(default_factory=list)
    model_configs: list[ModelConfig] = Field(default_factory=list)
    run_config: RunConfig = Field(default_factory=RunConfig)
    stages: list[StageSpec]

    @classmethod
    def from_file(cls, path: str | Path) -> WorkflowSpec:
        """Load and validate a spec file; errors name the stage and column at fault."""
        data = load_file(path)
        if not isinstance(data, dict):
            raise ConfigValidationError([ConfigIssue(f"{path} does not hold a mapping")])
        try:
            spec = cls.model_validate(data)
        except ValidationError as exc:
            raise config_error_from(exc, data=data) from None
        spec.validate_spec()
        return spec

    def stage_config(self, stage: StageSpec) -> DataDesignerConfig:
        """The stage's config with the spec's shared model configs merged in (stage wins)."""
        own = {m.alias for m in stage.config.model_configs}
        shared = [m for m in self.model_configs if m.alias not in own]
        return stage.config.model_copy(
            update={"model_configs": [*stage.config.model_configs, *shared]}
        )

    def validate_spec(self) -> None:
        """Raise ConfigValidationError listing every problem in the spec."""
        issues: list[ConfigIssue] = []
        if problem := name_problem(self.name, "workflow"):
            issues.append(ConfigIssue(problem, field="name"))
        if not self.stages:
            issues.append(ConfigIssue("a workflow needs at least one stage", field="stages"))
        provider_names = [p.name for p in self.model_providers]
        for name, count in Counter(provider_names).items():
            if count > 1:
                issues.append(ConfigIssue(f"duplicate model provider '{name}'"))
        for name, count in Counter(s.name for s in self.stages).items():
            if count > 1:
                issues.append(ConfigIssue("duplicate stage name", stage=name))

        for stage in self.stages:
            config = self.stage_config(stage)
            issues += stage_problems(stage, config)
            for model in config.model_configs:
                if provider_names and model.provider and model.provider not in provider_names:
                    issues.append(
                        ConfigIssue(
                            f"model '{model.alias}' names unknown provider '{model.provider}'",
                            stage=stage.name,
                        )
                    )
        issues += chain_problems(
            [StageLink.of(stage, self.stage_config(stage)) for stage in self.stages]
        )
        if issues:
            raise ConfigValidationError(issues)


def stage_problems(stage: StageSpec, config: DataDesignerConfig) -> list[ConfigIssue]:
    """Stage-level checks: name, output selector, processor names, on_success import."""
    issues: list[ConfigIssue] = []

    def add(message: str, field: str | None = None) -> None:
        issues.append(ConfigIssue(message, stage=stage.name, field=field))

    if problem := name_problem(stage.name):
        add(problem, field="name")
    own = [p.name for p in config.processors]
    extra = [p.name for p in stage.output_processors]
    for name, count in Counter(extra).items():
        if count > 1:
            add(f"duplicate output processor '{name}'", field="output_processors")
    for name in sorted(set(extra) & set(own)):
        add(
            f"output processor '{name}' collides with a processor of the stage's config",
            field="output_processors",
        )
    if problem := output_problem(stage.output, set(own) | set(extra)):
        add(problem, field="output")
    if stage.on_success is not None and (problem := callable_problem(stage.on_success)):
        add(problem, field="on_success")
    return issues


def callable_problem(path: str) -> str | None:
    """Why ``"pkg.module:function"`` does not import as a callable, or None.

    Imports the module (as running the stage would): a user module may fail at import
    with any error, which is reported rather than raised.
    """
    module, _, attr = path.partition(":")
    try:
        target = getattr(importlib.import_module(module), attr)
    except Exception as exc:
        return f"cannot import '{path}': {type(exc).__name__}: {exc}"
    if not callable(target):
        return f"'{path}' is not callable"
    return None


@dataclass
class StageLink:
    """What checking a chain of stages needs to know of one stage."""

    name: str
    config: DataDesignerConfig
    num_records: int | None
    output_processors: list[Any]
    output: str
    has_callback: bool
    override_columns: set[str] | None = None  # columns of a file replacing its output

    @classmethod
    def of(
        cls,
        stage: Any,
        config: DataDesignerConfig,
        override_columns: set[str] | None = None,
    ) -> StageLink:
        """The link for a stage of a spec (StageSpec) or of a workflow (Stage) alike."""
        return cls(
            name=stage.name,
            config=config,
            num_records=stage.num_records,
            output_processors=stage.output_processors,
            output=stage.output,
            has_callback=stage.on_success is not None,
            sampling_strategy=stage.sampling_strategy,
            selection_strategy=stage.selection_strategy,
            override_columns=override_columns,
        )

    # How the stage walks its input; only stages after the first are seeded by the
    # workflow, so these must stay at their defaults on the first stage.
    sampling_strategy: SamplingStrategy | str = SamplingStrategy.ORDERED
    selection_strategy: Any = None


def chain_problems(links: list[StageLink]) -> list[ConfigIssue]:
    """Check each stage's config against the columns its input will have.

    The first stage is checked against its own seed; each later one against the columns
    the stage before it hands on, inferred statically (or those of an override file).
    Where they can't be known (an on_success callback), references wait for the real
    input. A stage's output processors are checked against its main output's columns.
    Also: the first stage needs num_records or a seed, and takes no sampling/selection
    strategy (its own seed's apply); later ones have no seed.
    """
    issues: list[ConfigIssue] = []
    input_columns: set[str] | None = None
    for index, link in enumerate(links):
        first = index == 0
        if first and link.config.seed_config is None and link.num_records is None:
            issues.append(
                ConfigIssue(
                    "the first stage needs num_records (it has no input to count)",
                    stage=link.name,
                    field="num_records",
                )
            )
        if not first and link.config.seed_config is not None:
            issues.append(
                ConfigIssue(
                    "only the first stage may have its own seed dataset; later stages are "
                    "seeded by the stage before them",
                    stage=link.name,
                    field="config.seed_config",
                )
            )
        if first:
            issues += _first_stage_strategy_problems(link)
        seed_columns: Any = OWN_SEED if first else input_columns
        issues += validate_config(
            link.config, seed_columns=seed_columns, stage=link.name, raise_on_error=False
        )
        if link.output_processors:
            main_columns = selected_output_columns(
                link.config,
                input_columns=input_columns,
                output_processors=[],
                output="final",
                has_callback=False,
                first=first,
            )
            issues += output_processor_problems(link, main_columns)
        input_columns = (
            link.override_columns
            if link.override_columns is not None
            else selected_output_columns(
                link.config,
                input_columns=input_columns,
                output_processors=link.output_processors,
                output=link.output,
                has_callback=link.has_callback,
                first=first,
            )
        )
    return issues


def _first_stage_strategy_problems(link: StageLink) -> list[ConfigIssue]:
    """The first stage is seeded by its own seed config, never by the workflow: strategies
    given to the stage itself would be silently ignored."""
    issues = []
    hint = (
        "is ignored on the first stage (the workflow seeds only later stages); set "
        "sampling/selection on the first stage's own seed (with_seed_dataset, or "
        "config.seed_config in a spec)"
    )
    if str(link.sampling_strategy) != SamplingStrategy.ORDERED.value:
        issues.append(
            ConfigIssue(f"sampling_strategy {hint}", stage=link.name, field="sampling_strategy")
        )
    if link.selection_strategy is not None:
        issues.append(
            ConfigIssue(f"selection_strategy {hint}", stage=link.name, field="selection_strategy")
        )
    return issues


def output_processor_problems(link: StageLink, main_columns: set[str] | None) -> list[ConfigIssue]:
    """Check a stage's output processors against the columns of its main output (None:
    unknown, so only what needs no columns is checked, e.g. Jinja syntax).

    Duplicate names are left to the stage checks (`stage_problems`, `make_stage`).
    """
    config = DataDesignerConfig(processors=link.output_processors)
    issues = validate_config(
        config, seed_columns=main_columns, stage=link.name, raise_on_error=False
    )
    out = []
    for issue in issues:
        if issue.field == "processors":  # duplicate processor names
            continue
        field = issue.field
        if field is not None and field.startswith("processors"):
            field = "output_" + field
        out.append(ConfigIssue(issue.message, column=issue.column, stage=link.name, field=field))
    return out


def selected_output_columns(
    config: DataDesignerConfig,
    *,
    input_columns: set[str] | None,
    output_processors: list[Any],
    output: str,
    has_callback: bool,
    first: bool,
) -> set[str] | None:
    """Columns of what a stage hands to the next one, or None when it can't be known."""
    if has_callback:
        return None
    if first:
        input_columns = set()
        if config.seed_config is not None:
            try:
                input_columns = set(read_seed_columns(config.seed_config.source))
            except (ValueError, OSError):
                return None
    if input_columns is None:
        return None
    columns = set(input_columns)
    for column in config.columns:
        (columns.discard if column.drop else columns.add)(column.name)
    processors = {p.name: p for p in [*config.processors, *output_processors]}
    for processor in processors.values():
        if isinstance(processor, DropColumnsProcessorConfig):
            for pattern in processor.column_names:
                columns -= set(fnmatch.filter(sorted(columns), pattern))
    if output.startswith("processor:"):
        selected = processors.get(output.removeprefix("processor:"))
        if isinstance(selected, SchemaTransformProcessorConfig):
            return set(selected.template)
        return None
    return columns


__all__ = [
    "DatasetSpec",
    "StageLink",
    "StageSpec",
    "WorkflowSpec",
    "callable_problem",
    "chain_problems",
    "load_spec",
    "name_problem",
    "output_problem",
    "output_processor_problems",
    "selected_output_columns",
    "stage_problems",
]


class DatasetSpec(BaseModel):
    """A YAML-loadable single dataset: one config, its providers, run config and size.

    A plain config file (top-level ``columns``) loads as a DatasetSpec named after the file.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = "dataset"
    model_providers: list[ModelProvider] = Field(default_factory=list)
    run_config: RunConfig = Field(default_factory=RunConfig)
    num_records: int | None = Field(default=None, ge=0)
    config: DataDesignerConfig

    def validate_spec(self) -> None:
        """Raise ConfigValidationError listing every problem in the spec."""
        issues: list[ConfigIssue] = []
        if problem := name_problem(self.name, "dataset"):
            issues.append(ConfigIssue(problem, field="name"))
        if self.config.seed_config is None and self.num_records is None:
            issues.append(
                ConfigIssue("num_records is required without a seed dataset", field="num_records")
            )
        issues += validate_config(self.config, raise_on_error=False)
        if issues:
            raise ConfigValidationError(issues)


def load_spec(path: str | Path, *, num_records: int | None = None) -> WorkflowSpec | DatasetSpec:
    """Load a workflow spec (has ``stages``), a dataset spec (has ``config``) or a plain
    config file, and validate it; errors name the stage, column or field at fault.

    `num_records`, when given, replaces the dataset's num_records, or the FIRST stage's
    for a workflow spec (later stages keep theirs), before validation.
    """
    path = Path(path)
    try:
        data = load_file(path)
    except FileNotFoundError:
        raise ConfigValidationError([ConfigIssue(f"spec file {path} does not exist")]) from None
    except Exception as exc:  # YAML/JSON syntax
        raise ConfigValidationError([ConfigIssue(f"cannot parse {path}: {exc}")]) from None
    if not isinstance(data, dict):
        raise ConfigValidationError([ConfigIssue(f"{path} does not hold a mapping")])
    if "stages" in data:
        cls: type[WorkflowSpec] | type[DatasetSpec] = WorkflowSpec
    else:
        cls = DatasetSpec
        if "config" not in data:
            data = {"name": path.stem, "config": data}
    if num_records is not None:
        data = _with_num_records(data, num_records)
    try:
        spec = cls.model_validate(data)
    except ValidationError as exc:
        raise config_error_from(exc) from None
    spec.validate_spec()
    return spec


def _with_num_records(data: dict[str, Any], num_records: int) -> dict[str, Any]:
    """`data` with num_records overridden (the first stage's in a workflow spec)."""
    data = dict(data)
    stages = data.get("stages")
    if "stages" not in data:
        data["num_records"] = num_records
    elif isinstance(stages, list) and stages and isinstance(stages[0], dict):
        data["stages"] = [{**stages[0], "num_records": num_records}, *stages[1:]]
    return data
