"""Planning a run: what to reuse, resume, rerun or skip. The one place resume is decided.

From the stages (a DAG: each stage lists its upstreams), the earlier run's metadata and
the resume mode, :func:`plan_workflow` makes a :class:`WorkflowPlan`: for each stage one
:class:`Action` with the reason, its fingerprint, resolved ``num_records`` and input paths
where they are known before anything runs. :func:`plan_dataset` does the same for one
dataset. Nothing here imports Prefect; orchestration only executes a plan.

The rules (README "Resume"):

- ``NEVER`` starts clean: every stage reruns.
- ``IF_POSSIBLE`` reuses a stage whose fingerprint matches and whose output is intact,
  resumes a matching stage that did not finish (by row group), and reruns a changed stage
  with everything downstream of it. Unreadable metadata starts fresh (with a warning).
- ``ALWAYS`` is IF_POSSIBLE that raises ResumeError instead of starting anything fresh;
  stages downstream of one that runs (or of ``rerun_from``) may run.
- A Prefect retry of a run (attempt > 1) keeps what the failed attempt made: NEVER
  becomes IF_POSSIBLE (:func:`effective_mode`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from dd_prefect.config.run_config import RunConfig
from dd_prefect.config.stage import Stage
from dd_prefect.config.stage_dag import upstreams_of
from dd_prefect.errors import ResumeError, WorkflowError
from dd_prefect.workflow.failed_rows import check_retry_failed, has_failed_rows
from dd_prefect.workflow.keys import handoff_fingerprint
from dd_prefect.workflow.layout import (
    DatasetLayout,
    WorkflowLayout,
    content_digest,
    output_ready,
)
from dd_prefect.workflow.metadata import DatasetMetadata, StageMetadata, WorkflowMetadata
from dd_prefect.workflow.resume import ResumeMode
from dd_prefect.workflow.stage_graph import selected_stages
from dd_prefect.workflow.stage_inputs import resolve_stage


class Action(StrEnum):
    """What a run does with one stage."""

    REUSE = "reuse"  # completed earlier, same fingerprint, output intact
    RESUME = "resume"  # same fingerprint but unfinished: keep its finished row groups
    RERUN = "rerun"  # generate it from scratch
    SKIP = "skip"  # an upstream stage produced an empty output


def effective_mode(mode: ResumeMode, attempt: int) -> ResumeMode:
    """The mode for attempt `attempt` (1-based) of a run: a retry keeps what the failed
    attempt made, whatever the first one asked."""
    if attempt > 1 and mode is ResumeMode.NEVER:
        return ResumeMode.IF_POSSIBLE
    return mode


def plan_dataset(
    prior: DatasetMetadata | None, key: str, mode: ResumeMode, *, where: Path, exists: bool
) -> bool:
    """Whether a dataset run keeps what is in its directory (True) or starts clean.

    `prior` is the directory's readable metadata (None when absent or unreadable, with
    `exists` telling which). An unreadable one is kept and rewritten: each row group is
    reused only if its cached record's files still verify. Raises ResumeError under
    ALWAYS when nothing matches.
    """
    if mode is ResumeMode.NEVER:
        return False
    problem = None
    if prior is None:
        if exists:  # garbled: its row groups still verify one by one (cache + hashes)
            return True
        problem = "no metadata.json"
    elif prior.dataset_key != key:
        problem = "it was generated with a different config, num_records, buffer_size or seed"
    if problem is None:
        return True
    if mode is ResumeMode.ALWAYS:
        raise ResumeError(f"cannot resume dataset at {where}: {problem}")
    return False


@dataclass(frozen=True)
class StagePlan:
    """One stage's part of a plan.

    `fingerprint`, `num_records` and `inputs` are None when they depend on an upstream
    stage that runs in this plan; the executor resolves them with :func:`resolve_stage`
    once the upstreams are done.
    """

    stage: Stage
    index: int
    upstreams: tuple[str, ...]
    action: Action
    reason: str
    prior: StageMetadata | None = None
    fingerprint: str | None = None
    num_records: int | None = None
    inputs: tuple[Path, ...] | None = None
    handed: Path | None = None  # a reused stage's output as handed on (or its override)
    handoff: str | None = None  # and its identity (handoff_fingerprint)

    @property
    def name(self) -> str:
        return self.stage.name

    @property
    def dir_name(self) -> str:
        return self.stage.dir_name(self.index)

    def dataset_mode(self, mode: ResumeMode) -> ResumeMode:
        """How the stage's row groups are treated: a resumed stage keeps finished ones."""
        if self.action is Action.RESUME:
            return ResumeMode.ALWAYS if mode is ResumeMode.ALWAYS else ResumeMode.IF_POSSIBLE
        return ResumeMode.NEVER


