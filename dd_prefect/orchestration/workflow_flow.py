"""Composite workflows on Prefect: the workflow is a flow, each stage a subflow.

:func:`run_workflow` checks every stage and plans the run
(:func:`~dd_prefect.workflow.plan.plan_workflow`) before a flow run starts; the workflow
flow then executes the plan. A stage that runs is a subflow named after it: its row groups
are the dataset flow's row-group tasks (persisted, so finished ones come back from the
cache on resume or retry), its output processors a second pass, its ``on_success``
callback a task. ``workflow-metadata.json`` records what became of every stage.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prefect import flow

from dd_prefect.config.seeds import LocalFileSeedSource, read_seed_columns
from dd_prefect.config.stage import Stage
from dd_prefect.config.stage_chain import chain_problems
from dd_prefect.config.stage_dag import sinks_of
from dd_prefect.errors import (
    ConfigIssue,
    ConfigValidationError,
)
from dd_prefect.orchestration.artifacts import WorkflowBoard
from dd_prefect.orchestration.events import workflow_finished
from dd_prefect.orchestration.handoff import bind, current
from dd_prefect.orchestration.runtime import Runtime, flow_attempt, heartbeats, warn
from dd_prefect.orchestration.shards import shard_refusals
from dd_prefect.orchestration.stage_executor import StageExecutor, WorkflowRun
from dd_prefect.workflow.layout import (
    require_parquet,
    seed_pattern,
)
from dd_prefect.workflow.lock import run_lock
from dd_prefect.workflow.plan import (
    WorkflowPlan,
    check_run_options,
    effective_mode,
)
from dd_prefect.workflow.results import (
    CompositeWorkflowResults,
    StageResult,
)


async def run_workflow(run: WorkflowRun, runtime: Runtime) -> CompositeWorkflowResults:
    """Check and plan `run`, then execute it as a Prefect flow run.

    Bad input (a config, an option, a resume that ALWAYS can't do) raises here, before
    a flow run starts and before anything is written. The run holds the workflow's
    directory (:func:`~dd_prefect.workflow.lock.run_lock`) until it ends.
    """
    check_run_options(
        run.stages, run.resume, run.targets, run.rerun_from, run.overrides, workflow=run.name
    )
    for stage, path in run.overrides.items():
        require_parquet(path, f"stage '{stage}': output override")
    check_stages(run.stages, runtime, run.overrides)
    with run_lock(run.layout.dir, wait=runtime.wait_for_lock), heartbeats():
        first_plan = run.plan(runtime, run.resume)
        with bind(run, runtime, first_plan):
            await workflow_flow(
                workflow_name=run.name,
                resume=run.resume.value,
                stages=[s.name for s in first_plan.stages],
                rerun_from=run.rerun_from,
            )
    assert run.results is not None
    return run.results


def check_stages(stages: list[Stage], runtime: Runtime, overrides: Mapping[str, Path]) -> None:
    """Every stage's config, against its providers and the columns its input will have."""
    issues: list[ConfigIssue] = []
    for stage in stages:
        try:
            runtime.check_providers(stage.config)
        except ConfigValidationError as exc:
            issues += exc.in_stage(stage.name).issues
        if runtime.remote_shards(stage.shards):
            issues += [
                ConfigIssue(
                    f"cannot run on shard deployment '{runtime.shard_deployment}': {problem}",
                    stage=stage.name,
                    field="shards",
                )
                for problem in shard_refusals(runtime, stage.config)
            ]
    override_columns = {
        name: set(read_seed_columns(LocalFileSeedSource(path=str(seed_pattern(path)))))
        for name, path in overrides.items()
    }
    issues += chain_problems(stages, override_columns)
    if issues:
        raise ConfigValidationError(issues)


@flow(name="dd-prefect-workflow", flow_run_name="{workflow_name}", persist_result=False)
async def workflow_flow(
    workflow_name: str, resume: str, stages: list[str], rerun_from: str | None
) -> dict[str, str]:
    """The Prefect flow of a composite workflow run; returns each stage's status.

    A Prefect retry of this flow run plans again: what the failed attempt finished is
    reused.
    """
    run, runtime = current(WorkflowRun), current(Runtime)
    attempt = flow_attempt()
    plan = current(WorkflowPlan)
    if attempt > 1:
        plan = run.plan(runtime, effective_mode(run.resume, attempt))
    try:
        run.results = await _execute(plan, run, runtime)
    except BaseException as exc:
        workflow_finished(run.name, run.layout.dir, error=exc)
        raise
    workflow_finished(run.name, run.layout.dir, run.results)
    return {name: result.status for name, result in run.results.items()}


async def _execute(
    plan: WorkflowPlan, run: WorkflowRun, runtime: Runtime
) -> CompositeWorkflowResults:
    if plan.warning:
        warn(plan.warning)
    layout = run.layout
    models: dict[str, Any] = {}
    for sp in plan.stages:
        for model in sp.stage.config.model_configs:
            models.setdefault(model.alias, model)
    executor = StageExecutor(plan, run, runtime, layout)
    async with runtime.models(list(models.values())) as registry:
        # Every model's client (and API key) first: a missing key must fail the run before
        # anything of the earlier run is removed.
        aliases = {alias for sp in plan.stages for alias in sp.stage.config.model_aliases()}
        for alias in sorted(aliases):
            registry.handle(alias)
        if plan.fresh and layout.dir.exists():
            shutil.rmtree(layout.dir)
        layout.dir.mkdir(parents=True, exist_ok=True)
        board = WorkflowBoard(run.name, layout)
        await executor.run_all(registry, board)
    sinks = sinks_of(run.stages, among=set(executor.results))
    results = CompositeWorkflowResults(run.name, layout.dir, executor.results, sinks=sinks)
    if len(sinks) == 1 and isinstance(final := results[sinks[0]], StageResult):
        await board.point_at(final.name, final.output_path, final.actual_records)
    return results
