"""Prefect artifacts: a progress bar while row groups finish, a summary table at the end."""

from __future__ import annotations

import re
import time
from typing import Any
from uuid import UUID

from prefect.artifacts import (
    acreate_progress_artifact,
    acreate_table_artifact,
    aupdate_progress_artifact,
)

from dd_prefect.workflow.metadata import DatasetMetadata


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
