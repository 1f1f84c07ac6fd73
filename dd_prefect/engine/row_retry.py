"""Regenerating a finished row group's failed rows in place (``retry_failed``).

Only the rows in the row group's failed-rows file are generated again, with the same seed
and from their own global positions (so samplers and seed rows draw what they drew the
first time); each output (main, dropped columns, processors) then gets its regenerated
rows back at their positions, so the dataset keeps its order. Rows that fail again stay
in the new failed-rows file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from dd_prefect.config.model_columns import ImageColumnConfig
from dd_prefect.engine.failed_rows import failed_rows_path
from dd_prefect.engine.generator import DatasetGenerator
from dd_prefect.engine.output import DROPPED_DIR, PARQUET_DIR, PROCESSORS_DIR, RowGroupResult
from dd_prefect.engine.parquet_io import batch_file_name, read_parquet
from dd_prefect.errors import GenerationError

_POSITION = "__dd_prefect_row__"


async def retry_failed_rows(
    generator: DatasetGenerator, index: int, start: int, num_rows: int, output_dir: Path
) -> RowGroupResult:
    """Row group `index` with its failed rows generated again (nothing is written).

    Not for configs with image columns: their files are named by a row's place in its
    row group's output, which a regenerated row changes.
    """
    images = [c.name for c in generator.config.columns if isinstance(c, ImageColumnConfig)]
    if images:
        raise GenerationError(
            f"retry_failed does not support image columns yet (column '{images[0]}'); "
            "resume without it, or regenerate the dataset"
        )
    output_dir = Path(output_dir)
    old_failed = read_parquet([failed_rows_path(output_dir, index)])
    retry = sorted(int(p) for p in old_failed["row_index"])
    new = await generator.generate(index, start, num_rows, only=retry)
    dropped_before = set(old_failed.loc[old_failed["dropped"].astype(bool), "row_index"])
    old_positions = [p for p in range(start, start + num_rows) if p not in dropped_before]
    new_failed = new.failed_rows if new.failed_rows is not None else old_failed.iloc[:0]
    dropped_now = set(new_failed.loc[new_failed["dropped"].astype(bool), "row_index"])
    new_positions = [p for p in retry if p not in dropped_now]
    name = batch_file_name(index)

    def merged(rel: Path, fresh: pd.DataFrame | None) -> pd.DataFrame | None:
        path = output_dir / rel
        old = read_parquet([path]) if path.exists() else None
        if old is None or fresh is None:
            return fresh if old is None else old
        return _merge(old, old_positions, fresh, new_positions, set(retry), f"{rel}")

    main = merged(Path(PARQUET_DIR) / name, new.frame)
    assert main is not None
    processors = {
        proc: frame
        for proc, fresh in new.processor_frames.items()
        if (frame := merged(Path(PROCESSORS_DIR) / proc / name, fresh)) is not None
    }
    return RowGroupResult(
        index=index,
        start=start,
        requested=num_rows,
        frame=main,
        processor_frames=processors,
        dropped_frame=merged(Path(DROPPED_DIR) / name, new.dropped_frame),
        dropped_rows=len(dropped_now),
        errors=new.errors,
        error_samples=new.error_samples,
        failed_rows=new_failed,
        duration=new.duration,
    )


def _merge(
    old: pd.DataFrame,
    old_positions: Sequence[int],
    fresh: pd.DataFrame,
    fresh_positions: Sequence[int],
    replaced: set[int],
    what: str,
) -> pd.DataFrame:
    """`old`'s rows not `replaced`, and the `fresh` ones, in order of their positions."""
    for frame, positions in ((old, old_positions), (fresh, fresh_positions)):
        if len(frame) != len(positions):
            raise GenerationError(
                f"retry_failed: {what} holds {len(frame)} rows where {len(positions)} were "
                "expected (a processor that changes the number of rows?); regenerate the "
                "dataset instead"
            )
    keep = [i for i, p in enumerate(old_positions) if p not in replaced]
    parts = [
        _positioned(old.iloc[keep], [old_positions[i] for i in keep]),
        _positioned(fresh, fresh_positions),
    ]
    both = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    return both.sort_values(_POSITION, kind="stable").drop(columns=_POSITION).reset_index(drop=True)


def _positioned(frame: pd.DataFrame, positions: Iterable[int]) -> pd.DataFrame:
    return frame.reset_index(drop=True).assign(**{_POSITION: list(positions)})
