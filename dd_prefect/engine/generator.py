"""`DatasetGenerator`: turns a validated config into rows, one row group at a time.

Within a row group: seed rows, then samplers (vectorized), then the row-wise columns. Those
that need no LLM and read no LLM column are computed column by column up front; the rest
run per row, concurrently: independent columns of a row at once, and a dependent column as
soon as its inputs in that row are done. A full-column custom column waits for the rows.
"""

from __future__ import annotations

import asyncio
import inspect
import numbers
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from dd_prefect.config.builder import DataDesignerConfig
from dd_prefect.config.columns import (
    ColumnConfigBase,
    CustomColumnConfig,
    ExpressionColumnConfig,
    LLMJudgeColumnConfig,
    LLMStructuredColumnConfig,
    LLMTextColumnConfig,
    SamplerColumnConfig,
    SeedDatasetColumnConfig,
)
from dd_prefect.config.dag import topological_order
from dd_prefect.config.processors import SchemaTransformProcessorConfig
from dd_prefect.config.run_config import RunConfig
from dd_prefect.config.samplers import PersonSamplerParams
from dd_prefect.config.validation import validate_config
from dd_prefect.engine.cells import (
    LLMCell,
    call_custom,
    custom_cell,
    expression_cell,
    is_row_wise,
    load_callable,
)
from dd_prefect.engine.llm import ModelRegistry
from dd_prefect.engine.parquet_io import batch_file_name, to_table, write_parquet
from dd_prefect.engine.processors import apply_processors
from dd_prefect.engine.samplers import sample_columns
from dd_prefect.engine.seed_reader import SeedReader
from dd_prefect.errors import CellError, EarlyShutdownError, GenerationError

PARQUET_DIR = "parquet-files"
PROCESSORS_DIR = "processors-files"
DROPPED_DIR = "dropped-columns"
_EXPRESSION_TYPES = {"int": "Int64", "float": "Float64", "bool": "boolean", "str": object}
_ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string()}


@dataclass
class RowGroupResult:
    """One finished row group: its rows, its files and what went wrong on the way."""

    index: int
    start: int
    requested: int
    frame: pd.DataFrame
    processor_frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    dropped_frame: pd.DataFrame | None = None
    dropped_rows: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    duration: float = 0.0
    files: dict[str, str] = field(default_factory=dict)

    @property
    def num_rows(self) -> int:
        return len(self.frame)


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


