"""Prefect artifacts: a progress bar while row groups finish, a summary table at the end,
and a workflow's table of stages on the run the user opened."""

from __future__ import annotations

import contextlib
import json
import re
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.artifacts import (
    acreate_progress_artifact,
    acreate_table_artifact,
    aupdate_progress_artifact,
)
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import ArtifactCreate, ArtifactUpdate
from prefect.context import FlowRunContext

from dd_prefect.workflow.layout import DatasetLayout, WorkflowLayout
from dd_prefect.workflow.metadata import DatasetMetadata, StageMetadata, WorkflowMetadata


def artifact_key(name: str, suffix: str) -> str:
    """A valid artifact key (lowercase letters, digits, dashes) from a dataset name."""
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "dataset"
    return f"{slug}-{suffix}"


class Progress:
    """A progress artifact for one dataset run (0-100 %).

    Updates are sent at most once per `interval` seconds (and always at 100 %): each is an
    API call, and a run can have thousands of small row groups.
    """

    def __init__(self, name: str, total: int, interval: float = 1.0) -> None:
        self.name = name
        self.total = max(total, 1)
        self.interval = interval
        self._id: UUID | None = None
        self._sent_at = 0.0

    async def start(self) -> None:
        self._id = await acreate_progress_artifact(
            progress=0.0,
            key=artifact_key(self.name, "progress"),
            description=f"Row groups of dataset '{self.name}' finished",
        )

    async def update(self, done: int) -> None:
        now = time.monotonic()
        if self._id is None or (done < self.total and now - self._sent_at < self.interval):
            return
        self._sent_at = now
        await aupdate_progress_artifact(self._id, progress=100.0 * done / self.total)

    async def finish(self) -> None:
        """Mark the run complete (also when it had no row groups at all)."""
        await self.update(self.total)


def summary_rows(metadata: DatasetMetadata) -> list[dict[str, Any]]:
    """One row per column: non-null and null counts; then run-level figures."""
    rows: list[dict[str, Any]] = []
    for column, stats in metadata.column_stats.items():
        rows.append(
            {
                "item": f"column {column}",
                "value": stats.get("non_null"),
                "detail": f"nulls: {stats.get('nulls')}",
            }
        )
    rows.append(
        {
            "item": "records",
            "value": metadata.actual_records,
            "detail": f"target {metadata.target_records}",
        }
    )
    rows.append({"item": "dropped rows", "value": metadata.dropped_rows, "detail": ""})
    for kind, count in sorted(metadata.errors.items()):
        rows.append({"item": f"errors: {kind}", "value": count, "detail": ""})
    for model, usage in sorted(metadata.llm_usage.items()):
        total = metadata.llm_usage_total.get(model, usage)
        rows.append(
            {
                "item": f"LLM {model}: requests (this attempt)",
                "value": usage.get("requests", 0),
                "detail": f"total {total.get('requests', 0)} over every attempt; tokens this "
                f"attempt: prompt {usage.get('prompt_tokens', 0)}, "
                f"completion {usage.get('completion_tokens', 0)}",
            }
        )
    rows.append({"item": "duration (s)", "value": round(metadata.duration, 2), "detail": ""})
    return rows


async def publish_summary(metadata: DatasetMetadata) -> None:
    """The end-of-run table artifact."""
    await acreate_table_artifact(
        table=summary_rows(metadata),
        key=artifact_key(metadata.dataset_name, "summary"),
        description=f"Dataset '{metadata.dataset_name}': columns, errors, LLM usage, duration",
    )


class WorkflowBoard:
    """The workflow's table artifact on the run the user opened (the root flow run: the
    deployment's run, or the workflow's own): one row per stage with its status, upstreams,
    records, duration, LLM requests and tokens (this attempt, and in total) and output path,
    updated as stages finish. At the end, a markdown artifact points at the final output."""

    def __init__(self, name: str, layout: WorkflowLayout) -> None:
        self.name = name
        self.layout = layout
        self._id: UUID | None = None
        self._root: UUID | None = None

    async def publish(self, metadata: WorkflowMetadata) -> None:
        """Create or update the table (never fails the run: it only shows it)."""
        with contextlib.suppress(Exception):
            async with get_client() as client:
                rows = json.dumps([self._row(stage) for stage in metadata.stages])
                if self._id is not None:
                    await client.update_artifact(self._id, ArtifactUpdate(data=rows))
                    return
                self._root = await root_flow_run(client)
                artifact = await client.create_artifact(
                    ArtifactCreate(
                        key=artifact_key(self.name, "workflow"),
                        type="table",
                        data=rows,
                        description=f"Workflow '{self.name}': its stages as they finish",
                        flow_run_id=self._root,
                    )
                )
                self._id = artifact.id

    async def point_at(self, stage: str, output: Path, records: int) -> None:
        """The markdown artifact naming the final output."""
        with contextlib.suppress(Exception):
            async with get_client() as client:
                await client.create_artifact(
                    ArtifactCreate(
                        key=artifact_key(self.name, "output"),
                        type="markdown",
                        data=f"**Workflow `{self.name}`**: {records} records from stage "
                        f"`{stage}`\n\n`{output}`",
                        description=f"Where workflow '{self.name}' wrote its dataset",
                        flow_run_id=self._root or await root_flow_run(client),
                    )
                )

    def _row(self, stage: StageMetadata) -> dict[str, Any]:
        usage: dict[str, Any] = {}
        stage_dir = self.layout.abs(stage.stage_dir)
        dataset = DatasetLayout(stage_dir).read_metadata() if stage_dir else None
        if dataset is not None:
            for model, spent in dataset.llm_usage.items():
                total = dataset.llm_usage_total.get(model, spent)
                usage[model] = (
                    f"{spent.get('requests', 0)} requests, "
                    f"{spent.get('prompt_tokens', 0) + spent.get('completion_tokens', 0)} "
                    f"tokens (total {total.get('requests', 0)} requests)"
                )
        # The UI renders cells as Markdown: "none" rather than "-" (an empty list item).
        return {
            "stage": stage.name,
            "status": stage.status,
            "upstreams": ", ".join(stage.depends_on) or "none",
            "records": stage.actual_records,
            "duration (s)": round(stage.duration, 1) if stage.duration is not None else None,
            "output": str(self.layout.abs(stage.output_path)) if stage.output_path else "none",
            "LLM usage (this attempt)": "; ".join(f"{m}: {u}" for m, u in usage.items()) or "none",
        }


async def root_flow_run(client: PrefectClient) -> UUID | None:
    """The flow run at the top of the current one's parents (itself when it has none)."""
    context = FlowRunContext.get()
    flow_run = context.flow_run if context is not None else None
    while flow_run is not None and flow_run.parent_task_run_id is not None:
        parent = await client.read_task_run(flow_run.parent_task_run_id)
        if parent.flow_run_id is None:
            break
        flow_run = await client.read_flow_run(parent.flow_run_id)
    return flow_run.id if flow_run is not None else None
