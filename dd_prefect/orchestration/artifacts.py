"""Prefect artifacts: a progress bar while row groups finish, a summary table and the
dataset's analysis as tables at the end, and a workflow's table of stages (plus its stages'
category frequencies and judge scores) on the run the user opened. The HTML reports
(report.html) are written beside the data as the runs end."""

from __future__ import annotations

import asyncio
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

from dd_prefect.engine.concurrently import run_concurrently
from dd_prefect.orchestration.runtime import warn
from dd_prefect.workflow.analysis import DatasetAnalysis, column_row
from dd_prefect.workflow.analysis_store import load_or_compute, stage_dataset
from dd_prefect.workflow.layout import DatasetLayout, WorkflowLayout
from dd_prefect.workflow.metadata import DatasetMetadata, StageMetadata, WorkflowMetadata
from dd_prefect.workflow.report import REPORT_FILE, write_dataset_report, write_workflow_report
from dd_prefect.workflow.usage import Usage


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
    with_failures = sum(1 for r in metadata.row_groups if "failed" in r.files)
    rows.append(
        {
            "item": "dropped rows",
            "value": metadata.dropped_rows,
            "detail": f"failed rows of {with_failures} row group(s) in failed-rows/"
            if with_failures
            else "",
        }
    )
    for kind, count in sorted(metadata.errors.items()):
        rows.append({"item": f"errors: {kind}", "value": count, "detail": ""})
    usage = Usage.of(metadata.llm_usage_total, metadata.llm_usage)
    for model, total in usage.models.items():
        last = usage.last_attempt.get(model)
        rows.append(
            {
                "item": f"LLM {model}: requests (every attempt)",
                "value": total.requests,
                "detail": f"{total.line()}; this attempt {last.requests if last else 0} requests",
            }
        )
    if usage.models and usage.cost is not None:
        rows.append({"item": "cost (every attempt)", "value": round(usage.cost, 6), "detail": ""})
    rows.append({"item": "duration (s)", "value": round(metadata.duration, 2), "detail": ""})
    return rows


async def publish_summary(metadata: DatasetMetadata, base_dir: Path | None = None) -> None:
    """The end-of-run table artifact; with `base_dir`, also the dataset's analysis (stored
    as analysis.json, shown as tables, and its report.html written). The summary is sent
    while the analysis is computed (in a thread)."""

    async def summary() -> None:
        await acreate_table_artifact(
            table=summary_rows(metadata),
            key=artifact_key(metadata.dataset_name, "summary"),
            description=f"Dataset '{metadata.dataset_name}': columns, errors, LLM usage, duration",
        )

    analysis = [] if base_dir is None else [publish_analysis(metadata.dataset_name, base_dir)]
    await run_concurrently([summary(), *analysis])


async def publish_analysis(name: str, base_dir: Path) -> None:
    """Analyse a finished dataset (batch by batch, off the event loop), write its
    report.html, and show the analysis as table artifacts: columns, category frequencies
    against their weights, judge score distributions. A failure here is a warning: the
    dataset itself is done."""
    try:
        analysis = await asyncio.to_thread(_analyse, base_dir)
    except Exception as exc:
        warn(f"dataset '{name}': no analysis ({type(exc).__name__}: {exc})")
        return
    for suffix, rows, what in analysis_tables(analysis):
        await acreate_table_artifact(
            table=rows, key=artifact_key(name, suffix), description=f"Dataset '{name}': {what}"
        )


def _analyse(base_dir: Path) -> DatasetAnalysis:
    write_dataset_report(base_dir)  # computes and stores the analysis first
    return DatasetAnalysis(data=load_or_compute(base_dir))


def analysis_tables(analysis: DatasetAnalysis) -> list[tuple[str, list[dict[str, Any]], str]]:
    """(key suffix, rows, description) of each non-empty analysis table."""
    tables = [
        ("columns", [column_row(s) for s in analysis.column_statistics], "column statistics"),
        ("categories", analysis.category_rows(), "category frequencies vs configured weights"),
        ("judge-scores", analysis.score_rows(), "judge score distributions"),
    ]
    return [(key, _markdown_safe(rows), what) for key, rows, what in tables if rows]


