"""Full-column custom columns: one call of the user's function with the whole row group.

The function gets the rows to generate (those no cell failed in and not skipped) as a
DataFrame: a `function` with the column's params, returning one value per row; a Data
Designer `generator_function` (and its params when it takes them), returning the DataFrame
with the column and its side-effect columns added. Sync functions run in a thread, async
ones on the event loop.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pandas as pd

from dd_prefect.config.columns import CustomColumnConfig
from dd_prefect.engine.generator_functions import custom_function, frame_result, generator_arguments
from dd_prefect.errors import GenerationError


async def run_full_column(
    column: CustomColumnConfig, records: list[dict[str, Any]], rows: list[int]
) -> None:
    """Set `column` (and its side-effect columns) in `records[i]` for each i in `rows`."""
    frame = pd.DataFrame([records[i] for i in rows])
    fn = custom_function(column)
    dd_style = column.generator_function is not None
    args = generator_arguments(column, frame) if dd_style else (frame, dict(column.params))
    try:
        if inspect.iscoroutinefunction(fn):
            values = fn(*args)
        else:  # user code may be slow: keep the event loop free
            values = await asyncio.to_thread(fn, *args)
        if inspect.isawaitable(values):
            values = await values
        if dd_style:
            new = frame_result(column, frame, values)
            columns = {name: list(new[name]) for name in new.columns}
        else:
            columns = {column.name: list(values)}
    except Exception as exc:
        raise GenerationError(
            f"column '{column.name}': full-column function failed: {type(exc).__name__}: {exc}"
        ) from exc
    for name, values in columns.items():
        if len(values) != len(rows):
            raise GenerationError(
                f"column '{column.name}': full-column function returned {len(values)} values "
                f"for {len(rows)} rows"
            )
        for i, value in zip(rows, values, strict=True):
            records[i][name] = value
