"""Data Designer's conditional generation: ``skip.when`` and ``propagate_skip``.

A cell is skipped (it is not generated: an LLM cell makes no request) when its column's
`propagate_skip` is on and a column it reads was skipped in the row, or else when its
``skip.when`` expression is truthy for the row. A skipped cell holds ``skip.value`` (None
without a skip config) and is no failure.
"""

from __future__ import annotations

import ast
import logging
from dataclasses import replace
from typing import Any

from dd_prefect.config.column_base import ColumnConfigBase
from dd_prefect.config.templates import current_template_rules, use_template_rules
from dd_prefect.engine.templating import render
from dd_prefect.errors import CellError

logger = logging.getLogger(__name__)


def is_skipped(
    column: ColumnConfigBase, reads: set[str], row: dict[str, Any], skipped: set[str]
) -> bool:
    """Whether the cell of `column` in `row` is skipped (`skipped`: the row's skipped
    columns; `reads`: the columns the column reads)."""
    if column.propagate_skip and not skipped.isdisjoint(reads):
        return True
    return column.skip is not None and skip_when(column, row)


def skip_value(column: ColumnConfigBase) -> Any:
    """The value a skipped cell of `column` holds."""
    return column.skip.value if column.skip is not None else None


def skip_when(column: ColumnConfigBase, row: dict[str, Any]) -> bool:
    """Whether ``skip.when`` is truthy for `row`, read as a Python value the way Jinja's
    native rendering does (``False``, ``0``, ``''``, ``None``, ``[]`` are falsy).

    A null prints as nothing (falsy), whatever ``RunConfig.template_null`` says: the
    expression is a test, not text. An expression that fails to render skips the cell
    (Data Designer's choice: no expensive call for a row whose filter is unknown), with a
    warning.
    """
    assert column.skip is not None
    try:
        with use_template_rules(replace(current_template_rules(), null="empty")):
            text = render(column.skip.when, row, column=column.name)
    except CellError as exc:
        logger.warning(
            "skip.when of column '%s' failed (%s): the cell is skipped", column.name, exc
        )
        return True
    try:
        return bool(ast.literal_eval(text.strip()))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return bool(text)