def _markdown_safe(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cells as the UI shows them well: it renders each as Markdown, where an empty cell or
    "-" is a list item and a line break starts a new paragraph."""
    return [{k: _cell(v) for k, v in row.items()} for row in rows]


def _cell(value: Any) -> Any:
    if value is None or value in ("", "-"):
        return "none"
    return " ".join(value.split()) if isinstance(value, str) else value


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
        self._analysis_ids: dict[str, UUID] = {}

    async def publish(self, metadata: WorkflowMetadata) -> None:
        """Create or update the table (never fails the run: it only shows it)."""
        with contextlib.suppress(Exception):
            async with get_client() as client:
                rows = json.dumps([self._row(stage) for stage in metadata.stages])
                if self._id is not None:
                    await client.update_artifact(self._id, ArtifactUpdate(data=rows))
                else:
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
        await self._publish_analysis(metadata)

    async def _publish_analysis(self, metadata: WorkflowMetadata) -> None:
        """The workflow's report.html, and its stages' category frequencies and judge
        scores as tables on the root run (never fails the run)."""
        try:
            tables = await asyncio.to_thread(self._analysis_tables, metadata)
        except Exception as exc:
            warn(f"workflow '{self.name}': no report ({type(exc).__name__}: {exc})")
            return
        with contextlib.suppress(Exception):
            async with get_client() as client:
                for suffix, rows in tables.items():
                    data = json.dumps(_markdown_safe(rows), default=str)
                    if suffix in self._analysis_ids:
                        await client.update_artifact(
                            self._analysis_ids[suffix], ArtifactUpdate(data=data)
                        )
                        continue
                    artifact = await client.create_artifact(
                        ArtifactCreate(
                            key=artifact_key(self.name, suffix),
                            type="table",
                            data=data,
                            description=f"Workflow '{self.name}': {suffix.replace('-', ' ')} "
                            "of each stage",
                            flow_run_id=self._root or await root_flow_run(client),
                        )
                    )
                    self._analysis_ids[suffix] = artifact.id

    def _analysis_tables(self, metadata: WorkflowMetadata) -> dict[str, list[dict[str, Any]]]:
        write_workflow_report(self.layout.dir)  # analyses each stage's dataset if needed
        tables: dict[str, list[dict[str, Any]]] = {"categories": [], "judge-scores": []}
        for stage in metadata.stages:
            base = stage_dataset(self.layout, stage)
            if base is None or stage.status not in ("completed", "completed_empty"):
                continue
            analysis = DatasetAnalysis(data=load_or_compute(base))
            tables["categories"] += [{"stage": stage.name, **r} for r in analysis.category_rows()]
            tables["judge-scores"] += [{"stage": stage.name, **r} for r in analysis.score_rows()]
        return {suffix: rows for suffix, rows in tables.items() if rows}

    async def point_at(self, stage: str, output: Path, records: int) -> None:
        """The markdown artifact naming the final output."""
        with contextlib.suppress(Exception):
            async with get_client() as client:
                await client.create_artifact(
                    ArtifactCreate(
                        key=artifact_key(self.name, "output"),
                        type="markdown",
                        data=f"**Workflow `{self.name}`**: {records} records from stage "
                        f"`{stage}`\n\n`{output}`\n\nreport: "
                        f"`{self.layout.dir / REPORT_FILE}`",
                        description=f"Where workflow '{self.name}' wrote its dataset",
                        flow_run_id=self._root or await root_flow_run(client),
                    )
                )

    def _row(self, stage: StageMetadata) -> dict[str, Any]:
        stage_dir = self.layout.abs(stage.stage_dir)
        dataset = DatasetLayout(stage_dir).read_metadata() if stage_dir else None
        usage = Usage.of(dataset.llm_usage_total, dataset.llm_usage) if dataset else Usage()
        # The UI renders cells as Markdown: "none" rather than "-" (an empty list item).
        return {
            "stage": stage.name,
            "status": stage.status,
            "upstreams": ", ".join(stage.depends_on) or "none",
            "records": stage.actual_records,
            "duration (s)": round(stage.duration, 1) if stage.duration is not None else None,
            "output": str(self.layout.abs(stage.output_path)) if stage.output_path else "none",
            "LLM usage (every attempt)": "; ".join(usage.lines()) or "none",
            "cost": round(usage.cost, 6) if usage.models and usage.cost is not None else "none",
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
