"""Scheduling a row group's row-wise columns, and stopping early when too many cells fail.

The columns are planned once into segments. Those that need no LLM and read no LLM column
are computed column by column ("columnwise"); the rest run per row, concurrently ("rows"):
independent columns of a row at once, and a dependent column as soon as its inputs in that
row are done. A full-column custom column or a validation column ("full") waits for the
rows. Before a cell runs, it is held if an input of it failed (it fails too) or if it is
skipped (``skip.when``, ``propagate_skip``; see :mod:`.skips`).
"""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter, deque
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

from dd_prefect.config.columns import (
    ColumnConfigBase,
    CustomColumnConfig,
    ExpressionColumnConfig,
    ValidationColumnConfig,
)
from dd_prefect.config.dag import dependency_graph
from dd_prefect.config.run_config import RunConfig
from dd_prefect.engine.cells import (
    call_custom,
    custom_cell,
    expression_cell,
    is_row_wise,
)
from dd_prefect.engine.concurrently import first_error, run_concurrently
from dd_prefect.engine.failed_rows import CellFailure, attempts_for
from dd_prefect.engine.full_column import run_full_column
from dd_prefect.engine.generator_functions import custom_function
from dd_prefect.engine.llm import ModelRegistry
from dd_prefect.engine.model_cells import model_cell
from dd_prefect.engine.skips import is_skipped, skip_value
from dd_prefect.engine.validators import run_validation_column
from dd_prefect.errors import CellError, EarlyShutdownError


class ErrorWindow:
    """Outcomes of the last `size` finished cells; trips when failures exceed `rate`."""

    def __init__(self, run_config: RunConfig) -> None:
        self.size = run_config.shutdown_error_window
        self.rate = run_config.shutdown_error_rate
        self.disabled = run_config.disable_early_shutdown
        self._outcomes: deque[bool] = deque(maxlen=self.size)
        self._failures = 0

    def record(self, ok: bool) -> bool:
        """Record one cell outcome; True when the window now exceeds the error rate."""
        if len(self._outcomes) == self.size and not self._outcomes[0]:
            self._failures -= 1
        self._outcomes.append(ok)
        if not ok:
            self._failures += 1
        if self.disabled or len(self._outcomes) < self.size:
            return False
        return self._failures / self.size > self.rate


