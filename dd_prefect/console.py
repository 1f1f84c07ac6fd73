"""What ``dd-prefect run`` prints: a progress bar over row groups, dd_prefect's warnings
as one line each, and the summary at the end."""

from __future__ import annotations

import logging
import sys
from typing import Any


class WarningLines(logging.Handler):
    """Warnings dd_prefect logs (in a flow run's log or on its own logger), as one
    ``dd-prefect: warning: ...`` line each on stderr, whatever Prefect's console shows."""

    def emit(self, record: logging.LogRecord) -> None:
        ours = record.name.startswith("dd_prefect") or "/dd_prefect/" in record.pathname
        if record.levelno == logging.WARNING and ours:
            line = " ".join(record.getMessage().split())
            print(f"dd-prefect: warning: {line}", file=sys.stderr)


def show_warnings() -> None:
    """Print dd_prefect's warnings on the console (Prefect's console handler is quiet)."""
    handler = WarningLines()
    for name in ("dd_prefect", "prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).addHandler(handler)


class ProgressBar:
    """A rich progress bar over row groups (one task per dataset or stage)."""

    def __enter__(self) -> ProgressBar:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("row groups · {task.fields[records]} records"),
            transient=False,
        )
        self._progress.start()
        self._tasks: dict[str, Any] = {}
        return self

    def update(self, done: int, total: int, records: int, label: str = "generating") -> None:
        if label not in self._tasks:
            self._tasks[label] = self._progress.add_task(label, total=total, records=0)
        self._progress.update(self._tasks[label], completed=done, total=total, records=records)

    def close(self) -> None:
        self._progress.stop()

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()


def print_dataset_summary(results: Any) -> None:
    meta = results.metadata
    print(
        f"dataset '{meta.dataset_name}': {meta.actual_records} of {meta.target_records} "
        f"records in {meta.duration:.1f}s -> {results.base_dataset_path}"
    )
    if meta.dropped_rows or meta.errors:
        print(f"  dropped rows: {meta.dropped_rows}; errors: {meta.errors}")
    print_usage(results.usage)


def print_usage(usage: Any) -> None:
    """A usage line per model (over every attempt), then the total cost if known."""
    for line in usage.lines():
        print(f"  {line}")
    if len(usage.models) > 1 and usage.cost is not None:
        print(f"  total cost {usage.cost:.4f}")


def print_workflow_summary(results: Any) -> None:
    print(f"workflow '{results.name}' -> {results.workflow_dir}")
    for name, stage in results.items():
        print(f"  {name}: {stage.status}, {stage.actual_records} records")
    print_usage(results.usage)
