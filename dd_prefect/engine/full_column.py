"""Full-column custom columns: one call of the user's function with the whole row group.

The function gets the rows no cell failed in as a DataFrame (and the column's params) and
returns one value per row; sync functions run in a thread, async ones on the event loop.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pandas as pd

from dd_prefect.config.columns import CustomColumnConfig
from dd_prefect.engine.cells import load_callable
from dd_prefect.errors import GenerationError


async def run_full_column(
    column: CustomColumnConfig, records: list[dict[str, Any]], failed: list[dict[str, str]]
) -> None:
    """Fill `column` in `records`: the function's values, None in the rows that failed."""
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