class ColumnScheduler:
    """Runs the row-wise columns of one config over a row group's records, as planned.

    Holds the run's early-shutdown state too: the error window and the rows produced so far
    (which the generator counts), shared by the run's concurrent row groups.
    """

    def __init__(
        self,
        order: list[ColumnConfigBase],
        models: ModelRegistry,
        run_config: RunConfig,
        image_dirs: Sequence[Path] = (),
    ) -> None:
        self.order = order
        self.run_config = run_config
        self._llm = {
            c.name: model_cell(c, models, run_config.max_conversation_restarts, image_dirs)
            for c in order
            if c.is_llm
        }
        # What each column reads, once: the per-cell checks must not walk templates again.
        # Its data (a skip of which propagates), and the columns it waits for (its data's,
        # its skip.when's and the producers of side-effect columns it reads).
        self._data = {c.name: c.required_columns() for c in order}
        self._reads = dependency_graph(order)
        self.plan = self._plan_segments()
        self.start_run()

    def start_run(self) -> None:
        """Forget the error window and row count of an earlier run."""
        self.window = ErrorWindow(self.run_config)
        self.rows_produced = 0

    async def run(
        self,
        records: list[dict[str, Any]],
        failed: list[dict[str, str]],
        positions: Sequence[int],
        errors: Counter[str],
        samples: list[str],
    ) -> None:
        """Fill the planned columns of `records` (`positions`: their global row indices).

        A failed cell is None in `records`, its error (a CellFailure) in `failed`, counted
        in `errors` and maybe kept in `samples`; a skipped cell (see :mod:`.skips`) holds
        its skip value. Raises EarlyShutdownError when the error window trips.
        """
        skipped: list[set[str]] = [set() for _ in records]
        for segment in self.plan:
            await self._run_segment(segment, records, failed, skipped, positions, errors, samples)

    # -- planning -------------------------------------------------------------------------

    def _plan_segments(self) -> list[tuple[str, list[ColumnConfigBase]]]:
        """Split the row-wise columns into ("columnwise" | "rows" | "full", columns) steps."""
        llm_tainted: set[str] = set()
        plan: list[tuple[str, list[ColumnConfigBase]]] = []

        def push(kind: str, column: ColumnConfigBase) -> None:
            if plan and plan[-1][0] == kind and kind != "full":
                plan[-1][1].append(column)
            else:
                plan.append((kind, [column]))

        for column in self.order:
            if not is_row_wise(column) and not isinstance(
                column, CustomColumnConfig | ValidationColumnConfig
            ):
                continue
            reads = self._reads[column.name]
            if isinstance(column, ValidationColumnConfig) or (
                isinstance(column, CustomColumnConfig)
                and column.generation_strategy == "full_column"
            ):
                push("full", column)
                llm_tainted.add(column.name)
                continue
            needs_rows = column.is_llm or (reads & llm_tainted) or _is_async_custom(column)
            if needs_rows:
                llm_tainted.add(column.name)
                push("rows", column)
            else:
                push("columnwise", column)
        return plan

    # -- execution ------------------------------------------------------------------------

    async def _run_segment(
        self,
        segment: tuple[str, list[ColumnConfigBase]],
        records: list[dict[str, Any]],
        failed: list[dict[str, str]],
        skipped: list[set[str]],
        positions: Sequence[int],
        errors: Counter[str],
        samples: list[str],
    ) -> None:
        kind, columns = segment

        def fail(i: int, column: str, exc: CellError) -> None:
            failed[i][column] = CellFailure(
                str(exc), exc.kind, attempts_for(exc.kind, self.run_config)
            )
            errors[exc.kind] += 1
            if len(samples) < 10:
                samples.append(str(exc))
            records[i][column] = None
            if self.window.record(False):
                raise EarlyShutdownError(
                    f"early shutdown: more than {self.run_config.shutdown_error_rate:.0%} of "
                    f"the last {self.window.size} cells failed (last error: {exc}); "
                    f"{self.rows_produced} rows were produced before stopping",
                    rows_produced=self.rows_produced,
                )

        if kind == "columnwise":
            for column in columns:
                for i, row in enumerate(records):
                    if self._held(column, row, failed[i], skipped[i]):
                        continue
                    try:
                        row[column.name] = self._sync_cell(column, row, positions[i])
                        self.window.record(True)
                    except CellError as exc:
                        fail(i, column.name, exc)
        elif kind == "full":
            column = columns[0]
            alive = []  # rows no cell failed in (the others are dropped) and not skipped
            for i, row in enumerate(records):
                if failed[i]:
                    row[column.name] = None
                elif not self._held(column, row, failed[i], skipped[i]):
                    alive.append(i)
            if isinstance(column, ValidationColumnConfig):
                await run_validation_column(column, records, alive)
            else:
                assert isinstance(column, CustomColumnConfig)  # only those are planned "full"
                await run_full_column(column, records, alive)
        else:
            await self._rows(columns, records, failed, skipped, positions, fail)

    async def _rows(self, columns, records, failed, skipped, positions, fail) -> None:
        names = {x.name for x in columns}
        deps = {c.name: self._reads[c.name] & names for c in columns}
        # A chain (each column reads the one before it, e.g. a single column) runs in order
        # in its row's task; otherwise every cell gets a task that starts once its inputs
        # in the row are done.
        chain = all(prev.name in deps[c.name] for prev, c in pairwise(columns))

        async def run_cell(i: int, row: dict[str, Any], column: ColumnConfigBase) -> None:
            if self._held(column, row, failed[i], skipped[i]):
                return
            try:
                row[column.name] = await self._async_cell(column, row, positions[i])
            except CellError as exc:
                fail(i, column.name, exc)
            else:
                self.window.record(True)

        async def run_chain(i: int, row: dict[str, Any]) -> None:
            for column in columns:
                await run_cell(i, row, column)

        async def run_row(i: int, row: dict[str, Any]) -> None:
            done: dict[str, asyncio.Task[None]] = {}

            async def after_inputs(column: ColumnConfigBase) -> None:
                for dep in deps[column.name]:
                    await done[dep]
                await run_cell(i, row, column)

            try:
                async with asyncio.TaskGroup() as group:
                    for column in columns:
                        done[column.name] = group.create_task(after_inputs(column))
            except BaseExceptionGroup as failed:
                raise first_error(failed) from None

        runner = run_chain if chain else run_row
        await run_concurrently(runner(i, row) for i, row in enumerate(records))

    def _held(
        self,
        column: ColumnConfigBase,
        row: dict[str, Any],
        failed: dict[str, str],
        skipped: set[str],
    ) -> bool:
        """Whether the cell is not generated: an input of it failed (so it fails too), or it
        is skipped (it holds its skip value, and its side-effect columns None)."""
        bad = [dep for dep in self._reads[column.name] if dep in failed]
        if bad:
            failed.setdefault(column.name, f"skipped: input column '{sorted(bad)[0]}' failed")
            row[column.name] = None
            return True
        if is_skipped(column, self._data[column.name], row, skipped):
            row[column.name] = skip_value(column)
            skipped.add(column.name)
            for side in column.side_effect_columns:
                row[side] = None
                skipped.add(side)
            return True
        return False

    def _sync_cell(self, column: ColumnConfigBase, row: dict[str, Any], index: int) -> Any:
        if isinstance(column, ExpressionColumnConfig):
            return expression_cell(column, row, index)
        assert isinstance(column, CustomColumnConfig)
        return call_custom(column, row)

    async def _async_cell(self, column: ColumnConfigBase, row: dict[str, Any], index: int) -> Any:
        if column.name in self._llm:
            return await self._llm[column.name](row)
        if isinstance(column, CustomColumnConfig):
            return await custom_cell(column, row)
        return self._sync_cell(column, row, index)


def _is_async_custom(column: ColumnConfigBase) -> bool:
    if not isinstance(column, CustomColumnConfig):
        return False
    try:
        return inspect.iscoroutinefunction(custom_function(column))
    except (ImportError, AttributeError, LookupError):
        return False
