"""A workflow stage: one config and how its output is selected and handed on.

One model serves both ways of defining a workflow: ``add_stage(...)`` in Python builds it
with :meth:`Stage.of`, and each entry of a spec's ``stages:`` validates into it. The
checks that need more than the stage's own fields (a callback that must import, output
selectors against processor names) are :func:`stage_problems`, used by both.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dd_prefect.config.builder import DataDesignerConfig, DataDesignerConfigBuilder
from dd_prefect.config.callables import CALLABLE_PATH, callable_problem, load_callable
from dd_prefect.config.errors import config_error_from
from dd_prefect.config.join import JoinSpec
from dd_prefect.config.names import MAX_NAME_BYTES, name_problem, shown_name
from dd_prefect.config.processors import ProcessorConfig
from dd_prefect.config.seeds import IndexRange, PartitionBlock, SamplingStrategy, SelectionStrategy
from dd_prefect.errors import ConfigIssue, ConfigValidationError

OnSuccess = Callable[[Path], Any]
"""``fn(stage_dir) -> path | None``, sync or async, run after a stage's output is written."""


def shown_issues(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    """`issues` with the stage and column names they show made safe to print
    (:func:`shown_name`): a bad name is reported, not echoed."""
    return [
        dataclasses.replace(
            issue,
            stage=None if issue.stage is None else shown_name(issue.stage),
            column=None if issue.column is None else shown_name(issue.column),
        )
        for issue in issues
    ]


def count_problem(value: object, what: str = "num_records") -> str | None:
    """Why `value` is not a count (a non-negative int; not a bool, float or string)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return f"{what} must be a non-negative int, got {value!r}"
    return None


def shards_problem(value: object) -> str | None:
    """Why `value` is not a shard count (an int of at least 1)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        return f"shards must be an int of at least 1, got {value!r}"
    return None


def strict_shards(value: object) -> object:
    """A before-validator for a shard count (an int of at least 1)."""
    if problem := shards_problem(value):
        raise ValueError(problem)
    return value


def strict_count(value: object) -> object:
    """A before-validator for an optional count: None or a non-negative int (``true``,
    ``1.5`` and ``"3"`` are refused, not read as 1, 1 and 3)."""
    if value is not None and (problem := count_problem(value)):
        raise ValueError(problem)
    return value


def check_name(name: object, what: str) -> str:
    """`name`, or ConfigValidationError saying why it can't name a `what`."""
    if problem := name_problem(name, what):
        raise ConfigValidationError.of(problem, field="name")
    assert isinstance(name, str)
    return name


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


class Stage(BaseModel):
    """One stage of a workflow.

    - `config`: what the stage generates; a later stage is seeded by the selected output
      of the stage before it (with `sampling_strategy` and `selection_strategy`).
    - `num_records`: defaults to the input's row count; larger explodes, smaller shrinks.
    - `on_success`: ``fn(stage_dir) -> path | None`` or ``"pkg.module:function"``; a
      returned parquet file or directory becomes the stage's selected output. Set
      `on_success_version` so resume can trust its earlier output.
    - `output_processors`: run as a second pass over the main output.
    - `output`: ``"final"`` or ``"processor:<name>"`` (a callback's path wins).
    - `allow_empty`: an empty output completes the stage and skips the ones after it.
    - `review`: pause after this stage until someone approves it in the Prefect UI.
    - `depends_on`: the upstream stages (None: the stage before; ``[]``: a root stage).
    - `join`: how several upstreams' outputs become this stage's input
      (:class:`~dd_prefect.config.join.JoinSpec`); `join_version` versions a callable join.
    - `shards`: spread the stage's row groups over this many shard flow runs (in this
      process, or on a shard deployment's workers); the output is the same whatever it is.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    name: str
    config: DataDesignerConfig = Field(default_factory=DataDesignerConfig)
    num_records: int | None = None
    on_success: str | OnSuccess | None = None
    on_success_version: str | None = None
    output_processors: list[ProcessorConfig] = Field(default_factory=list)
    output: str = "final"
    allow_empty: bool = False
    sampling_strategy: SamplingStrategy = SamplingStrategy.ORDERED
    selection_strategy: SelectionStrategy | None = None
    review: bool = False
    depends_on: list[str] | None = None
    join: JoinSpec | None = None
    join_version: str | None = None
    shards: int = 1

    @classmethod
    def of(
        cls,
        name: str,
        config_builder: DataDesignerConfigBuilder | DataDesignerConfig,
        **options: Any,
    ) -> Stage:
        """A stage from a builder or config (deep-copied) and `options` (the fields above).

        Raises ConfigValidationError listing every problem, each naming the stage.
        """
        issues: list[ConfigIssue] = []
        config = DataDesignerConfig()
        if isinstance(config_builder, DataDesignerConfigBuilder):
            config = copy.deepcopy(config_builder).build(skip_validation=True)
        elif isinstance(config_builder, DataDesignerConfig):
            config = config_builder.model_copy(deep=True)
        else:
            issues.append(
                ConfigIssue(
                    "config_builder must be a DataDesignerConfigBuilder, got "
                    f"{type(config_builder).__name__}",
                    stage=str(name),
                )
            )
        if "selection_strategy" in options:  # the caller may reuse its object
            options["selection_strategy"] = copy.deepcopy(options["selection_strategy"])
        try:
            stage = cls.model_validate({"name": name, "config": config, **options})
        except ValidationError as exc:
            raise ConfigValidationError(
                shown_issues(issues + config_error_from(exc).in_stage(str(name)).issues)
            ) from None
        issues += stage_problems(stage)
        if issues:
            raise ConfigValidationError(shown_issues(issues))
        return stage

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: object) -> object:
        if not isinstance(value, str):  # the rest of name_problem is in stage_problems
            raise ValueError(name_problem(value))
        return value

    _count = field_validator("num_records", mode="before")(strict_count)

    _shards = field_validator("shards", mode="before")(strict_shards)

    @field_validator("output_processors", mode="before")
    @classmethod
    def _processors(cls, value: object) -> object:
        return [] if value is None else value

    @field_validator("on_success", mode="before")
    @classmethod
    def _callback(cls, value: object) -> object:
        if value is None or callable(value):
            return value
        if isinstance(value, str) and CALLABLE_PATH.fullmatch(value):
            return value
        raise ValueError(
            f"on_success must be callable or look like 'pkg.module:function', got {value!r}"
        )

    @field_validator("depends_on", mode="before")
    @classmethod
    def _upstreams(cls, value: object) -> object:
        if value is None or (
            isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        ):
            return None if value is None else list(value)
        raise ValueError(f"depends_on must be a list of stage names, got {value!r}")

    @field_validator("on_success_version", "join_version", "output", mode="before")
    @classmethod
    def _text(cls, value: object, info: Any) -> object:
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{info.field_name} must be a string, got {type(value).__name__}")
        return value

    @field_validator("allow_empty", "review", mode="before")
    @classmethod
    def _flag(cls, value: object, info: Any) -> object:
        if not isinstance(value, bool):
            raise ValueError(f"{info.field_name} must be a bool, got {type(value).__name__}")
        return value

    @field_validator("sampling_strategy", mode="before")
    @classmethod
    def _sampling(cls, value: object) -> object:
        options = [s.value for s in SamplingStrategy]
        if isinstance(value, SamplingStrategy) or value in options:
            return value
        raise ValueError(f"sampling_strategy must be one of {', '.join(options)}; got {value!r}")

    @field_validator("selection_strategy", mode="before")
    @classmethod
    def _selection(cls, value: object) -> object:
        if value is None or isinstance(value, IndexRange | PartitionBlock):
            return value
        if isinstance(value, dict) and "kind" in value:  # a spec's mapping: whole numbers only
            models: dict[str, type[BaseModel]] = {
                "index_range": IndexRange,
                "partition_block": PartitionBlock,
            }
            model = models.get(value["kind"])
            return value if model is None else model.model_validate(value, strict=True)
        raise ValueError(
            "selection_strategy must be an IndexRange or PartitionBlock, got "
            f"{type(value).__name__}"
        )

    @property
    def callback_name(self) -> str | None:
        """The callback's name (its managed output directory's name)."""
        if self.on_success is None:
            return None
        if isinstance(self.on_success, str):
            return self.on_success.partition(":")[2]
        return getattr(self.on_success, "__name__", type(self.on_success).__name__)

    def callback(self) -> OnSuccess | None:
        """The on_success callable (imported now when given as a path)."""
        if isinstance(self.on_success, str):
            return load_callable(self.on_success)
        return self.on_success

    def dir_name(self, index: int) -> str:
        """The stage's directory inside the workflow directory."""
        return f"stage-{index}-{self.name}"


