"""Data Designer's ``@custom_column_generator`` and finding a custom column's function.

A Data Designer custom column names its function in ``generator_function``; Data Designer
writes only the function's name to a config file. dd_prefect resolves such a name, in
order: a ``"pkg.module:function"`` path (imported), then a function decorated with
:func:`custom_column_generator` in this process (registered under its name when it was
decorated). Anything else is an error naming the column and the function.

Its calling convention differs from dd_prefect's ``function(row, params) -> value``: a
decorated function gets the row (``cell_by_cell``, a dict) or the rows (``full_column``, a
DataFrame), then optionally ``generator_params``, and returns them with the column (and its
declared ``side_effect_columns``) added.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from dd_prefect.config.callables import CALLABLE_PATH, callable_problem, load_callable

F = TypeVar("F", bound=Callable[..., Any])

METADATA = "custom_column_metadata"
"""The attribute the decorator sets: required_columns, side_effect_columns, model_aliases."""

# Expected parameter names by position (Data Designer's): the row or the rows, the
# generator's params, the models (LLM access, which dd_prefect does not offer).
EXPECTED_PARAMS = ({"row", "df"}, {"generator_params"}, {"models"})

_REGISTRY: dict[str, Callable[..., Any]] = {}


def validate_generator_signature(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    """The positional parameters of a generator, checked against Data Designer's names
    (``row``/``df``, ``generator_params``, ``models``); TypeError when they differ."""
    params = [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    if not 1 <= len(params) <= 3:
        raise TypeError(f"Generator '{fn.__name__}' must have 1-3 parameters, got {len(params)}.")
    for i, param in enumerate(params):
        if param.name not in EXPECTED_PARAMS[i]:
            expected = " or ".join(f"'{p}'" for p in sorted(EXPECTED_PARAMS[i]))
            raise TypeError(
                f"Generator '{fn.__name__}' param {i + 1} must be {expected}, got '{param.name}'."
            )
    return params


def custom_column_generator(
    required_columns: list[str] | None = None,
    side_effect_columns: list[str] | None = None,
    model_aliases: list[str] | None = None,
) -> Callable[[F], F]:
    """Declare a custom column generator (Data Designer's decorator).

    `required_columns` order the column after those it reads; `side_effect_columns` are
    further columns the function adds; `model_aliases` (LLM access through ``models``) are
    not supported by dd_prefect and are refused when a config uses the function. The
    function is registered under its name, so a config file naming it resolves in this
    process.
    """

    def decorator(fn: F) -> F:
        validate_generator_signature(fn)
        setattr(
            fn,
            METADATA,
            {
                "required_columns": list(required_columns or []),
                "side_effect_columns": list(side_effect_columns or []),
                "model_aliases": list(model_aliases or []),
            },
        )
        _REGISTRY[fn.__name__] = fn
        return fn

    return decorator


def generator_metadata(fn: Callable[..., Any]) -> dict[str, list[str]] | None:
    """The decorator's metadata of `fn`, or None for an undecorated function."""
    metadata = getattr(fn, METADATA, None)
    return metadata if isinstance(metadata, dict) else None


def resolve_generator(reference: str) -> Callable[..., Any]:
    """The function a ``generator_function`` names (see the module docstring).

    Raises LookupError saying why it cannot be found.
    """
    if CALLABLE_PATH.fullmatch(reference):
        if problem := callable_problem(reference):
            raise LookupError(problem)
        return load_callable(reference)
    if reference in _REGISTRY:
        return _REGISTRY[reference]
    raise LookupError(
        f"no function '{reference}' is known: Data Designer writes only a function's name, "
        "so define it with @custom_column_generator in the process that loads the config, "
        "or give generator_function as 'pkg.module:function'"
    )


def generator_problem(reference: str, strategy: str) -> str | None:
    """Why ``generator_function`` `reference` cannot run as a `strategy` column, or None."""
    try:
        fn = resolve_generator(reference)
    except LookupError as exc:
        return f"generator_function '{reference}': {exc}"
    try:
        params = validate_generator_signature(fn)
    except TypeError as exc:
        return f"generator_function '{reference}': {exc}"
    first = "df" if strategy == "full_column" else "row"
    if params[0].name != first:
        return (
            f"generator_function '{reference}': a {strategy} generator's first parameter "
            f"must be '{first}', got '{params[0].name}'"
        )
    if len(params) == 3:
        return (
            f"generator_function '{reference}' takes `models` (LLM calls from custom code), "
            "which dd_prefect does not support; use an LLM column for the model call"
        )
    return None
