"""Composite workflows on Prefect: the workflow is a flow, each stage a subflow.

Each stage's row groups are the dataset flow's row-group tasks (results persisted, so
finished ones come back from the cache on resume or retry) and an ``on_success``
callback runs as a task. Which stages are reused, resumed or rerun is decided from
``workflow-metadata.json`` (see :mod:`dd_prefect.workflow.stages`).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.flow_runs import apause_flow_run
from prefect.logging import get_run_logger
from pydantic import BaseModel, Field

from dd_prefect.config.builder import DataDesignerConfig, DataDesignerConfigBuilder
from dd_prefect.config.fingerprint import digest
from dd_prefect.config.seeds import (
    IndexRange,
    LocalFileSeedSource,
    PartitionBlock,
    SamplingStrategy,
    SeedConfig,
    files_digest,
    read_seed_columns,
    seed_files_digest,
)
from dd_prefect.config.workflow_spec import StageLink, WorkflowSpec, chain_problems, name_problem
from dd_prefect.engine.cells import load_callable
from dd_prefect.engine.generator import PARQUET_DIR, PROCESSORS_DIR, DatasetGenerator
from dd_prefect.engine.parquet_io import count_rows, parquet_files
from dd_prefect.errors import ConfigIssue, ConfigValidationError, ResumeError, WorkflowError
from dd_prefect.orchestration.dataset_flow import DatasetRun, ProgressCallback, run_dataset
from dd_prefect.orchestration.runtime import effective_resume, run_sync
from dd_prefect.orchestration.throttle import global_throttle, no_throttle
from dd_prefect.workflow.resume import ResumeMode
from dd_prefect.workflow.stages import (
    OnSuccess,
    Stage,
    StageMetadata,
    WorkflowLayout,
    WorkflowMetadata,
    make_stage,
    output_ready,
    require_parquet,
    stage_fingerprint,
)
from dd_prefect.workflow.workflow_results import (
    CompositeWorkflowResults,
    SkippedStageResult,
    StageResult,
)

if TYPE_CHECKING:
    from dd_prefect.interface import DataDesigner

OUTPUT_PROCESSORS_DIR = "output-processors"
CALLBACK_DIR = "callback-outputs"


class CompositeWorkflow:
    """Named stages run in order; each stage's selected output seeds the next one.

    Create it with ``DataDesigner.compose_workflow(name=...)``. The name is the workflow's
    durable identity: ``<artifact_path>/<name>/`` holds its stages and metadata.
    """

    def __init__(self, designer: DataDesigner, name: str) -> None:
        if problem := name_problem(name, "workflow"):
            raise ConfigValidationError([ConfigIssue(problem, field="name")])
        self.designer = designer
        self.name = name
        self._stages: list[Stage] = []

    @property
    def stages(self) -> list[Stage]:
        """The stages added so far, in order."""
        return list(self._stages)

    @property
    def workflow_dir(self) -> Path:
        return self.designer.artifact_path / self.name

    def add_stage(
        self,
        name: str,
        config_builder: DataDesignerConfigBuilder | DataDesignerConfig,
        *,
        num_records: int | None = None,
        on_success: OnSuccess | None = None,
        on_success_version: str | None = None,
        output_processors: list[Any] | None = None,
        output: str = "final",
        allow_empty: bool = False,
        sampling_strategy: SamplingStrategy | str = SamplingStrategy.ORDERED,
        selection_strategy: IndexRange | PartitionBlock | None = None,
        review: bool = False,
    ) -> CompositeWorkflow:
        """Append a stage (validated now, nothing written); returns the workflow.

        - `num_records`: defaults to the input's row count; larger explodes, smaller shrinks.
        - `on_success(stage_dir) -> path | None`: a returned parquet file or directory
          becomes the stage's selected output (``<stage_dir>/callback-outputs/<name>/`` is
          there for it to write into); set `on_success_version` so resume can trust it.
        - `output_processors`: run as a second pass over the main output.
        - `output`: ``"final"`` or ``"processor:<name>"`` (a callback's path wins).
        - `allow_empty`: an empty output completes the stage and skips the later ones.
        - `review`: pause the workflow after this stage until someone approves it, or
          gives an override path for its output, in the Prefect UI (a human review gate).
        """
        self._stages.append(
            make_stage(
                self._stages,
                name,
                config_builder,
                num_records=num_records,
                on_success=on_success,
                on_success_version=on_success_version,
                output_processors=output_processors,
                output=output,
                allow_empty=allow_empty,
                sampling_strategy=sampling_strategy,
                selection_strategy=selection_strategy,
                review=review,
            )
        )
        return self

    def run(
        self,
        resume: ResumeMode | str = ResumeMode.NEVER,
        targets: list[str] | None = None,
        rerun_from: str | None = None,
        stage_output_overrides: dict[str, str | Path] | None = None,
        *,
        on_progress: Any = None,
    ) -> CompositeWorkflowResults:
        """Run the workflow as a Prefect flow (stages as subflows); see :meth:`arun`."""
        return run_sync(
            self.arun(resume, targets, rerun_from, stage_output_overrides, on_progress=on_progress)
        )

    async def arun(
        self,
        resume: ResumeMode | str = ResumeMode.NEVER,
        targets: list[str] | None = None,
        rerun_from: str | None = None,
        stage_output_overrides: dict[str, str | Path] | None = None,
        *,
        on_progress: Any = None,
    ) -> CompositeWorkflowResults:
        """Run the workflow.

        - `resume`: NEVER starts clean; IF_POSSIBLE reuses matching completed stages,
          resumes a matching partial stage by row group and reruns the first changed stage
          and all after it; ALWAYS raises instead of starting anything fresh.
        - `targets`: run only the stages up to the last of these.
        - `rerun_from`: with a resume mode, force this stage and all after it to rerun.
        - `stage_output_overrides`: ``{stage: path}`` replaces that stage's selected output
          for the stages after it (e.g. a reviewed file).
        """
        plan = self._plan(resume, targets, rerun_from, stage_output_overrides, on_progress)
        _PLANS[plan.token] = plan
        try:
            await workflow_flow(
                workflow_name=self.name,
                resume=plan.mode.value,
                stages=[s.name for s in plan.stages],
                rerun_from=rerun_from,
                run_token=plan.token,
            )
        finally:
            _PLANS.pop(plan.token, None)
        assert plan.results is not None
        return plan.results

    # -- validation before anything runs --------------------------------------------------

    def _plan(self, resume, targets, rerun_from, overrides, on_progress) -> _Plan:
        if not self._stages:
            raise WorkflowError(f"workflow '{self.name}' has no stages; add one with add_stage")
        mode = ResumeMode.parse(resume)
        names = [s.name for s in self._stages]
        last = len(names) - 1
        if targets:
            unknown = [t for t in targets if t not in names]
            if unknown:
                raise WorkflowError(f"unknown target stage(s): {', '.join(unknown)}")
            last = max(names.index(t) for t in targets)
        if rerun_from is not None:
            if mode is ResumeMode.NEVER:
                raise WorkflowError("rerun_from needs resume=IF_POSSIBLE or ALWAYS")
            if rerun_from not in names:
                raise WorkflowError(f"rerun_from names unknown stage '{rerun_from}'")
        resolved: dict[str, Path] = {}
        for stage, path in (overrides or {}).items():
            if stage not in names:
                raise WorkflowError(f"stage_output_overrides names unknown stage '{stage}'")
            resolved[stage] = Path(path).resolve()
            require_parquet(resolved[stage], f"stage '{stage}': output override")
        stages = self._stages[: last + 1]
        self._check_configs(stages, resolved)
        return _Plan(
            workflow=self,
            stages=stages,
            mode=mode,
            rerun_from=rerun_from,
            overrides=resolved,
            on_progress=on_progress,
        )

    def _check_configs(self, stages: list[Stage], overrides: dict[str, Path]) -> None:
        """Every stage's config, against the columns its input will have where knowable."""
        issues: list[ConfigIssue] = []
        for stage in stages:
            try:
                self.designer.check_providers(stage.config)
            except ConfigValidationError as exc:
                issues += [_with_stage(i, stage.name) for i in exc.issues]
        issues += chain_problems(
            [
                StageLink.of(
                    stage,
                    stage.config,
                    override_columns=(
                        set(read_seed_columns(LocalFileSeedSource(path=str(_pattern(path)))))
                        if (path := overrides.get(stage.name))
                        else None
                    ),
                )
                for stage in stages
            ]
        )
        if issues:
            raise ConfigValidationError(issues)


@dataclass
class _Plan:
    workflow: CompositeWorkflow
    stages: list[Stage]
    mode: ResumeMode
    rerun_from: str | None
    overrides: dict[str, Path]
    on_progress: Any
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    results: CompositeWorkflowResults | None = None


@dataclass
class _StageRun:
    """What a stage subflow needs (kept in process, not a flow parameter)."""

    stage: Stage
    index: int
    stage_dir: Path
    generator: DatasetGenerator
    num_records: int
    dataset_mode: ResumeMode
    on_progress: ProgressCallback | None


_PLANS: dict[str, _Plan] = {}
_STAGE_RUNS: dict[str, _StageRun] = {}


@flow(name="dd-prefect-workflow", flow_run_name="{workflow_name}", persist_result=False)
async def workflow_flow(
    workflow_name: str, resume: str, stages: list[str], rerun_from: str | None, run_token: str
) -> dict[str, Any]:
    """The Prefect flow of a composite workflow run; returns each stage's status."""
    plan = _PLANS[run_token]
    mode = effective_resume(plan.mode)
    plan.results = await _run_workflow(plan, mode)
    return {name: result.status for name, result in plan.results.items()}


async def _run_workflow(plan: _Plan, mode: ResumeMode) -> CompositeWorkflowResults:
    logger = get_run_logger()
    workflow = plan.workflow
    designer = workflow.designer
    layout = WorkflowLayout(workflow.workflow_dir)
    prior: WorkflowMetadata | None = None
    if mode is not ResumeMode.NEVER:
        prior, why = layout.read()
        if prior is None:
            if mode is ResumeMode.ALWAYS:
                raise ResumeError(f"cannot resume workflow '{workflow.name}': {why}")
            if layout.metadata_path.exists():
                logger.warning("workflow '%s': %s; starting fresh", workflow.name, why)
    configs = [s.config for s in plan.stages]
    merged = DataDesignerConfig(model_configs=_all_models(configs))
    results: dict[str, StageResult | SkippedStageResult] = {}
    async with designer.models(merged) as registry:
        # Every model's client (and API key) first: a missing key must fail the run before
        # anything of the earlier run is removed.
        for alias in sorted({c.model_alias for cfg in configs for c in cfg.columns if c.is_llm}):
            registry.handle(alias)
        if prior is None and layout.dir.exists():
            shutil.rmtree(layout.dir)
        layout.dir.mkdir(parents=True, exist_ok=True)
        # Earlier records stay until their stage is redone: a run of fewer stages (targets)
        # or a ResumeError must not forget stages that are still reusable.
        metadata = WorkflowMetadata(
            **((prior.model_extra or {}) if prior else {}),
            name=workflow.name,
            stages=list(prior.stages) if prior else [],
        )
        await _run_stages(plan, mode, layout, prior, metadata, registry, results)
    return CompositeWorkflowResults(workflow.name, layout.dir, results)


async def _run_stages(plan, mode, layout, prior, metadata, registry, results) -> None:
    logger = get_run_logger()
    upstream_fp: str | None = None
    input_path: Path | None = None
    empty_upstream: str | None = None
    forced = False  # an earlier stage ran: everything after it runs too
    for index, stage in enumerate(plan.stages):
        stage_dir = layout.dir / stage.dir_name(index)
        before = _prior_stage(prior, index, stage.name)
        entry = StageMetadata(
            **((before.model_extra or {}) if before else {}),
            index=index,
            name=stage.name,
            stage_dir=stage.dir_name(index),
            depends_on=[plan.stages[index - 1].name] if index else [],
        )
        metadata.stages[index : index + 1] = [entry]
        if empty_upstream is not None:
            entry.status = "skipped_empty_upstream"
            results[stage.name] = SkippedStageResult(
                stage.name, f"upstream stage '{empty_upstream}' produced an empty output"
            )
            layout.write(metadata)
            continue

        generator = _stage_generator(plan, stage, index, input_path, registry, upstream_fp)
        num = stage.num_records if stage.num_records is not None else generator.num_seed_rows
        fingerprint = stage_fingerprint(
            stage,
            num or 0,
            upstream_fp,
            plan.workflow.designer.run_config,
            seed_digest=_own_seed_digest(stage) if index == 0 else None,
        )
        entry.fingerprint = fingerprint
        entry.requested_records = num
        entry.seed_path = layout.rel(input_path) if input_path else _own_seed(stage)

        forced = forced or stage.name == plan.rerun_from
        reuse, partial, reason = _decide(stage, before, fingerprint, forced, layout)
        if reuse:
            assert before is not None
            entry = before.model_copy(
                update={
                    "index": entry.index,
                    "depends_on": entry.depends_on,
                    "stage_dir": entry.stage_dir,
                }
            )
            metadata.stages[index] = entry
            output = layout.abs(before.output_path)
            logger.info("stage '%s': reusing completed output", stage.name)
        else:
            # Under ALWAYS only a partial stage, or one after a stage that ran (a resumed
            # partial one, or rerun_from), may run.
            if mode is ResumeMode.ALWAYS and not partial and not forced:
                raise ResumeError(
                    f"cannot resume workflow '{plan.workflow.name}': stage '{stage.name}' {reason}"
                )
            forced = True
            del metadata.stages[index + 1 :]  # records of the stages after it are stale now
            entry.status = "running"
            entry.error = None
            layout.write(metadata)
            dataset_mode = (
                (ResumeMode.ALWAYS if mode is ResumeMode.ALWAYS else ResumeMode.IF_POSSIBLE)
                if partial
                else ResumeMode.NEVER
            )
            began = time.perf_counter()
            run = _StageRun(
                stage=stage,
                index=index,
                stage_dir=stage_dir,
                generator=generator,
                num_records=num or 0,
                dataset_mode=dataset_mode,
                on_progress=_labelled(plan.on_progress, stage.name),
            )
            token = uuid.uuid4().hex
            _STAGE_RUNS[token] = run
            # Leased per stage, not per workflow: a run paused for review holds no slots.
            aliases = sorted({c.model_alias for c in stage.config.columns if c.is_llm})
            designer = plan.workflow.designer
            throttle = (
                global_throttle(registry, aliases)
                if designer.use_global_throttle()
                else no_throttle()
            )
            try:
                async with throttle:
                    outcome = await stage_flow(
                        workflow_name=plan.workflow.name,
                        stage_name=stage.name,
                        stage_index=index,
                        fingerprint=fingerprint,
                        run_token=token,
                    )
            except BaseException as exc:
                entry.status = "failed"
                entry.error = f"{type(exc).__name__}: {exc}"
                entry.duration = time.perf_counter() - began
                layout.write(metadata)
                raise
            finally:
                _STAGE_RUNS.pop(token, None)
            output = Path(outcome["output_path"])
            entry.output_path = layout.rel(output)
            entry.callback_output_path = (
                layout.rel(Path(outcome["callback_output_path"]))
                if outcome["callback_output_path"]
                else None
            )
            entry.actual_records = outcome["records"]
            entry.duration = time.perf_counter() - began
            if entry.actual_records == 0:
                if not stage.allow_empty:
                    entry.status = "failed"
                    entry.error = "produced an empty output"
                    layout.write(metadata)
                    raise WorkflowError(
                        f"stage '{stage.name}' produced an empty output (set allow_empty=True "
                        "to let the workflow stop there instead)"
                    )
                entry.status = "completed_empty"
            else:
                entry.status = "completed"
        assert output is not None
        if entry.status == "completed_empty":
            empty_upstream = stage.name
        if stage.review and entry.status == "completed":
            decision = await _review(stage, reuse, entry, lambda: layout.write(metadata))
            if decision.override_path:
                plan.overrides[stage.name] = Path(decision.override_path).resolve()
        override = plan.overrides.get(stage.name)
        entry.override_path = layout.rel(override) if override else None
        layout.write(metadata)
        results[stage.name] = StageResult(  # an override is what the stage hands on
            stage.name,
            entry.status,
            _dataset_dir(stage, stage_dir),
            override or output,
            fingerprint,
        )
        input_path = override or output
        upstream_fp = (
            fingerprint if override is None else digest([fingerprint, _files_digest(override)])
        )


class ReviewDecision(BaseModel):
    """The form a reviewer fills in the Prefect UI when a stage waits for review."""

    approve: bool = Field(
        default=True, description="Continue with the stage's output (or the override)."
    )
    override_path: str | None = Field(
        default=None,
        description="A parquet file or directory to seed the next stages from instead.",
    )
    note: str | None = Field(default=None, description="Why (kept in workflow metadata).")


async def _review(
    stage: Stage, reused: bool, entry: StageMetadata, save: Callable[[], None]
) -> ReviewDecision:
    """Pause the workflow flow run until a reviewer answers (a reused stage keeps the
    decision recorded in its metadata). Metadata says ``"review": "pending"`` meanwhile;
    a rejection marks the stage failed."""
    recorded = (entry.model_extra or {}).get("review")
    if reused and isinstance(recorded, dict):
        return ReviewDecision.model_validate(recorded)
    entry.review = "pending"
    save()
    get_run_logger().info(
        "stage '%s' is waiting for review: resume this flow run in the Prefect UI to approve "
        "it, or give an override_path for its output",
        stage.name,
    )
    decision = await apause_flow_run(
        wait_for_input=ReviewDecision,
        # Read at call time, so a process (or test) can change them after import.
        timeout=int(os.environ.get("DD_PREFECT_REVIEW_TIMEOUT", str(7 * 24 * 3600))),
        poll_interval=int(os.environ.get("DD_PREFECT_REVIEW_POLL_SECONDS", "5")),
        key=f"review-{stage.name}",
    )
    if decision.override_path:  # recorded absolute: a resumed run may start elsewhere
        decision.override_path = str(Path(decision.override_path).resolve())
    entry.review = decision.model_dump()
    if not decision.approve:
        entry.status = "failed"
        entry.error = "rejected in review"
        save()
        raise WorkflowError(
            f"stage '{stage.name}' was rejected in review"
            + (f": {decision.note}" if decision.note else "")
        )
    if decision.override_path:
        require_parquet(Path(decision.override_path), f"stage '{stage.name}': review override")
    return decision


def _decide(stage, before, fingerprint, forced, layout) -> tuple[bool, bool, str]:
    """(reuse, resume partial, why not reusable) for one stage."""
    if forced:
        return False, False, "must rerun because an earlier stage ran"
    if before is None:
        return False, False, "has no record in the earlier run"
    if before.fingerprint != fingerprint:
        return False, False, "changed since the earlier run (fingerprint differs)"
    if before.status in ("running", "failed"):
        return False, True, "did not finish in the earlier run"
    if stage.on_success is not None and stage.on_success_version is None:
        return False, False, "has an on_success callback without on_success_version"
    if before.status == "completed_empty":
        return True, False, ""
    if not output_ready(layout.abs(before.output_path), before.actual_records):
        return False, False, "lost its selected output"
    if before.callback_output_path and not layout.abs(before.callback_output_path).exists():
        return False, False, "lost its callback output"
    return True, False, ""


def _stage_generator(plan, stage, index, input_path, registry, upstream_fp) -> DatasetGenerator:
    config = stage.config
    if index > 0:
        config = config.model_copy(
            update={
                "seed_config": SeedConfig(
                    source=LocalFileSeedSource(path=str(_pattern(input_path))),
                    sampling_strategy=stage.sampling_strategy,
                    selection_strategy=stage.selection_strategy,
                )
            }
        )
    # Row groups are keyed by content, not by paths: a moved workflow still resumes. The
    # config fingerprint leaves out operational knobs (max_parallel_requests, timeout).
    own_seed = (
        [
            stage.config.seed_config.model_dump(mode="json", exclude={"source"}),
            _own_seed_digest(stage),
            _own_seed(stage),
        ]
        if index == 0 and stage.config.seed_config is not None
        else None
    )
    key = digest(
        [
            stage.config.model_copy(update={"seed_config": None}).fingerprint(),
            str(stage.sampling_strategy),
            stage.selection_strategy.model_dump() if stage.selection_strategy else None,
            own_seed,
            stage.name,
            upstream_fp,
            index,
        ]
    )
    try:
        return DatasetGenerator(
            config, plan.workflow.designer.run_config, registry, fingerprint=key
        )
    except ConfigValidationError as exc:
        raise ConfigValidationError([_with_stage(i, stage.name) for i in exc.issues]) from None


@flow(name="dd-prefect-stage", flow_run_name="{stage_name}", persist_result=False)
async def stage_flow(
    workflow_name: str, stage_name: str, stage_index: int, fingerprint: str, run_token: str
) -> dict[str, Any]:
    """One stage as a subflow: main pass, output-processor pass, on_success callback."""
    run = _STAGE_RUNS[run_token]
    stage = run.stage
    main = await run_dataset(
        DatasetRun(
            name=stage.name,
            base_dir=run.stage_dir,
            generator=run.generator,
            num_records=run.num_records,
            resume=run.dataset_mode,
            on_progress=run.on_progress,
        )
    )
    main_rows = main.metadata.actual_records
    base = run.stage_dir
    if stage.output_processors and main_rows > 0:
        config = DataDesignerConfig(
            seed_config=SeedConfig(
                source=LocalFileSeedSource(path=str(run.stage_dir / PARQUET_DIR / "*.parquet"))
            ),
            processors=stage.output_processors,
        )
        generator = DatasetGenerator(
            config,
            run.generator.run_config,
            run.generator.models,
            fingerprint=digest([fingerprint, "output-processors"]),
        )
        base = run.stage_dir / OUTPUT_PROCESSORS_DIR
        await run_dataset(
            DatasetRun(
                name=f"{stage.name}-output-processors",
                base_dir=base,
                generator=generator,
                num_records=main_rows,
                resume=run.dataset_mode,
            )
        )
    output = _selected_output(stage, run.stage_dir, base)
    callback_output = None
    if stage.on_success is not None:
        callback_dir = run.stage_dir / CALLBACK_DIR / (stage.callback_name or "on_success")
        callback_dir.mkdir(parents=True, exist_ok=True)
        _CALLBACKS[run_token] = stage.on_success
        try:
            returned = await on_success_task(
                callback_name=stage.callback_name or "on_success",
                stage_dir=str(run.stage_dir),
                run_token=run_token,
            )
        finally:
            _CALLBACKS.pop(run_token, None)
        if returned is not None:
            callback_output = Path(returned).resolve()
            require_parquet(callback_output, f"stage '{stage.name}': on_success returned a path")
            output = callback_output
    records = count_rows(parquet_files(output)) if output.exists() else 0
    return {
        "output_path": str(output),
        "callback_output_path": str(callback_output) if callback_output else None,
        "records": records,
    }


_CALLBACKS: dict[str, OnSuccess] = {}


@task(name="on-success", task_run_name="{callback_name}", cache_policy=NO_CACHE)
async def on_success_task(callback_name: str, stage_dir: str, run_token: str) -> str | None:
    """Run a stage's on_success callback (a sync one off the event loop)."""
    callback = _CALLBACKS[run_token]
    if inspect.iscoroutinefunction(callback):
        result = await callback(Path(stage_dir))
    else:
        result = await asyncio.to_thread(callback, Path(stage_dir))
    return None if result is None else str(result)


def workflow_from_spec(designer: DataDesigner, spec: WorkflowSpec) -> CompositeWorkflow:
    """A CompositeWorkflow for a WorkflowSpec (callbacks imported from their paths)."""
    workflow = CompositeWorkflow(designer, spec.name)
    for stage in spec.stages:
        workflow.add_stage(
            stage.name,
            spec.stage_config(stage),
            num_records=stage.num_records,
            on_success=load_callable(stage.on_success) if stage.on_success else None,
            on_success_version=stage.on_success_version,
            output_processors=stage.output_processors,
            output=stage.output,
            allow_empty=stage.allow_empty,
            sampling_strategy=stage.sampling_strategy,
            selection_strategy=stage.selection_strategy,
            review=stage.review,
        )
    return workflow


def _selected_output(stage: Stage, stage_dir: Path, base: Path) -> Path:
    if stage.output.startswith("processor:"):
        name = stage.output.removeprefix("processor:")
        own = {p.name for p in stage.config.processors}
        root = stage_dir if name in own else base
        return root / PROCESSORS_DIR / name
    return base / PARQUET_DIR


def _dataset_dir(stage: Stage, stage_dir: Path) -> Path:
    if stage.output_processors and (stage_dir / OUTPUT_PROCESSORS_DIR).exists():
        return stage_dir / OUTPUT_PROCESSORS_DIR
    return stage_dir


def _own_seed(stage: Stage) -> str | None:
    seed = stage.config.seed_config
    return seed.source.path if seed and isinstance(seed.source, LocalFileSeedSource) else None


def _pattern(path: Path) -> Path:
    return path / "*.parquet" if path.is_dir() else path


def _files_digest(path: Path) -> str:
    return files_digest(parquet_files(path))


def _own_seed_digest(stage: Stage) -> str | None:
    """Digest of the first stage's own seed files (an edit in place reruns the stage)."""
    return seed_files_digest(stage.config.seed_config)


def _prior_stage(prior: WorkflowMetadata | None, index: int, name: str) -> StageMetadata | None:
    if prior is None or index >= len(prior.stages):
        return None
    before = prior.stages[index]
    return before if before.name == name else None


def _with_stage(issue: ConfigIssue, stage: str) -> ConfigIssue:
    return ConfigIssue(issue.message, column=issue.column, stage=stage, field=issue.field)


def _all_models(configs: list[DataDesignerConfig]) -> list[Any]:
    seen: dict[str, Any] = {}
    for config in configs:
        for model in config.model_configs:
            seen.setdefault(model.alias, model)
    return list(seen.values())


def _labelled(callback: Any, label: str) -> ProgressCallback | None:
    if callback is None:
        return None
    return lambda done, total, records: callback(done, total, records, label)


__all__ = ["CompositeWorkflow", "workflow_from_spec"]
