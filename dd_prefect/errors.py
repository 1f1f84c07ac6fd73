"""Every error dd_prefect raises on purpose, in one hierarchy (Data Designer's names).

::

    DataDesignerError
      InvalidConfigError
        ConfigValidationError        a config, spec or argument is wrong; `issues` lists all
      ResumeError                    a resume was required (ALWAYS) but is not possible
      RunLockedError                 another run is writing the same directory
      DataDesignerGenerationError    (alias GenerationError) generation could not go on
        DataDesignerEarlyShutdownError   (alias EarlyShutdownError) too many cells failed
      DataDesignerWorkflowError      (alias WorkflowError) a workflow could not run

The public API raises only these (and ``KeyError`` from mapping-style lookups). This
module imports nothing from the package, so every layer may use it.
"""

from __future__ import annotations

from dataclasses import dataclass


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

    def in_stage(self, stage: str) -> ConfigIssue:
        """The same issue, naming `stage` (unless it already names one)."""
        return ConfigIssue(self.message, self.column, self.stage or stage, self.field)


class InvalidConfigError(DataDesignerError):
    """A config is not valid (Data Designer's name)."""


class ConfigValidationError(InvalidConfigError, ValueError):
    """Bad input found before anything runs. `issues` lists every problem, not just one."""

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

    @classmethod
    def of(cls, message: str, **where: str | None) -> ConfigValidationError:
        """An error with one issue (`where`: column, stage, field)."""
        return cls([ConfigIssue(message, **where)])

    def in_stage(self, stage: str) -> ConfigValidationError:
        """The same issues, each naming `stage` (unless it already names one)."""
        return ConfigValidationError([issue.in_stage(stage) for issue in self.issues])


class ResumeError(DataDesignerError):
    """A resume was required (ResumeMode.ALWAYS) but is not possible; says why."""


class RunLockedError(DataDesignerError):
    """Another run holds the dataset's or workflow's directory; the message names it."""


class DataDesignerGenerationError(DataDesignerError):
    """Generation could not go on."""


class DataDesignerEarlyShutdownError(DataDesignerGenerationError):
    """Too many cells failed within the error window; generation stopped early."""

    def __init__(self, message: str, *, rows_produced: int = 0) -> None:
        self.rows_produced = rows_produced
        super().__init__(message)


class DataDesignerBudgetExceededError(DataDesignerGenerationError):
    """A budget of RunConfig (max_cost, max_tokens, max_requests) was reached: the run
    stopped after its running row groups finished; the message names what was spent.
    Resume with a raised budget to go on."""

    def __init__(self, message: str, *, spent: dict[str, float] | None = None) -> None:
        self.spent = dict(spent or {})
        super().__init__(message)


class DataDesignerWorkflowError(DataDesignerError):
    """A workflow could not be defined or run; the message names the stage."""


class CellError(Exception):
    """One cell could not be generated; `kind` classifies it for the error counts.

    Internal to generation: it becomes a dropped row or a null with ``<col>__error``,
    never reaches the caller.
    """

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


GenerationError = DataDesignerGenerationError
EarlyShutdownError = DataDesignerEarlyShutdownError
WorkflowError = DataDesignerWorkflowError

__all__ = [
    "CellError",
    "ConfigIssue",
    "ConfigValidationError",
    "DataDesignerBudgetExceededError",
    "DataDesignerEarlyShutdownError",
    "DataDesignerError",
    "DataDesignerGenerationError",
    "DataDesignerWorkflowError",
    "EarlyShutdownError",
    "GenerationError",
    "InvalidConfigError",
    "ResumeError",
    "RunLockedError",
    "WorkflowError",
]