def stage_problems(stage: Stage) -> list[ConfigIssue]:
    """Checks beyond the types of a stage's fields: its name (it becomes a directory),
    processor names, the output selector, and that an on_success path imports. Each issue
    names the stage. Spec validation reports them with every other problem at once."""
    issues: list[ConfigIssue] = []

    def add(message: str, field: str) -> None:
        issues.append(ConfigIssue(message, stage=stage.name, field=field))

    if problem := name_problem(stage.name):
        add(problem, "name")
    own = [p.name for p in stage.config.processors]
    extra = [p.name for p in stage.output_processors]
    for name, count in Counter(extra).items():
        if count > 1:
            add(f"duplicate output processor '{name}'", "output_processors")
    for name in sorted(set(extra) & set(own)):
        add(
            f"output processor '{name}' collides with a processor of the stage's config",
            "output_processors",
        )
    if problem := output_problem(stage.output, set(own) | set(extra)):
        add(problem, "output")
    if isinstance(stage.on_success, str) and (problem := callable_problem(stage.on_success)):
        add(problem, "on_success")
    join = stage.join
    if join is not None and join.is_callable and (problem := callable_problem(join.mode)):
        add(problem, "join")
    return issues


__all__ = [
    "MAX_NAME_BYTES",
    "OnSuccess",
    "Stage",
    "check_name",
    "count_problem",
    "name_problem",
    "output_problem",
    "shards_problem",
    "shown_issues",
    "shown_name",
    "stage_problems",
    "strict_count",
    "strict_shards",
]
