"""Pydantic validation errors as ConfigValidationError naming the stage and column."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from dd_prefect.config.dd_fields import DD_COLUMN_TYPES
from dd_prefect.errors import ConfigIssue, ConfigValidationError, InvalidConfigError

__all__ = ["InvalidConfigError", "config_error_from"]  # as data_designer.config.errors


def config_error_from(
    exc: ValidationError,
    *,
    column: str | None = None,
    field: str | None = None,
    data: Any = None,
) -> ConfigValidationError:
    """A pydantic ValidationError as a ConfigValidationError naming the column or field.

    With `data` (the input that failed), an error inside a named stage or column of it
    names that stage and column, and its field is given from there on.
    Input values are left out of the message: they may hold something secret.
    """
    issues = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = [p for p in err["loc"] if not str(p).startswith("function-")]
        stage, named_column, start = _names_along(loc, data)
        if start == 0 and column is not None and loc and loc[0] in DD_COLUMN_TYPES:
            start = 1  # the column union's tag (its column_type): no field of ours
        loc_text = ".".join(str(p) for p in loc[start:])
        # A validator's own ValueError reads as written, without pydantic's "Value error, ".
        cause = err.get("ctx", {}).get("error") if err["type"] == "value_error" else None
        message = str(cause) if isinstance(cause, ValueError) else err["msg"]
        named_column = named_column or column
        if named_column is not None:  # said once, by the issue
            message = message.removeprefix(f"column '{named_column}': ")
            message = message.removeprefix(f"column '{named_column}' ")
        issues.append(
            ConfigIssue(message, column=named_column, stage=stage, field=loc_text or field)
        )
    return ConfigValidationError(issues)


def _names_along(loc: list[Any], data: Any) -> tuple[str | None, str | None, int]:
    """The stage and column names met following `loc` through `data`, and where loc goes on."""
    stage = column = None
    start = 0
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            owner = loc[i - 1] if i else None
            if owner not in ("stages", "columns"):
                continue
            name = node.get("name") if isinstance(node, dict) else None
            if not isinstance(name, str):
                break
            if owner == "stages":
                stage = name
            else:
                column = name
            start = i + 1
            # A tagged union's tag (the column_type) comes next in loc: no field of ours.
            tag = loc[i + 1] if i + 1 < len(loc) else None
            if owner == "columns" and isinstance(tag, str) and tag not in node:
                start = i + 2
        else:
            break
    return stage, column, start
