"""Checks of the columns that run user code or conditions, for :mod:`.validation`.

Each returns problems without the column's name (validation adds it).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import jinja2

from dd_prefect.config.columns import (
    ColumnConfigBase,
    CustomColumnConfig,
    ExpressionColumnConfig,
    LLMJudgeColumnConfig,
    LLMStructuredColumnConfig,
    LLMTextColumnConfig,
    SamplerColumnConfig,
    SeedDatasetColumnConfig,
    ValidationColumnConfig,
    condition_template,
)
from dd_prefect.config.custom_column import generator_problem
from dd_prefect.config.templates import template_references
from dd_prefect.config.validator_params import (
    LocalCallableValidatorParams,
    validation_function_problem,
)


def feature_problems(column: ColumnConfigBase) -> list[tuple[str, str | None]]:
    """(message, field) for a column's `skip` and for user code it names that cannot be
    used: a custom column's function or generator_function, a local callable validator's."""
    return _skip_problems(column) + _code_problems(column)


def _skip_problems(column: ColumnConfigBase) -> list[tuple[str, str | None]]:
    """Data Designer's rules for ``skip``: not on sampler and seed columns (drawn or read
    for every row); ``when`` parses, reads some column, and not the column itself."""
    if column.skip is None:
        return []
    field = "skip.when"
    if isinstance(column, SamplerColumnConfig | SeedDatasetColumnConfig):
        return [(f"skip is not supported on {column.column_type} columns", "skip")]
    try:
        reads = set(column.skip.columns)
    except jinja2.TemplateSyntaxError as exc:
        return [(f"Jinja syntax error in skip.when: {exc.message}", field)]
    if not reads:
        return [
            (
                f"skip.when {column.skip.when!r} reads no column; write it with Jinja "
                "delimiters, e.g. '{{ in_stock == 0 }}'",
                field,
            )
        ]
    if own := sorted(reads & {column.name, *column.side_effect_columns}):
        return [(f"skip.when reads the column itself ({', '.join(own)})", field)]
    if problem := _skip_value_problem(column, column.skip.value):
        return [(problem, "skip.value")]
    return []


_KINDS: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "float": (int, float)}


def _skip_value_problem(column: ColumnConfigBase, value: object) -> str | None:
    """A skip value that the column's cells can't hold (they are written with one type)."""
    if isinstance(column, ExpressionColumnConfig):
        kind = column.dtype
    elif isinstance(column, LLMTextColumnConfig) and not isinstance(
        column, LLMStructuredColumnConfig | LLMJudgeColumnConfig
    ):
        kind = "str"  # text and code
    else:
        return None  # cells of other columns may hold any value
    fits = (
        isinstance(value, bool)
        if kind == "bool"
        else not isinstance(value, bool) and (isinstance(value, _KINDS[kind]))
    )
    if value is None or fits:
        return None
    return f"skip.value {value!r} does not fit the column's {kind} cells"


def _code_problems(column: ColumnConfigBase) -> list[tuple[str, str | None]]:
    if isinstance(column, CustomColumnConfig) and column.generator_function is not None:
        problem = generator_problem(column.generator_function, column.generation_strategy)
        return [(problem, "generator_function")] if problem else []
    if isinstance(column, CustomColumnConfig) and column.function is not None:
        module, _, attr = column.function.partition(":")
        try:
            target = getattr(importlib.import_module(module), attr)
        except Exception as exc:  # a user module may fail at import with any error
            return [(f"cannot import function '{column.function}': {exc}", None)]
        return [] if callable(target) else [(f"'{column.function}' is not callable", None)]
    if isinstance(column, ValidationColumnConfig) and isinstance(
        column.validator_params, LocalCallableValidatorParams
    ):
        reference = column.validator_params.validation_function
        problem = validation_function_problem(reference)
        return [(problem, "validator_params.validation_function")] if problem else []
    return []


def condition_problems(
    column: SamplerColumnConfig, columns: Sequence[ColumnConfigBase]
) -> list[str]:
    """Conditions of `conditional_params` that read a column drawn after the samplers:
    samplers are drawn first, so a condition can read only samplers and seed columns."""
    later = {
        c.name for c in columns if not isinstance(c, SamplerColumnConfig | SeedDatasetColumnConfig)
    }
    out = []
    for condition in column.conditional_params:
        try:
            reads = sorted(template_references(condition_template(condition)) & later)
        except jinja2.TemplateSyntaxError:
            continue  # reported with the column's templates
        if reads:
            out.append(
                f"conditional_params condition {condition!r} reads "
                f"{', '.join(repr(r) for r in reads)}, which is not a sampler or seed column "
                "(samplers are drawn before the other columns)"
            )
    return out
