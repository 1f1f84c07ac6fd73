"""Spec files: a whole run (stages, models, run config) or one dataset, loaded from YAML.

A spec is what the CLI and Prefect deployments run. :func:`load_spec` is the one loader:
it reads a workflow spec (``stages:``), a dataset spec (``config:``) or a plain config,
and validates it with the same rules as the Python API, naming the stage, column and
field at fault in every message.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dd_prefect.config.builder import DataDesignerConfig
from dd_prefect.config.errors import config_error_from
from dd_prefect.config.io import load_file
from dd_prefect.config.models import ModelConfig, ModelProvider
from dd_prefect.config.run_config import RunConfig
from dd_prefect.config.stage import (
    Stage,
    name_problem,
    shown_issues,
    stage_problems,
    strict_count,
    strict_shards,
)
from dd_prefect.config.stage_chain import chain_problems
from dd_prefect.config.validation import validate_config
from dd_prefect.errors import ConfigIssue, ConfigValidationError


def _strict_run_config(value: object) -> object:
    """A spec's run_config mapping, validated strictly: its counts must be whole numbers
    (``buffer_size: true`` or ``"3"`` is an error, not 1 or 3)."""
    if isinstance(value, dict):
        return RunConfig.model_validate(value, strict=True)
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
    stages: list[Stage]
    shard_deployment: str | None = None  # where stages with shards > 1 run their shards

    _run_config = field_validator("run_config", mode="before")(_strict_run_config)

    @classmethod
    def from_file(cls, path: str | Path) -> WorkflowSpec:
        """Load and validate a workflow spec file (see :func:`load_spec`)."""
        spec = load_spec(path)
        if not isinstance(spec, WorkflowSpec):
            raise ConfigValidationError.of(f"{path} is not a workflow spec (it has no stages)")
        return spec

    def stage_config(self, stage: Stage) -> DataDesignerConfig:
        """The stage's config with the spec's shared model configs merged in (stage wins)."""
        own = {m.alias for m in stage.config.model_configs}
        shared = [m for m in self.model_configs if m.alias not in own]
        return stage.config.model_copy(
            update={"model_configs": [*stage.config.model_configs, *shared]}
        )

    def resolved_stages(self) -> list[Stage]:
        """The stages as they run: each with the spec's shared model configs merged in."""
        return [s.model_copy(update={"config": self.stage_config(s)}) for s in self.stages]

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

        stages = self.resolved_stages()
        for stage in stages:
            issues += stage_problems(stage)
            for model in stage.config.model_configs:
                if provider_names and model.provider and model.provider not in provider_names:
                    issues.append(
                        ConfigIssue(
                            f"model '{model.alias}' names unknown provider '{model.provider}'",
                            stage=stage.name,
                        )
                    )
        issues += chain_problems(stages)
        if issues:
            raise ConfigValidationError(shown_issues(issues))


class DatasetSpec(BaseModel):
    """A YAML-loadable single dataset: one config, its providers, run config and size.

    A plain config file (top-level ``columns``) loads as a DatasetSpec named after the file.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = "dataset"
    model_providers: list[ModelProvider] = Field(default_factory=list)
    run_config: RunConfig = Field(default_factory=RunConfig)
    num_records: int | None = None
    config: DataDesignerConfig
    shards: int = 1  # spread the row groups over this many shard flow runs
    shard_deployment: str | None = None  # whose flow runs they are (None: this process)

    _run_config = field_validator("run_config", mode="before")(_strict_run_config)

    _count = field_validator("num_records", mode="before")(strict_count)

    _shards = field_validator("shards", mode="before")(strict_shards)

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
            raise ConfigValidationError(shown_issues(issues))


def load_spec(
    path: str | Path, *, num_records: int | None = None, shards: int | None = None
) -> WorkflowSpec | DatasetSpec:
    """Load a workflow spec (has ``stages``), a dataset spec (has ``config``) or a plain
    config file, and validate it; errors name the stage, column or field at fault.

    `num_records` and `shards`, when given, replace the dataset's, or the FIRST stage's
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
    overrides = {"num_records": num_records, "shards": shards}
    data = _with_first(data, **{k: v for k, v in overrides.items() if v is not None})
    try:
        spec = cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigValidationError(
            shown_issues(config_error_from(exc, data=data).issues)
        ) from None
    spec.validate_spec()
    return spec


def _with_first(data: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """`data` with `fields` overridden: the dataset's, or the first stage's of a workflow."""
    data = dict(data)
    stages = data.get("stages")
    if "stages" not in data:
        data.update(fields)
    elif isinstance(stages, list) and stages and isinstance(stages[0], dict):
        data["stages"] = [{**stages[0], **fields}, *stages[1:]]
    return data


__all__ = ["DatasetSpec", "WorkflowSpec", "load_spec"]