class DatasetGenerator:
    """Generates row groups of one config. Create once per run; row groups run concurrently.

    The config is validated in the constructor (against the seed's real columns) so bad
    input fails before any LLM call.
    """

    def __init__(
        self,
        config: DataDesignerConfig,
        run_config: RunConfig,
        models: ModelRegistry,
        *,
        fingerprint: str | None = None,
    ) -> None:
        self.config = config
        self.run_config = run_config
        self.models = models
        self.fingerprint = fingerprint or config.fingerprint()
        self.seed_reader: SeedReader | None = None
        seed_columns: list[str] = []
        if config.seed_config is not None:
            try:
                self.seed_reader = SeedReader(
                    config.seed_config, seed=run_config.seed, fingerprint=self.fingerprint
                )
                seed_columns = list(self.seed_reader.columns)
            except ValueError as exc:
                raise GenerationError(f"seed dataset: {exc}") from None
        validate_config(config, seed_columns=seed_columns)
        models.update_models(config.model_configs)
        self.seed_columns = seed_columns
        self.order = topological_order(config.columns)
        self.samplers = [c for c in self.order if isinstance(c, SamplerColumnConfig)]
        self._llm = {
            c.name: LLMCell(c, models, run_config.max_conversation_restarts)
            for c in self.order
            if isinstance(c, LLMTextColumnConfig)  # the columns whose `is_llm` is true
        }
        # What each column reads, once: the per-cell checks must not walk templates again.
        self._reads = {c.name: c.required_columns() for c in self.order}
        self._plan = self._plan_segments()
        self.start_run()

    def start_run(self) -> None:
        """Forget the error window and row count of an earlier run with this generator."""
        self.window = ErrorWindow(self.run_config)
        self.rows_produced = 0

    @property
    def num_seed_rows(self) -> int | None:
        """Rows in the seed selection (None without a seed)."""
        return self.seed_reader.num_rows if self.seed_reader else None

    def row_groups(self, num_records: int) -> list[tuple[int, int, int]]:
        """(index, start, rows) of each row group for `num_records` records."""
        size = self.run_config.buffer_size
        return [
            (i, s, min(size, num_records - s)) for i, s in enumerate(range(0, num_records, size))
        ]

    async def generate(
        self, index: int, start: int, num_rows: int, output_dir: Path | None = None
    ) -> RowGroupResult:
        """Generate row group `index` (global rows start..start+num_rows-1).

        With `output_dir`, its files are written there atomically. Raises
        EarlyShutdownError when the error window trips.
        """
        began = time.perf_counter()
        frame = self._base_frame(start, num_rows)
        if self.samplers:
            frame = sample_columns(
                self.samplers,
                frame,
                start=start,
                seed=self.run_config.seed,
                fingerprint=self.fingerprint,
            )
        dtypes = frame.dtypes.to_dict()
        records: list[dict[str, Any]] = (
            frame.to_dict("records") if len(frame.columns) else [{} for _ in range(num_rows)]
        )
        failed: list[dict[str, str]] = [{} for _ in records]
        errors: Counter[str] = Counter()
        samples: list[str] = []

        for segment in self._plan:
            await self._run_segment(segment, records, failed, start, errors, samples)

        result = self._finish(index, start, num_rows, records, failed, errors, samples, dtypes)
        result.duration = time.perf_counter() - began
        if output_dir is not None:
            # Encoding parquet is CPU work: off the event loop, so LLM traffic keeps flowing.
            result.files = await asyncio.to_thread(self.write, result, Path(output_dir))
        self.rows_produced += result.num_rows
        return result

    def write(self, result: RowGroupResult, output_dir: Path) -> dict[str, str]:
        """Write a row group's files; returns their paths relative to `output_dir`."""
        name = batch_file_name(result.index)
        types, json_columns = self._arrow_types(), self._json_columns()
        files = {}
        main = Path(PARQUET_DIR) / name
        write_parquet(
            to_table(result.frame, json_columns=json_columns, types=types), output_dir / main
        )
        files["main"] = str(main)
        processors = {p.name: p for p in self.config.processors}
        for proc, frame in result.processor_frames.items():
            rel = Path(PROCESSORS_DIR) / proc / name
            config = processors.get(proc)
            if isinstance(config, SchemaTransformProcessorConfig):
                # Its columns are the template's keys, not the config's columns.
                table = to_table(
                    frame,
                    json_columns=[
                        k for k, v in config.template.items() if isinstance(v, dict | list)
                    ],
                    types={
                        k: pa.string() for k, v in config.template.items() if isinstance(v, str)
                    },
                )
            else:
                table = to_table(frame, json_columns=json_columns, types=types)
            write_parquet(table, output_dir / rel)
            files[f"processor:{proc}"] = str(rel)
        if result.dropped_frame is not None and len(result.dropped_frame.columns):
            rel = Path(DROPPED_DIR) / name
            write_parquet(
                to_table(result.dropped_frame, json_columns=json_columns, types=types),
                output_dir / rel,
            )
            files["dropped"] = str(rel)
        return files

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
            if not is_row_wise(column) and not isinstance(column, CustomColumnConfig):
                continue
            reads = self._reads[column.name]
            if (
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

    def _base_frame(self, start: int, num_rows: int) -> pd.DataFrame:
        if self.seed_reader is not None:
            return self.seed_reader.rows(start, num_rows).reset_index(drop=True)
        return pd.DataFrame(index=pd.RangeIndex(num_rows))

    async def _run_segment(
        self,
        segment: tuple[str, list[ColumnConfigBase]],
        records: list[dict[str, Any]],
        failed: list[dict[str, str]],
        start: int,
        errors: Counter[str],
        samples: list[str],
    ) -> None:
        kind, columns = segment

        def fail(i: int, column: str, exc: CellError) -> None:
            failed[i][column] = str(exc)
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
                    if self._skip(column, row, failed[i]):
                        continue
                    try:
                        row[column.name] = self._sync_cell(column, row, start + i)
                        self.window.record(True)
                    except CellError as exc:
                        fail(i, column.name, exc)
        elif kind == "full":
            column = columns[0]
            assert isinstance(column, CustomColumnConfig)  # only those are planned "full"
            await self._full_column(column, records, failed, fail)
        else:
            await self._rows(columns, records, failed, start, fail)

    async def _rows(self, columns, records, failed, start, fail) -> None:
        names = {x.name for x in columns}
        deps = {c.name: self._reads[c.name] & names for c in columns}
        # A chain (each column reads the one before it, e.g. a single column) runs in order
        # in its row's task; otherwise every cell gets a task that starts once its inputs
        # in the row are done.
        chain = all(prev.name in deps[c.name] for prev, c in pairwise(columns))

        async def run_cell(i: int, row: dict[str, Any], column: ColumnConfigBase) -> None:
            if self._skip(column, row, failed[i]):
                return
            try:
                row[column.name] = await self._async_cell(column, row, start + i)
            except CellError as exc:
                fail(i, column.name, exc)
            else:
                self.window.record(True)

        async def run_chain(i: int, row: dict[str, Any]) -> None:
            for column in columns:
                await run_cell(i, row, column)

        async def run_row(i: int, row: dict[str, Any]) -> None:
            done: dict[str, asyncio.Future[None]] = {}

            async def after_inputs(column: ColumnConfigBase) -> None:
                for dep in deps[column.name]:
                    await done[dep]
                await run_cell(i, row, column)

            for column in columns:
                done[column.name] = asyncio.ensure_future(after_inputs(column))
            try:
                await asyncio.gather(*done.values())
            except BaseException:
                for fut in done.values():
                    fut.cancel()
                await asyncio.gather(*done.values(), return_exceptions=True)
                raise

        runner = run_chain if chain else run_row
        tasks = [asyncio.ensure_future(runner(i, row)) for i, row in enumerate(records)]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _full_column(self, column: CustomColumnConfig, records, failed, fail) -> None:
        alive = [i for i, f in enumerate(failed) if not f]
        frame = pd.DataFrame([records[i] for i in alive])
        fn = load_callable(column.function)
        try:
            if inspect.iscoroutinefunction(fn):
                values = fn(frame, dict(column.params))
            else:  # user code may be slow: keep the event loop free
                values = await asyncio.to_thread(fn, frame, dict(column.params))
            if inspect.isawaitable(values):
                values = await values
            values = list(values)
        except Exception as exc:
            raise GenerationError(
                f"column '{column.name}': full-column function failed: {type(exc).__name__}: {exc}"
            ) from exc
        if len(values) != len(alive):
            raise GenerationError(
                f"column '{column.name}': full-column function returned {len(values)} values "
                f"for {len(alive)} rows"
            )
        for i, value in zip(alive, values, strict=True):
            records[i][column.name] = value
        for i, f in enumerate(failed):
            if f:
                records[i][column.name] = None

    def _skip(self, column: ColumnConfigBase, row: dict[str, Any], failed: dict[str, str]) -> bool:
        bad = [dep for dep in self._reads[column.name] if dep in failed]
        if bad:
            failed.setdefault(column.name, f"skipped: input column '{sorted(bad)[0]}' failed")
            row[column.name] = None
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

    # -- assembling the output ------------------------------------------------------------

    def _finish(
        self, index, start, requested, records, failed, errors, samples, dtypes
    ) -> RowGroupResult:
        generated = [c for c in self.order if is_row_wise(c) or isinstance(c, CustomColumnConfig)]
        keep_null = self.run_config.on_cell_error == "null"
        kept = [i for i, f in enumerate(failed) if keep_null or not f]
        rows = [records[i] for i in kept]
        names = self._output_columns()
        if rows:
            frame = pd.DataFrame(rows, columns=names)
        else:  # no value to infer types from: seed and sampler columns keep theirs
            frame = pd.DataFrame(columns=names).astype(
                {c: t for c, t in dtypes.items() if c in names}
            )
        if keep_null:
            for column in generated:
                frame[f"{column.name}__error"] = pd.Series(
                    [failed[i].get(column.name) for i in kept], dtype=object
                )
        frame = self._cast_dtypes(frame, rows)
        dropped_cols = [c.name for c in self.config.columns if c.drop and c.name in frame.columns]
        dropped_frame = frame[dropped_cols].copy() if dropped_cols else None
        main = frame.drop(columns=dropped_cols)
        try:
            main, outputs = apply_processors(main, self.config.processors, rows)
        except CellError as exc:
            raise GenerationError(f"processor failed: {exc}") from None
        return RowGroupResult(
            index=index,
            start=start,
            requested=requested,
            frame=main,
            processor_frames=outputs,
            dropped_frame=dropped_frame,
            dropped_rows=len(records) - len(kept),
            errors=dict(errors),
            error_samples=samples,
        )

    def _output_columns(self) -> list[str]:
        names = list(self.seed_columns)
        for column in self.config.columns:
            if column.name not in names and not isinstance(column, SeedDatasetColumnConfig):
                names.append(column.name)
        return names

    def _cast_dtypes(self, frame: pd.DataFrame, rows: list[dict[str, Any]]) -> pd.DataFrame:
        for column in self.config.columns:
            if column.name not in frame.columns:
                continue
            if isinstance(column, CustomColumnConfig) and frame[column.name].dtype.kind == "f":
                # Ints with a null (a failed cell) would turn float64: keep them integers.
                raw = [row.get(column.name) for row in rows]
                if all(v is None or _is_int(v) for v in raw):
                    frame[column.name] = pd.array(raw, dtype="Int64")
            elif isinstance(column, ExpressionColumnConfig):
                frame[column.name] = frame[column.name].astype(_EXPRESSION_TYPES[column.dtype])
            elif column.is_llm and not isinstance(
                column, LLMStructuredColumnConfig | LLMJudgeColumnConfig
            ):
                frame[column.name] = frame[column.name].astype(object)
        return frame

    def _json_columns(self) -> list[str]:
        """Columns stored as JSON text in every file, even when a row group has no value."""
        return [
            c.name
            for c in self.config.columns
            if isinstance(c, LLMStructuredColumnConfig | LLMJudgeColumnConfig)
            or (isinstance(c, SamplerColumnConfig) and isinstance(c.params, PersonSamplerParams))
        ]

    def _arrow_types(self) -> dict[str, pa.DataType]:
        types: dict[str, pa.DataType] = {}
        for column in self.config.columns:
            if isinstance(column, ExpressionColumnConfig):
                types[column.name] = _ARROW_TYPES[column.dtype]
            elif isinstance(column, LLMStructuredColumnConfig | LLMJudgeColumnConfig):
                types[column.name] = pa.string()  # JSON text, decoded on read
            elif column.is_llm:
                types[column.name] = pa.string()
            if is_row_wise(column) or isinstance(column, CustomColumnConfig):
                types[f"{column.name}__error"] = pa.string()
        return types


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_async_custom(column: ColumnConfigBase) -> bool:
    if not isinstance(column, CustomColumnConfig):
        return False
    try:
        return inspect.iscoroutinefunction(load_callable(column.function))
    except (ImportError, AttributeError):
        return False
