"""Rendering Jinja templates against row values, in the sandboxed, bounded environment.

Each render follows the run's template rules (:func:`template_rules`, bound by the
orchestration layer for a run; the RunConfig defaults otherwise): output size and work are
bounded, and printed nulls follow ``template_null``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError

from dd_prefect.config.run_config import RunConfig
from dd_prefect.config.templates import (
    TemplateLimitError,
    TemplateNullError,
    TemplateRules,
    end_render,
    is_null,
    jinja_environment,
    start_render,
    template_references,
    use_template_rules,
)
from dd_prefect.errors import CellError


@contextlib.contextmanager
def template_rules(run_config: RunConfig) -> Iterator[None]:
    """Renders inside the block (and in tasks started inside it) follow `run_config`'s
    template limits and null rule."""
    with use_template_rules(TemplateRules.of(run_config)):
        yield


@lru_cache(maxsize=1024)
def compile_template(source: str) -> jinja2.Template:
    """A compiled template from the shared sandboxed environment (cached by source)."""
    return jinja_environment().from_string(source)


def render(source: str, row: dict[str, Any], *, column: str, index: int | None = None) -> str:
    """Render `source` with the row's values; a failure raises CellError naming the column.

    Kinds: ``sandbox`` (reaching Python internals), ``template_limit`` (over the output or
    steps limit), ``null_value`` (printed a null under ``template_null="error"``; names
    the null inputs and the row: `index` when given, else some of its values), ``template``.
    """
    token = start_render()
    try:
        return compile_template(source).render(row)
    except TemplateLimitError as exc:
        raise CellError("template_limit", f"column '{column}': template limit: {exc}") from None
    except TemplateNullError:
        raise CellError("null_value", _null_message(source, row, column, index)) from None
    except SecurityError as exc:
        raise CellError(
            "sandbox", f"column '{column}': template blocked by the sandbox: {exc}"
        ) from None
    except jinja2.UndefinedError as exc:
        raise CellError("template", f"column '{column}': {exc.message}") from None
    except Exception as exc:  # filters and tests can raise anything
        raise CellError(
            "template", f"column '{column}': template failed: {type(exc).__name__}: {exc}"
        ) from None
    finally:
        end_render(token)


def _null_message(source: str, row: dict[str, Any], column: str, index: int | None) -> str:
    nulls = sorted(name for name in template_references(source) if is_null(row.get(name, "")))
    what = (
        "input " + ", ".join(f"'{n}'" for n in nulls) + (" is" if len(nulls) == 1 else " are")
        if nulls
        else "a value it prints is"
    )
    return (
        f"column '{column}': {what} null in {_which_row(row, nulls, index)} "
        "(RunConfig.template_null is 'error'; set it to 'empty' to print nulls as empty text)"
    )


def _which_row(row: dict[str, Any], nulls: list[str], index: int | None) -> str:
    if index is not None:
        return f"row {index}"
    shown = []
    for name, value in row.items():
        if name in nulls or not isinstance(value, str | int | float) or is_null(value):
            continue
        text = repr(value)
        shown.append(f"{name}={text[:40] + '...' if len(text) > 40 else text}")
        if len(shown) == 2:
            break
    return "the row with " + ", ".join(shown) if shown else "a row"


def render_json_template(value: Any, row: dict[str, Any], *, column: str) -> Any:
    """Render every string inside a JSON-able value (schema-transform templates)."""
    if isinstance(value, str):
        return render(value, row, column=column)
    if isinstance(value, dict):
        return {k: render_json_template(v, row, column=column) for k, v in value.items()}
    if isinstance(value, list):
        return [render_json_template(v, row, column=column) for v in value]
    return value