@dataclass(frozen=True)
class WorkflowPlan:
    """What one run of a workflow does, stage by stage, in run order."""

    name: str
    mode: ResumeMode
    stages: tuple[StagePlan, ...]
    prior: WorkflowMetadata | None
    fresh: bool  # nothing earlier is kept: the workflow directory starts empty
    overrides: Mapping[str, Path] = field(default_factory=dict)
    warning: str | None = None  # why an IF_POSSIBLE run starts fresh

    def __getitem__(self, name: str) -> StagePlan:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)


def check_run_options(
    stages: list[Stage],
    mode: ResumeMode,
    targets: list[str] | None,
    rerun_from: str | None,
    overrides: Mapping[str, Path],
    *,
    workflow: str,
) -> None:
    """WorkflowError for run options that name no stage or make no sense together."""
    if not stages:
        raise WorkflowError(f"workflow '{workflow}' has no stages; add one with add_stage")
    names = [s.name for s in stages]
    unknown = [t for t in targets or [] if t not in names]
    if unknown:
        raise WorkflowError(f"unknown target stage(s): {', '.join(unknown)}")
    if rerun_from is not None:
        if mode is ResumeMode.NEVER:
            raise WorkflowError("rerun_from needs resume=IF_POSSIBLE or ALWAYS")
        if rerun_from not in names:
            raise WorkflowError(f"rerun_from names unknown stage '{rerun_from}'")
    for stage in overrides:
        if stage not in names:
            raise WorkflowError(f"stage_output_overrides names unknown stage '{stage}'")


def decide(
    *,
    prior: StageMetadata | None,
    fingerprint: str,
    forced: bool,
    output_intact: bool,
    callback_output_intact: bool,
    unversioned_callback: bool,
    failed_rows_to_retry: bool = False,
) -> tuple[Action, str]:
    """The action for a stage whose upstreams are all reused (so its fingerprint is known),
    and why. `forced`: `rerun_from` names it or an ancestor. `failed_rows_to_retry`: the
    run retries failed rows and the stage has some."""
    if forced:
        return Action.RERUN, "must rerun (rerun_from)"
    if prior is None:
        return Action.RERUN, "has no record in the earlier run"
    if prior.fingerprint != fingerprint:
        return Action.RERUN, "changed since the earlier run (fingerprint differs)"
    if prior.status in ("running", "failed"):
        return Action.RESUME, "did not finish in the earlier run"
    if prior.status not in ("completed", "completed_empty"):
        return Action.RERUN, "did not run in the earlier run"
    if unversioned_callback:
        return Action.RERUN, "has an on_success callback without on_success_version"
    if prior.status == "completed_empty":
        return Action.REUSE, "completed (empty) in the earlier run"
    if not output_intact:  # row groups that still verify are kept
        return Action.RESUME, "lost or damaged part of its output (regenerating only that)"
    if not callback_output_intact:
        return Action.RESUME, "lost its callback output (running the callback again)"
    if failed_rows_to_retry:
        return Action.RESUME, "has failed rows to regenerate (retry_failed)"
    return Action.REUSE, "completed in the earlier run"


