"""Previewing one stage of a workflow in memory: its upstream stages first, chained as a
run chains them, nothing written and no Prefect."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import pandas as pd

from dd_prefect.config.builder import DataDesignerConfig
from dd_prefect.config.seeds import DataFrameSeedSource, SeedConfig
from dd_prefect.config.stage import Stage
from dd_prefect.config.stage_dag import upstreams_of
from dd_prefect.engine.seed_reader import SeedReader
from dd_prefect.errors import ConfigValidationError, WorkflowError
from dd_prefect.workflow.join import join_preview
from dd_prefect.workflow.results import PreviewResults
from dd_prefect.workflow.stage_graph import selected_stages

UPSTREAM_PREVIEW_ROWS = 10
"""Rows each stage BEFORE the previewed one makes at most (or `num_records`, if larger)."""

PreviewFn = Callable[[DataDesignerConfig, int], Awaitable[PreviewResults]]


@dataclass
class StagePreview:
    """A previewed stage: its main rows, its selected output, its errors, and notes on how
    the preview differs from a run (on_success callbacks are not run)."""

    dataset: pd.DataFrame
    output: str
    selected: pd.DataFrame
    errors: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


async def preview_stage(
    stages: list[Stage], target: str, num_records: int, preview: PreviewFn
) -> StagePreview:
    """Preview stage `target` (nothing written).

    Each stage it depends on is previewed first, seeded from the selected output of its
    upstream stage (or the join of several) as a run seeds it (a DataFrame seed with the
    stage's sampling and selection strategy), then its output processors run as a second
    pass. A stage makes its num_records rows (without num_records: its input's selected
    rows), capped at `num_records` for `target` and at max(num_records, 10) for the ones
    before it.
    on_success callbacks are not run (they need a stage directory on disk).
    """
    names = [s.name for s in stages]
    if target not in names:
        raise WorkflowError(f"no stage '{target}' (stages: {', '.join(names)})")
    upstreams = upstreams_of(stages)
    outputs: dict[str, pd.DataFrame] = {}
    notes: list[str] = []
    for stage in selected_stages(stages, [target]):
        last = stage.name == target
        cap = num_records if last else max(num_records, UPSTREAM_PREVIEW_ROWS)
        config = stage.config
        ups = upstreams[stage.name]
        if ups:
            frames = {u: outputs[u] for u in ups}
            empty = [u for u, frame in frames.items() if len(frame) == 0]
            if empty and (stage.join is None or stage.join.skips_on_empty(len(empty), len(ups))):
                raise WorkflowError(
                    f"stage '{empty[0]}' produced no rows in the preview, so stage "
                    f"'{stage.name}' has no input to preview"
                )
            fed = {u: frame for u, frame in frames.items() if len(frame)}
            source = (
                fed[ups[0]] if stage.join is None else join_preview(stage.name, stage.join, fed)
            )
            seed = SeedConfig(
                source=DataFrameSeedSource(df=source),
                sampling_strategy=stage.sampling_strategy,
                selection_strategy=stage.selection_strategy,
            )
            config = config.model_copy(update={"seed_config": seed})
        count = stage.num_records
        if count is None and config.seed_config is not None:
            count = SeedReader(config.seed_config, seed=None, fingerprint="preview").num_rows
        count = min(count if count is not None else cap, cap)
        with _naming_stage(stage.name):
            results = await preview(config, count)
        main, produced = results.dataset, dict(results.processor_outputs)
        errors = dict(results.summary["errors"])
        if stage.output_processors and len(main):
            post = DataDesignerConfig(
                seed_config=SeedConfig(source=DataFrameSeedSource(df=main)),
                processors=stage.output_processors,
            )
            with _naming_stage(stage.name):
                second = await preview(post, len(main))
            main = second.dataset
            produced.update(second.processor_outputs)
            for kind, n in second.summary["errors"].items():
                errors[kind] = errors.get(kind, 0) + n
        selected = main
        if stage.output.startswith("processor:"):  # a processor with no output hands on none
            selected = produced.get(stage.output.removeprefix("processor:"), pd.DataFrame())
        if stage.on_success is not None:
            what = stage.on_success if isinstance(stage.on_success, str) else stage.callback_name
            notes.append(f"stage '{stage.name}': on_success {what} is not run in a preview")
        if last:
            return StagePreview(main, stage.output, selected, errors, notes)
        outputs[stage.name] = selected
    raise AssertionError("unreachable: the target stage is among the selected stages")


@contextlib.contextmanager
def _naming_stage(stage: str) -> Iterator[None]:
    """Config problems met while previewing a stage (e.g. a reference to a column only an
    on_success callback, not run here, would add) name the stage."""
    try:
        yield
    except ConfigValidationError as exc:
        raise exc.in_stage(stage) from None
