"""Calling a custom column's Data Designer ``generator_function``.

Such a function gets the row (a dict; ``cell_by_cell``) or the rows (a DataFrame;
``full_column``), and ``generator_params`` when it takes a second parameter (validated into
the parameter's pydantic model when it is annotated with one), and returns the row or rows
with the column and its declared side-effect columns added; other new keys are dropped
and no existing column may be removed (as Data Designer).
"""

from __future__ import annotations

import inspect
import typing
from typing import Any

import pandas as pd
from pydantic import BaseModel

from dd_prefect.config.callables import load_callable
from dd_prefect.config.columns import CustomColumnConfig
from dd_prefect.config.custom_column import resolve_generator


def custom_function(column: CustomColumnConfig) -> Any:
    """The user function of a custom column: its `generator_function` or its `function`.

    Raises LookupError (or ImportError) when it cannot be found.
    """
    if column.generator_function is not None:
        return resolve_generator(column.generator_function)
    assert column.function is not None  # the config has exactly one of them
    return load_callable(column.function)


def call_generator(column: CustomColumnConfig, row: dict[str, Any]) -> Any:
    """Run a cell_by_cell generator on a copy of `row`: sets its side-effect columns in
    `row` and returns the column's value (or an awaitable of it, for an async function)."""
    result = custom_function(column)(*generator_arguments(column, dict(row)))
    if inspect.isawaitable(result):
        return _finish_async(column, row, result)
    return _finish(column, row, result)


async def _finish_async(column: CustomColumnConfig, row: dict[str, Any], result: Any) -> Any:
    return _finish(column, row, await result)


def _finish(column: CustomColumnConfig, row: dict[str, Any], result: Any) -> Any:
    new = row_result(column, row, result)
    for side in column.side_effect_columns:
        row[side] = new[side]
    return new[column.name]


def generator_arguments(column: CustomColumnConfig, data: Any) -> tuple[Any, ...]:
    """The positional arguments for the column's generator: the data, then its params when
    the function takes them."""
    fn = custom_function(column)
    positional = [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) < 2:
        return (data,)
    return (data, _typed_params(fn, positional[1].name, column.generator_params))


def _typed_params(fn: Any, name: str, params: dict[str, Any] | None) -> Any:
    if params is None:
        return None
    try:
        hint = typing.get_type_hints(fn).get(name)
    except Exception:  # unresolvable annotations: hand over the dict
        return params
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        return hint.model_validate(params)
    return params


def row_result(column: CustomColumnConfig, row: dict[str, Any], result: Any) -> dict[str, Any]:
    """The new values (the column and its side effects) from a cell_by_cell result.

    Raises ValueError when the result is not a dict, lacks a column it must add, or removed
    a column it was given.
    """
    if not isinstance(result, dict):
        raise ValueError(f"generator_function must return the row (a dict), got {type(result)}")
    _check_keys(column, set(row), set(result), "row")
    return {k: result[k] for k in (column.name, *column.side_effect_columns)}


def frame_result(column: CustomColumnConfig, frame: pd.DataFrame, result: Any) -> pd.DataFrame:
    """The new columns (the column and its side effects) from a full_column result."""
    if not isinstance(result, pd.DataFrame):
        raise ValueError(f"generator_function must return a DataFrame, got {type(result)}")
    if len(result) != len(frame):
        raise ValueError(f"generator_function returned {len(result)} rows for {len(frame)}")
    _check_keys(column, {str(c) for c in frame.columns}, {str(c) for c in result.columns}, "df")
    return result[[column.name, *column.side_effect_columns]].reset_index(drop=True)


def _check_keys(column: CustomColumnConfig, before: set[str], after: set[str], what: str) -> None:
    missing = [c for c in (column.name, *column.side_effect_columns) if c not in after]
    if missing:
        raise ValueError(
            f"generator_function did not add {', '.join(repr(c) for c in missing)} to the "
            f"{what} (a generator adds its column and its declared side_effect_columns)"
        )
    if removed := sorted(before - after):
        raise ValueError(f"generator_function removed columns {removed} from the {what}")
