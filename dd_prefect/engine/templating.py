"""Rendering Jinja templates against row values, in the sandboxed environment."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError

from dd_prefect.config.templates import jinja_environment
from dd_prefect.errors import CellError


@lru_cache(maxsize=1024)
def compile_template(source: str) -> jinja2.Template:
    """A compiled template from the shared sandboxed environment (cached by source)."""
    return jinja_environment().from_string(source)


def render(source: str, row: dict[str, Any], *, column: str) -> str:
    """Render `source` with the row's values; a failure raises CellError naming the column.

    A sandbox violation (reaching Python internals) is reported as kind ``sandbox``.
    """
    try:
        return compile_template(source).render(row)
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


def render_json_template(value: Any, row: dict[str, Any], *, column: str) -> Any:
    """Render every string inside a JSON-able value (schema-transform templates)."""
    if isinstance(value, str):
        return render(value, row, column=column)
    if isinstance(value, dict):
        return {k: render_json_template(v, row, column=column) for k, v in value.items()}
    if isinstance(value, list):
        return [render_json_template(v, row, column=column) for v in value]
    return value
