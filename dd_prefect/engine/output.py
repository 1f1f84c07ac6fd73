"""A row group's output: `RowGroupResult`, how its records become frames, and its files.

The generated records are turned into the main frame (typed as the config says, failed rows
dropped or kept with `<column>__error` columns), the dropped columns' frame and the
processors' frames; `RowGroupOutput.write` writes them under `PARQUET_DIR`, `DROPPED_DIR`
and `PROCESSORS_DIR` with the same schema in every row group.
"""

from __future__ import annotations

import contextlib
import numbers
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
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
    SamplerColumnConfig,
    SeedDatasetColumnConfig,
    ValidationColumnConfig,
)
from dd_prefect.config.model_columns import EmbeddingColumnConfig, ImageColumnConfig
from dd_prefect.config.processors import SchemaTransformProcessorConfig
from dd_prefect.config.run_config import RunConfig
from dd_prefect.config.samplers import PersonFromFakerSamplerParams, PersonSamplerParams
from dd_prefect.engine.cells import is_row_wise
from dd_prefect.engine.failed_rows import (
    FAILED_ROW_COLUMNS,
    failed_rows_frame,
    failed_rows_path,
)
from dd_prefect.engine.media import save_images
from dd_prefect.engine.parquet_io import batch_file_name, to_table, write_parquet
from dd_prefect.engine.processors import apply_processors
from dd_prefect.errors import CellError, GenerationError

PERSON_PARAMS = (PersonSamplerParams, PersonFromFakerSamplerParams)
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
    failed_rows: pd.DataFrame | None = None  # see engine.failed_rows; None: no row failed
    duration: float = 0.0
    files: dict[str, str] = field(default_factory=dict)

    @property
    def num_rows(self) -> int:
        return len(self.frame)


class RowGroupOutput:
    """Turns one config's generated records into `RowGroupResult`s and writes their files.

    `order` is the config's columns in generation order; `seed_columns` are the seed's.
    """

    def __init__(
        self,
        config: DataDesignerConfig,
        run_config: RunConfig,
        order: list[ColumnConfigBase],
        seed_columns: list[str],
    ) -> None:
        self.config = config
        self.run_config = run_config
        self.order = order
        self.seed_columns = seed_columns

    def finish(
        self,
        index: int,
        start: int,
        requested: int,
        records: list[dict[str, Any]],
        failed: list[dict[str, str]],
        errors: Counter[str],
        samples: list[str],
        dtypes: dict[Any, Any],
        positions: Sequence[int],
    ) -> RowGroupResult:
        """The result of a row group whose cells are all done (`failed`: errors per row;
        `positions`: the records' global row indices)."""
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
        generated_names = {c.name for c in generated}
        for name, dtype in dtypes.items():  # seed columns keep their types (nullable Int64)
            if name in generated_names or name not in frame.columns or not rows:
                continue
            if frame[name].dtype != dtype:
                with contextlib.suppress(TypeError, ValueError):
                    frame[name] = frame[name].astype(dtype)
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
            # None when no row failed (an empty frame costs ms, for every row group)
            failed_rows=failed_rows_frame(index, positions, failed, not keep_null)
            if any(failed)
            else None,
        )

    def write(self, result: RowGroupResult, output_dir: Path) -> dict[str, str]:
        """Write a row group's files; returns their paths relative to `output_dir`.

        Images of image columns are written first (under ``images/<column>/``) and their
        cells, in the files and in `result`, become those files' relative paths.
        """
        self._save_images(result, output_dir)
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
        failed = failed_rows_path(output_dir, result.index)
        if result.failed_rows is not None and len(result.failed_rows):
            write_parquet(to_table(result.failed_rows, types=FAILED_ROW_COLUMNS), failed)
            files["failed"] = str(failed.relative_to(output_dir))
        else:  # a retry that regenerated every failed row
            failed.unlink(missing_ok=True)
        return files

    def _save_images(self, result: RowGroupResult, output_dir: Path) -> None:
        for column in self.config.columns:
            if not isinstance(column, ImageColumnConfig):
                continue
            for frame in (result.frame, result.dropped_frame):
                if frame is not None and column.name in frame.columns:
                    paths = save_images(
                        list(frame[column.name]), output_dir, column.name, result.start
                    )
                    frame[column.name] = pd.Series(paths, index=frame.index, dtype=object)

    def _output_columns(self) -> list[str]:
        names = list(self.seed_columns)
        for column in self.config.columns:
            if column.name not in names and not isinstance(column, SeedDatasetColumnConfig):
                names.append(column.name)
            names.extend(column.side_effect_columns)
        return names

    def _cast_dtypes(self, frame: pd.DataFrame, rows: list[dict[str, Any]]) -> pd.DataFrame:
        for column in self.config.columns:
            for side in column.side_effect_columns:  # a failed or skipped cell set none: None
                frame[side] = pd.Series([row.get(side) for row in rows], dtype=object)
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
        """Columns stored as JSON text in every file, even when a row group has no value.

        A custom column's side-effect columns too: their values may be of any type.
        """
        custom_sides = [
            side
            for c in self.config.columns
            if isinstance(c, CustomColumnConfig)
            for side in c.side_effect_columns
        ]
        return custom_sides + [
            c.name
            for c in self.config.columns
            if isinstance(
                c,
                LLMStructuredColumnConfig
                | LLMJudgeColumnConfig
                | EmbeddingColumnConfig
                | ImageColumnConfig,
            )
            or (isinstance(c, SamplerColumnConfig) and isinstance(c.params, PERSON_PARAMS))
            or isinstance(c, ValidationColumnConfig)
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
            for side in column.side_effect_columns:
                types.setdefault(side, pa.string())  # JSON text when nested (a trace)
            if is_row_wise(column) or isinstance(column, CustomColumnConfig):
                types[f"{column.name}__error"] = pa.string()
        return types


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
