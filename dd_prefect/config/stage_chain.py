"""Checks over a workflow's stages: the graph, and each stage's config against the
columns its input has.

Columns a stage receives from its upstream stages are inferred statically where possible,
so a reference to a column no earlier stage produces is caught before anything runs;
where an `on_success` callback makes the input unknowable, that check waits until the
stage's real input exists.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from dd_prefect.config.builder import DataDesignerConfig
from dd_prefect.config.processors import (
    DropColumnsProcessorConfig,
    SchemaTransformProcessorConfig,
)
from dd_prefect.config.seeds import SamplingStrategy, read_seed_columns
from dd_prefect.config.stage import Stage
from dd_prefect.config.stage_dag import dag_problems, upstreams_of
from dd_prefect.config.validation import OWN_SEED, validate_config
from dd_prefect.errors import ConfigIssue


def chain_problems(
    stages: list[Stage], override_columns: dict[str, set[str]] | None = None
) -> list[ConfigIssue]:
    """Check the stage graph (:func:`dag_problems`), then each stage's config against the
    columns its input will have.

    A root stage (the first, or one with ``depends_on=[]``) is checked against its own
    seed; each other one against the columns its upstreams hand on, joined as its `join`
    says, inferred statically (or `override_columns[stage]`, the columns of a file
    replacing that stage's output). Where they can't be known (an on_success callback, a
    callable join), references wait for the real input. A stage's output processors are
    checked against its main output's columns. Also: a root stage needs num_records or a
    seed, and takes no sampling/selection strategy (its own seed's apply); other stages
    have no seed.
    """
    issues = dag_problems(stages)
    if issues:  # the columns stages receive follow the graph: check it first
        return issues
    upstreams = upstreams_of(stages)
    handed: dict[str, set[str] | None] = {}
    overrides = override_columns or {}
    for index, stage in enumerate(stages):
        ups = upstreams[stage.name]
        root = not ups
        which = "the first stage" if index == 0 else "a root stage (depends_on=[])"
        if root and stage.config.seed_config is None and stage.num_records is None:
            issues.append(
                ConfigIssue(
                    f"{which} needs num_records (it has no input to count)",
                    stage=stage.name,
                    field="num_records",
                )
            )
        if not root and stage.config.seed_config is not None:
            issues.append(
                ConfigIssue(
                    "only the first stage (or a root stage, depends_on=[]) may have its own "
                    "seed dataset; other stages are seeded by their upstream stages",
                    stage=stage.name,
                    field="config.seed_config",
                )
            )
        if root:
            issues += _first_stage_strategy_problems(stage)
        input_columns = None if root else _joined_columns(stage, [handed[u] for u in ups])
        seed_columns: Any = OWN_SEED if root else input_columns
        issues += validate_config(
            stage.config, seed_columns=seed_columns, stage=stage.name, raise_on_error=False
        )
        if stage.output_processors:
            main_columns = selected_output_columns(
                stage.config,
                input_columns=input_columns,
                output_processors=[],
                output="final",
                has_callback=False,
                first=root,
            )
            issues += output_processor_problems(stage, main_columns)
        handed[stage.name] = (
            overrides[stage.name]
            if stage.name in overrides
            else selected_output_columns(
                stage.config,
                input_columns=input_columns,
                output_processors=stage.output_processors,
                output=stage.output,
                has_callback=stage.on_success is not None,
                first=root,
            )
        )
    return issues


def _joined_columns(stage: Stage, inputs: list[set[str] | None]) -> set[str] | None:
    """The columns of a stage's input: its one upstream's, or the join of several (None
    when any is unknown, or the join is user code)."""
    if stage.join is None:
        return inputs[0]
    if stage.join.is_callable or any(columns is None for columns in inputs):
        return None
    joined = set().union(*(c for c in inputs if c is not None))
    if stage.join.source_column is not None:
        joined.add(stage.join.source_column)
    return joined


def _first_stage_strategy_problems(stage: Stage) -> list[ConfigIssue]:
    """A root stage is seeded by its own seed config, never by the workflow: strategies
    given to the stage itself would be silently ignored."""
    issues = []
    hint = (
        "is ignored on the first stage (the workflow seeds only later stages); set "
        "sampling/selection on the first stage's own seed (with_seed_dataset, or "
        "config.seed_config in a spec)"
    )
    if str(stage.sampling_strategy) != SamplingStrategy.ORDERED.value:
        issues.append(
            ConfigIssue(f"sampling_strategy {hint}", stage=stage.name, field="sampling_strategy")
        )
    if stage.selection_strategy is not None:
        issues.append(
            ConfigIssue(f"selection_strategy {hint}", stage=stage.name, field="selection_strategy")
        )
    return issues


def output_processor_problems(stage: Stage, main_columns: set[str] | None) -> list[ConfigIssue]:
    """Check a stage's output processors against the columns of its main output (None:
    unknown, so only what needs no columns is checked, e.g. Jinja syntax).

    Duplicate names are left to the stage checks (`stage_problems`).
    """
    config = DataDesignerConfig(processors=stage.output_processors)
    issues = validate_config(
        config, seed_columns=main_columns, stage=stage.name, raise_on_error=False
    )
    out = []
    for issue in issues:
        if issue.field == "processors":  # duplicate processor names
            continue
        field = issue.field
        if field is not None and field.startswith("processors"):
            field = "output_" + field
        out.append(ConfigIssue(issue.message, column=issue.column, stage=stage.name, field=field))
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


__all__ = ["chain_problems", "output_processor_problems", "selected_output_columns"]
