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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.logging import get_run_logger

from dd_prefect.config.seeds import LocalFileSeedSource, read_seed_columns
from dd_prefect.config.stage import Stage
from dd_prefect.config.stage_chain import chain_problems
from dd_prefect.engine.generator import DatasetGenerator
from dd_prefect.engine.llm import ModelRegistry
from dd_prefect.errors import (
    ConfigIssue,
    ConfigValidationError,
    DataDesignerError,
    WorkflowError,
)
from dd_prefect.orchestration.artifacts import WorkflowBoard
from dd_prefect.orchestration.events import stage_finished, workflow_finished
from dd_prefect.orchestration.handoff import bind, current
from dd_prefect.orchestration.review import review_gate
from dd_prefect.orchestration.runtime import Runtime, flow_attempt, heartbeats, warn
from dd_prefect.orchestration.stage_flow import StageRun, stage_flow
from dd_prefect.workflow.keys import handoff_fingerprint, own_seed_path, stage_rows_key
from dd_prefect.workflow.layout import (
    WorkflowLayout,
    content_digest,
    require_parquet,
    seed_pattern,
    stage_dataset_dir,
)
from dd_prefect.workflow.lock import run_lock
from dd_prefect.workflow.metadata import StageMetadata, WorkflowMetadata
from dd_prefect.workflow.plan import (
    Action,
    StagePlan,
    WorkflowPlan,
    check_run_options,
    effective_mode,
    empty_upstream,
    input_seed,
    plan_workflow,
    resolve_stage,
)
from dd_prefect.workflow.results import (
    CompositeWorkflowResults,
    SkippedStageResult,
    StageResult,
)
from dd_prefect.workflow.resume import ResumeMode
from dd_prefect.workflow.stage_graph import descendants, upstreams_of

WorkflowProgress = Callable[[int, int, int, str], None]
"""``on_progress(row groups done, row groups in all, records so far, stage name)``."""