def plan_workflow(
    name: str,
    stages: list[Stage],
    layout: WorkflowLayout,
    run_config: RunConfig,
    mode: ResumeMode,
    *,
    targets: list[str] | None = None,
    rerun_from: str | None = None,
    overrides: Mapping[str, Path] | None = None,
    retry_failed: bool = False,
) -> WorkflowPlan:
    """Plan a run of `stages` (all of the workflow's, in add order) into `layout`;
    `retry_failed`: a completed stage with failed rows resumes to regenerate them.

    Raises WorkflowError for bad options and ResumeError when `mode` is ALWAYS and a
    stage would have to start fresh (before anything runs).
    """
    overrides = dict(overrides or {})
    check_run_options(stages, mode, targets, rerun_from, overrides, workflow=name)
    check_retry_failed(retry_failed, mode)
    prior: WorkflowMetadata | None = None
    warning = None
    if mode is not ResumeMode.NEVER:
        prior, why = layout.read()
        if prior is None:
            if mode is ResumeMode.ALWAYS:
                raise ResumeError(f"cannot resume workflow '{name}': {why}")
            if layout.metadata_path.exists():
                warning = f"workflow '{name}': {why}; starting fresh"
    upstreams = upstreams_of(stages)
    chosen = selected_stages(stages, targets)
    index_of = {s.name: i for i, s in enumerate(stages)}
    plans: dict[str, StagePlan] = {}
    forced: set[str] = set()
    for stage in chosen:
        index = index_of[stage.name]
        ups = upstreams[stage.name]
        before = _prior_stage(prior, index, stage.name)
        if rerun_from == stage.name or any(u in forced for u in ups):
            forced.add(stage.name)
        running = [u for u in ups if plans[u].action in (Action.RERUN, Action.RESUME)]
        skipped = _skip_reason(stage, ups, lambda u: _hands_on_nothing(plans[u]))
        if skipped:
            plans[stage.name] = StagePlan(stage, index, ups, Action.SKIP, skipped, before)
            continue
        if running:
            plans[stage.name] = StagePlan(
                stage, index, ups, Action.RERUN, f"upstream stage '{running[0]}' runs", before
            )
            continue
        fed = [u for u in ups if not _hands_on_nothing(plans[u])]
        inputs = tuple(plans[u].handed or Path() for u in fed)
        handoffs = [plans[u].handoff or "" for u in fed]
        fingerprint, count = resolve_stage(stage, inputs, handoffs, run_config)
        content = _intact_content(before, layout)
        action, reason = (
            (Action.RERUN, "resume is NEVER")
            if mode is ResumeMode.NEVER
            else decide(
                prior=before,
                fingerprint=fingerprint,
                forced=stage.name in forced,
                output_intact=content is not None,
                callback_output_intact=before is None
                or not before.callback_output_path
                or bool((path := layout.abs(before.callback_output_path)) and path.exists()),
                unversioned_callback=stage.on_success is not None
                and stage.on_success_version is None,
                failed_rows_to_retry=retry_failed
                and has_failed_rows(layout.dir / stage.dir_name(index)),
            )
        )
        if mode is ResumeMode.ALWAYS and action is Action.RERUN and stage.name not in forced:
            raise ResumeError(f"cannot resume workflow '{name}': stage '{stage.name}' {reason}")
        handed = handoff = None
        if action is Action.REUSE:
            assert before is not None
            override = overrides.get(stage.name) or _review_override(stage, before)
            handed = override or layout.abs(before.output_path)
            handoff = handoff_fingerprint(
                fingerprint, content_digest(override) if override else content
            )
        plans[stage.name] = StagePlan(
            stage, index, ups, action, reason, before, fingerprint, count, inputs, handed, handoff
        )
    return WorkflowPlan(
        name=name,
        mode=mode,
        stages=tuple(plans[s.name] for s in chosen),
        prior=prior,
        fresh=prior is None,
        overrides=overrides,
        warning=warning,
    )


def hands_on_nothing(status: str | None) -> bool:
    """Whether a stage that ended with `status` hands its downstream stages no rows."""
    return status in ("completed_empty", "skipped_empty_upstream")


def empty_upstream(plan: StagePlan, statuses: Mapping[str, str]) -> str | None:
    """Why `plan`'s stage is skipped given its upstreams' final statuses, or None."""
    return _skip_reason(plan.stage, plan.upstreams, lambda u: hands_on_nothing(statuses.get(u)))


def _skip_reason(
    stage: Stage, upstreams: tuple[str, ...], empty: Callable[[str], bool]
) -> str | None:
    """Why a stage is skipped for its upstreams' empty outputs, or None: one empty input
    skips a linear stage; a join decides by its mode (:meth:`JoinSpec.skips_on_empty`)."""
    nothing = [u for u in upstreams if empty(u)]
    if not nothing:
        return None
    if stage.join is None or stage.join.skips_on_empty(len(nothing), len(upstreams)):
        return _empty_reason(nothing[0])
    return None


def _intact_content(before: StageMetadata | None, layout: WorkflowLayout) -> str | None:
    """The content digest of a completed stage's selected output when it is intact: its
    files hold the recorded rows and content, and the stage's own metadata.json reads
    (a garbled one is rewritten by resuming the stage). None when not intact."""
    if before is None or before.status not in ("completed", "completed_empty"):
        return None
    output = layout.abs(before.output_path)
    if before.status == "completed_empty":
        return content_digest(output)
    if not output_ready(output, before.actual_records):
        return None
    content = content_digest(output)
    if before.output_digest is not None and content != before.output_digest:
        return None
    stage_dir = layout.abs(before.stage_dir)
    if stage_dir is not None and DatasetLayout(stage_dir).read_metadata() is None:
        return None
    return content


def _review_override(stage: Stage, before: StageMetadata) -> Path | None:
    """The override path a reviewer gave a reused stage in an earlier run."""
    review = (before.model_extra or {}).get("review") if stage.review else None
    path = review.get("override_path") if isinstance(review, dict) else None
    return Path(path) if isinstance(path, str) else None


def _hands_on_nothing(plan: StagePlan) -> bool:
    return plan.action is Action.SKIP or (
        plan.action is Action.REUSE
        and plan.prior is not None
        and plan.prior.status == "completed_empty"
    )


def _empty_reason(upstream: str) -> str:
    return f"upstream stage '{upstream}' produced an empty output"


def _prior_stage(prior: WorkflowMetadata | None, index: int, name: str) -> StageMetadata | None:
    if prior is None:
        return None
    return next((s for s in prior.stages if s.index == index and s.name == name), None)
