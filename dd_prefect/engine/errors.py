"""Errors raised while generating rows."""

from __future__ import annotations

from dd_prefect.config.errors import DataDesignerError


class GenerationError(DataDesignerError):
    """Generation could not go on."""


class EarlyShutdownError(GenerationError):
    """Too many cells failed within the error window; generation stopped early."""

    def __init__(self, message: str, *, rows_produced: int = 0) -> None:
        self.rows_produced = rows_produced
        super().__init__(message)


class CellError(Exception):
    """One cell could not be generated; `kind` classifies it for the error counts."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)
