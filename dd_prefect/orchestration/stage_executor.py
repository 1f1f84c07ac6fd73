"""Executing a workflow plan: its stages as subflows, each as soon as its upstreams are
done, with ``workflow-metadata.json`` kept up to date as each one ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from dd_prefect.config.join import JoinSpec
from dd_prefect.config.stage import Stage
from dd_prefect.config.stage_dag import upstreams_of
from dd_prefect.engine.generator import DatasetGenerator
from dd_prefect.engine.llm import ModelRegistry
from dd_prefect.errors import (
    ConfigValidationError,
    DataDesignerError,
    WorkflowError,
)
from dd_prefect.orchestration.artifacts import WorkflowBoard
from dd_prefect.orchestration.events import stage_finished
from dd_prefect.orchestration.handoff import bind
from dd_prefect.orchestration.review import review_gate
from dd_prefect.orchestration.runtime import Runtime
from dd_prefect.orchestration.stage_flow import StageRun, stage_flow
from dd_prefect.orchestration.stage_leases import StageLeases
from dd_prefect.workflow.budget import BudgetScope, spent_in
from dd_prefect.workflow.join import JOINS_DIR, materialize_join
from dd_prefect.workflow.keys import (
    handoff_fingerprint,
    own_seed_path,
    stage_rows_key,
    upstream_identity,
)
from dd_prefect.workflow.layout import (
    WorkflowLayout,
    content_digest,
    stage_dataset_dir,
)
from dd_prefect.workflow.metadata import StageMetadata, WorkflowMetadata
from dd_prefect.workflow.plan import (
    Action,
    StagePlan,
    WorkflowPlan,
    empty_upstream,
    hands_on_nothing,
    plan_workflow,
)
from dd_prefect.workflow.results import (
    CompositeWorkflowResults,
    SkippedStageResult,
    StageResult,
)
from dd_prefect.workflow.resume import ResumeMode
from dd_prefect.workflow.stage_graph import descendants
from dd_prefect.workflow.stage_inputs import input_seed, resolve_stage

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
    retry_failed: bool = False  # regenerate the failed rows of completed stages

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
            retry_failed=self.retry_failed,
        )


class StageExecutor:
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
        reused = [layout.dir / sp.dir_name for sp in plan.stages if sp.action is Action.REUSE]
        self.budget = BudgetScope(runtime.run_config, spent_in(reused))  # the run's budgets

    def save(self) -> None:
        self.layout.write(self.metadata)

    def put(self, entry: StageMetadata) -> None:
        kept = [e for e in self.metadata.stages if e.index != entry.index]
        self.metadata.stages = sorted([*kept, entry], key=lambda e: e.index)

    async def run_all(self, registry: ModelRegistry, board: WorkflowBoard) -> None:
        """Run the plan's stages, each as soon as its upstreams are done, at most
        ``max_parallel_stages`` at once. When one fails, the running ones finish and no
        new one starts; then the run fails naming every failed stage."""
        done = {sp.name: asyncio.Event() for sp in self.plan.stages}
        slots = asyncio.Semaphore(self.runtime.run_config.max_parallel_stages)
        failed: dict[str, Exception] = {}

        async def one(sp: StagePlan) -> None:
            try:
                for upstream in sp.upstreams:
                    if upstream in done:
                        await done[upstream].wait()
                async with slots:
                    if failed:
                        return
                    try:
                        await self.stage(sp, registry)
                    except Exception as exc:
                        failed[sp.name] = exc
                    finally:  # the run's stage table in the UI, as each stage ends
                        await board.publish(self.metadata)
            finally:
                done[sp.name].set()

        self.leases = StageLeases(self.runtime, registry)
        async with asyncio.TaskGroup() as group:
            for sp in self.plan.stages:
                group.create_task(one(sp), name=f"stage {sp.name}")
        if len(failed) == 1:
            raise next(iter(failed.values()))
        if failed:
            names = ", ".join(f"'{n}'" for n in failed)
            details = "; ".join(str(e) for e in failed.values())
            raise WorkflowError(f"stages {names} failed: {details}") from next(
                iter(failed.values())
            )

    async def stage(self, sp: StagePlan, registry: ModelRegistry) -> None:
        stage = sp.stage
        before = sp.prior
        entry = StageMetadata(
            **((before.model_extra or {}) if before else {}),
            index=sp.index,
            name=stage.name,
            stage_dir=sp.dir_name,
            depends_on=list(sp.upstreams),
            join=stage.join.model_dump(mode="json") if stage.join else None,
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
                    "join": entry.join,
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

    def _failed(self, entry: StageMetadata, exc: BaseException) -> None:
        """Record that a stage failed with `exc`."""
        entry.status = "failed"
        entry.error = f"{type(exc).__name__}: {exc}"
        self.put(entry)
        self.save()
        stage_finished(self.run.name, self.layout.dir, entry)

    async def _generate(
        self, sp: StagePlan, entry: StageMetadata, registry: ModelRegistry
    ) -> tuple[Path, str]:
        """Run one stage (rerun, or resume by row group); returns its output and fingerprint."""
        stage, layout = sp.stage, self.layout
        fed = [u for u in sp.upstreams if not hands_on_nothing(self.statuses.get(u))]
        handoffs = [self.handed[u][1] for u in fed]
        upstream = upstream_identity(stage, handoffs)
        inputs = tuple(self.handed[u][0] for u in fed)
        if stage.join is not None:
            try:
                joined = await join_task(
                    stage_name=stage.name,
                    join=stage.join.model_dump(mode="json"),
                    inputs={u: str(self.handed[u][0]) for u in fed},
                    out_dir=str(layout.dir / JOINS_DIR / sp.dir_name),
                )
            except Exception as exc:
                self._failed(entry, exc)
                raise
            inputs = (Path(joined),)
        if sp.fingerprint is not None and sp.num_records is not None:
            fingerprint, num = sp.fingerprint, sp.num_records  # planned: upstreams reused
        else:  # its upstreams ran in this run, or its joined input was just written
            fingerprint, count = resolve_stage(
                stage,
                inputs,
                handoffs,
                self.runtime.run_config,
                joined=inputs[0] if stage.join else None,
            )
            assert count is not None
            num = count
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
            retry_failed=self.run.retry_failed,
            budget=self.budget,
            on_progress=(
                (lambda d, t, r: on_progress(d, t, r, stage.name)) if on_progress else None
            ),
        )
        began = time.perf_counter()
        # Remote shards lease their own shares; this process makes none of their requests.
        remote = self.runtime.remote_shards(stage.shards)
        aliases = [] if remote else stage.config.model_aliases()
        try:
            # Leased while a stage that uses the model runs (one lease per model however
            # many stages run at once): a run paused for review holds no slots.
            async with self.leases.hold(aliases):
                with bind(stage_run):
                    outcome = await stage_flow(
                        workflow_name=self.run.name,
                        stage_name=stage.name,
                        stage_index=sp.index,
                        fingerprint=fingerprint,
                    )
        except BaseException as exc:
            entry.duration = time.perf_counter() - began
            self._failed(entry, exc)
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


@task(name="join", task_run_name="{stage_name}", cache_policy=NO_CACHE)
async def join_task(
    stage_name: str, join: dict[str, Any], inputs: dict[str, str], out_dir: str
) -> str:
    """Write a stage's joined input (its upstreams' outputs, in ``depends_on`` order) and
    return its path; pandas and user code run off the event loop."""
    path = await asyncio.to_thread(
        materialize_join,
        stage_name,
        JoinSpec.model_validate(join),
        {name: Path(p) for name, p in inputs.items()},
        Path(out_dir),
    )
    return str(path)


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
