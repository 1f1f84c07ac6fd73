"""The human review gate: a stage with ``review=True`` pauses its workflow until someone
approves it, or gives an override path for its output, in the Prefect UI."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactCreate
from prefect.context import FlowRunContext
from prefect.flow_runs import apause_flow_run
from prefect.logging import get_run_logger
from prefect.settings import get_current_settings
from pydantic import BaseModel, Field

from dd_prefect.config.stage import Stage
from dd_prefect.errors import WorkflowError
from dd_prefect.orchestration.artifacts import artifact_key, root_flow_run
from dd_prefect.orchestration.settings import Settings
from dd_prefect.workflow.layout import require_parquet
from dd_prefect.workflow.metadata import StageMetadata


async def point_to_review(stage: str) -> None:
    """A markdown artifact on the run the user opened (a deployment's run shows Running
    while its workflow subflow is paused) linking to the paused run to resume."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    paused = context.flow_run
    ui = get_current_settings().ui_url
    where = f"[{paused.name}]({ui}/runs/flow-run/{paused.id})" if ui else f"`{paused.id}`"
    with contextlib.suppress(Exception):
        async with get_client() as client:
            root = await root_flow_run(client)
            if root is None or root == paused.id:
                return  # the user's own run is the paused one: its Resume button is there
            await client.create_artifact(
                ArtifactCreate(
                    key=artifact_key(f"review-{stage}", "waiting"),
                    type="markdown",
                    data=f"**Stage `{stage}` is waiting for review.** Open the paused run "
                    f"{where} and click **Resume** to approve it, reject it, or give an "
                    "override_path for its output.",
                    description=f"Stage '{stage}' waits for review",
                    flow_run_id=root,
                )
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


async def review_gate(
    stage: Stage, reused: bool, entry: StageMetadata, save: Callable[[], None]
) -> ReviewDecision:
    """Pause the workflow flow run until a reviewer answers (a reused stage keeps the
    decision recorded in its metadata). Metadata says ``"review": "pending"`` meanwhile;
    a rejection marks the stage failed."""
    recorded = (entry.model_extra or {}).get("review")
    if reused and isinstance(recorded, dict):
        return ReviewDecision.model_validate(recorded)
    entry.review = "pending"  # type: ignore[attr-defined]  # an extra field
    save()
    get_run_logger().info(
        "stage '%s' is waiting for review: resume this flow run in the Prefect UI to approve "
        "it, or give an override_path for its output",
        stage.name,
    )
    await point_to_review(stage.name)
    settings = Settings()  # read now, so a process (or test) can change them after import
    decision = await apause_flow_run(
        wait_for_input=ReviewDecision,
        timeout=settings.review_timeout,
        poll_interval=settings.review_poll_seconds,
        key=f"review-{stage.name}",
    )
    if decision.override_path:  # recorded absolute: a resumed run may start elsewhere
        decision.override_path = str(Path(decision.override_path).resolve())
    entry.review = decision.model_dump()  # type: ignore[attr-defined]
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