@dataclass
class WorkflowRun:
    """One run of a workflow: what its flow needs beyond its parameters."""

    name: str
    stages: list[Stage]
    layout: WorkflowLayout
    resume: ResumeMode = ResumeMode.NEVER
    targets: list[str] | None = None
    rerun_from: str | None = None
    overrides: dict[str, Path] = field(default_factory=dict)
    on_progress: WorkflowProgress | None = None
    results: CompositeWorkflowResults | None = None

    def plan(self, runtime: Runtime, mode: ResumeMode) -> WorkflowPlan:
        """This run's plan under `mode` (raises before anything runs)."""
        return plan_workflow(
            self.name,
            self.stages,
            self.layout,
            runtime.run_config,
            mode,
            targets=self.targets,
            rerun_from=self.rerun_from,
            overrides=self.overrides,
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
    executor = _Executor(plan, run, runtime, layout)
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
        for sp in plan.stages:
            try:
                await executor.stage(sp, registry)
            finally:  # the run's stage table in the UI, as each stage ends
                await board.publish(executor.metadata)
    results = CompositeWorkflowResults(run.name, layout.dir, executor.results)
    final = results[plan.stages[-1].name]
    if isinstance(final, StageResult):
        await board.point_at(final.name, final.output_path, final.actual_records)
    return results


class _Executor:
    """Runs a plan's stages in order, keeping ``workflow-metadata.json`` up to date.

    Earlier records stay until their stage is redone: a run of fewer stages (targets) or
    a ResumeError must not forget stages that are still reusable.
    """

    def __init__(
        self, plan: WorkflowPlan, run: WorkflowRun, runtime: Runtime, layout: WorkflowLayout
    ) -> None:
        self.plan, self.run, self.runtime, self.layout = plan, run, runtime, layout
        prior = plan.prior
        self.metadata = WorkflowMetadata(
            **((prior.model_extra or {}) if prior else {}),
            name=run.name,
            stages=list(prior.stages) if prior else [],
        )
        self.overrides = dict(plan.overrides)
        self.results: dict[str, StageResult | SkippedStageResult] = {}
        self.statuses: dict[str, str] = {}
        self.handed: dict[str, tuple[Path, str]] = {}  # stage -> (output, fingerprint)

    def save(self) -> None:
        self.layout.write(self.metadata)

    def put(self, entry: StageMetadata) -> None:
        kept = [e for e in self.metadata.stages if e.index != entry.index]
        self.metadata.stages = sorted([*kept, entry], key=lambda e: e.index)

    async def stage(self, sp: StagePlan, registry: ModelRegistry) -> None:
        stage = sp.stage
        before = sp.prior
        entry = StageMetadata(
            **((before.model_extra or {}) if before else {}),
            index=sp.index,
            name=stage.name,
            stage_dir=sp.dir_name,
            depends_on=list(sp.upstreams),
        )
        skipped = sp.reason if sp.action is Action.SKIP else empty_upstream(sp, self.statuses)
        if skipped:
            entry.status = "skipped_empty_upstream"
            self.put(entry)
            self.save()
            self.statuses[stage.name] = entry.status
            self.results[stage.name] = SkippedStageResult(stage.name, skipped)
            stage_finished(self.run.name, self.layout.dir, entry, reason=skipped)
            return
        if sp.action is Action.REUSE:
            assert before is not None and sp.fingerprint is not None
            entry = before.model_copy(
                update={
                    "index": sp.index,
                    "depends_on": list(sp.upstreams),
                    "stage_dir": sp.dir_name,
                }
            )
            self.put(entry)
            output = self.layout.abs(before.output_path)
            assert output is not None
            fingerprint = sp.fingerprint
            get_run_logger().info("stage '%s': reusing completed output", stage.name)
        else:
            output, fingerprint = await self._generate(sp, entry, registry)
        if stage.review and entry.status == "completed":
            decision = await review_gate(stage, sp.action is Action.REUSE, entry, self.save)
            if decision.override_path:
                self.overrides[stage.name] = Path(decision.override_path).resolve()
        override = self.overrides.get(stage.name)
        entry.override_path = self.layout.rel(override) if override else None
        self.save()
        stage_dir = self.layout.dir / sp.dir_name
        self.results[stage.name] = StageResult(  # an override is what the stage hands on
            stage.name,
            entry.status,
            stage_dataset_dir(stage, stage_dir),
            override or output,
            fingerprint,
        )
        self.statuses[stage.name] = entry.status
        if sp.action is Action.REUSE and sp.handed is not None and sp.handoff is not None:
            self.handed[stage.name] = (sp.handed, sp.handoff)  # verified by the plan
        else:
            # The output was hashed as the stage ended: only an override is hashed here.
            content = content_digest(override) if override else entry.output_digest
            self.handed[stage.name] = (
                override or output,
                handoff_fingerprint(fingerprint, content),
            )
        reused = sp.action is Action.REUSE
        stage_finished(
            self.run.name, self.layout.dir, entry, output=override or output, reused=reused
        )

    async def _generate(
        self, sp: StagePlan, entry: StageMetadata, registry: ModelRegistry
    ) -> tuple[Path, str]:
        """Run one stage (rerun, or resume by row group); returns its output and fingerprint."""
        stage, layout = sp.stage, self.layout
        if sp.inputs is not None and sp.fingerprint is not None and sp.num_records is not None:
            inputs, fingerprint, num = sp.inputs, sp.fingerprint, sp.num_records
            upstream = next((self.handed[u][1] for u in sp.upstreams), None)
        else:  # its upstreams ran in this run
            inputs = tuple(self.handed[u][0] for u in sp.upstreams)
            handoffs = [self.handed[u][1] for u in sp.upstreams]
            fingerprint, num = resolve_stage(stage, inputs, handoffs, self.runtime.run_config)
            upstream = handoffs[0] if handoffs else None
        entry.fingerprint = fingerprint
        entry.requested_records = num
        entry.seed_path = layout.rel(inputs[0]) if inputs else own_seed_path(stage)
        stale = descendants(upstreams_of(self.run.stages), stage.name)
        self.metadata.stages = [e for e in self.metadata.stages if e.name not in stale]
        entry.status = "running"
        entry.error = None
        self.put(entry)
        self.save()
        config = stage.config.model_copy(update={"seed_config": input_seed(stage, inputs)})
        key = stage_rows_key(stage, sp.index, upstream, root=not sp.upstreams)
        try:
            generator = DatasetGenerator(config, self.runtime.run_config, registry, fingerprint=key)
        except ConfigValidationError as exc:
            raise exc.in_stage(stage.name) from None
        on_progress = self.run.on_progress
        stage_run = StageRun(
            stage=stage,
            stage_dir=layout.dir / sp.dir_name,
            generator=generator,
            num_records=num,
            dataset_mode=sp.dataset_mode(self.plan.mode),
            on_progress=(
                (lambda d, t, r: on_progress(d, t, r, stage.name)) if on_progress else None
            ),
        )
        began = time.perf_counter()
        aliases = stage.config.model_aliases()
        try:
            # Leased per stage, not per workflow: a run paused for review holds no slots.
            async with self.runtime.throttle(registry, aliases):
                with bind(stage_run):
                    outcome = await stage_flow(
                        workflow_name=self.run.name,
                        stage_name=stage.name,
                        stage_index=sp.index,
                        fingerprint=fingerprint,
                    )
        except BaseException as exc:
            entry.status = "failed"
            entry.error = f"{type(exc).__name__}: {exc}"
            entry.duration = time.perf_counter() - began
            self.save()
            stage_finished(self.run.name, layout.dir, entry)
            named = naming_stage(exc, stage.name)
            if named is exc:
                raise
            raise named from exc
        output = Path(outcome.output_path)
        entry.output_path = layout.rel(output)
        entry.output_digest = content_digest(output)
        entry.callback_output_path = (
            layout.rel(Path(outcome.callback_output_path)) if outcome.callback_output_path else None
        )
        entry.actual_records = outcome.records
        entry.duration = time.perf_counter() - began
        if outcome.records == 0 and not stage.allow_empty:
            entry.status = "failed"
            entry.error = "produced an empty output"
            self.save()
            stage_finished(self.run.name, layout.dir, entry)
            raise WorkflowError(
                f"stage '{stage.name}' produced an empty output (set allow_empty=True to let "
                "the workflow stop there instead)"
            )
        entry.status = "completed" if outcome.records else "completed_empty"
        return output, fingerprint


def naming_stage(exc: BaseException, stage: str) -> BaseException:
    """`exc` with a message naming `stage`: one of ours keeps its type (its message gets
    the stage in front); anything else becomes a WorkflowError caused by it. Cancellation,
    interrupts and errors already naming the stage pass through as they are."""
    if not isinstance(exc, Exception) or f"stage '{stage}'" in str(exc):
        return exc
    if isinstance(exc, DataDesignerError):
        exc.args = (f"stage '{stage}': {exc}", *exc.args[1:])
        return exc
    return WorkflowError(f"stage '{stage}' failed: {type(exc).__name__}: {exc}")
