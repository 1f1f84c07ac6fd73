"""Errors raised by the config layer."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError


class DataDesignerError(Exception):
    """Base class of every error dd_prefect raises on purpose."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem found in a config: where it is (column, stage, field) and what is wrong."""

    message: str
    column: str | None = None
    stage: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = []
        if self.stage is not None:
            where.append(f"stage '{self.stage}'")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class ConfigValidationError(DataDesignerError, ValueError):
    """A config failed validation. `issues` lists every problem found, not just the first."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = list(issues)
        lines = [str(issue) for issue in self.issues]
        if len(lines) == 1:
            text = f"Invalid config: {lines[0]}"
        else:
            text = f"Invalid config ({len(lines)} problems):\n" + "\n".join(
                f"  - {line}" for line in lines
            )
        super().__init__(text)


def config_error_from(
    exc: ValidationError, *, column: str | None = None, field: str | None = None
) -> ConfigValidationError:
    """A pydantic ValidationError as a ConfigValidationError naming the column or field.

    Input values are left out of the message: they may hold something secret.
    """
    issues = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        issues.append(ConfigIssue(err["msg"], column=column, field=loc or field))
    return ConfigValidationError(issues)
