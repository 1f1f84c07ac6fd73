"""What every column config has: its name, `drop`, and Data Designer's skip fields.

Data Designer's fields whose feature dd_prefect lacks are refused unless at their no-op
default (see :mod:`dd_prefect.config.dd_fields`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from dd_prefect.config.dd_fields import refuse_unsupported
from dd_prefect.config.fingerprint import sorted_sets
from dd_prefect.config.templates import template_references


class ColumnType(StrEnum):
    """Column kinds (names follow Data Designer)."""

    SAMPLER = "sampler"
    EXPRESSION = "expression"
    LLM_TEXT = "llm-text"
    LLM_CODE = "llm-code"
    LLM_STRUCTURED = "llm-structured"
    LLM_JUDGE = "llm-judge"
    SEED_DATASET = "seed-dataset"
    CUSTOM = "custom"
    EMBEDDING = "embedding"
    IMAGE = "image"
    VALIDATION = "validation"


def normalize_column_type(value: Any) -> Any:
    """``llm_text`` / ``LLM-Text`` -> ``llm-text``; anything else is returned unchanged."""
    if isinstance(value, str):
        return value.strip().lower().replace("_", "-")
    return value


class SkipConfig(BaseModel):
    """Skip a cell when the Jinja expression `when` is truthy, writing `value` instead."""

    model_config = ConfigDict(extra="forbid")

    when: str
    value: bool | int | float | str | None = None

    @property
    def columns(self) -> list[str]:
        """The columns `when` reads, sorted (the column runs after them)."""
        return sorted(template_references(self.when))


class ColumnConfigBase(BaseModel):
    """Fields every column has: its `name`, `drop` to leave it out of the final output,
    and Data Designer's `skip` gate and `propagate_skip`."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    name: str
    drop: bool = False
    skip: SkipConfig | None = None
    propagate_skip: bool = True

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value or value != value.strip():
            raise ValueError("column name must be non-empty, without surrounding whitespace")
        return value

    @model_validator(mode="before")
    @classmethod
    def _sets_sorted(cls, data: Any) -> Any:
        return sorted_sets(data)

    @field_validator("column_type", mode="before", check_fields=False)
    @classmethod
    def _normalize_type(cls, value: Any) -> Any:
        return normalize_column_type(value)

    @model_validator(mode="before")
    @classmethod
    def _refuse_unsupported(cls, data: Any) -> Any:
        # Before the fields: a Data Designer column hears about its unsupported field
        # first, not about a field of ours it lacks.
        if isinstance(data, dict):
            field = cls.model_fields.get("column_type")
            kind = normalize_column_type(data.get("column_type", field and field.default))
            refuse_unsupported(str(kind), data, f"column '{data.get('name')}'")
        return data

    def templates(self) -> dict[str, str]:
        """Jinja templates this column renders, by field name."""
        return {}

    def required_columns(self) -> set[str]:
        """Columns this column reads (its edges in the dependency graph)."""
        refs: set[str] = set()
        for source in self.templates().values():
            refs |= template_references(source)
        return refs

    def skip_columns(self) -> set[str]:
        """Columns its ``skip.when`` reads: edges in the dependency graph too, but not data
        (a skip of one of them does not propagate)."""
        return set(self.skip.columns) if self.skip is not None else set()

    @property
    def is_llm(self) -> bool:
        """Whether cells of this column are LLM calls."""
        return False

    @property
    def side_effect_columns(self) -> list[str]:
        """Columns this column fills beside its own (Data Designer's side-effect columns)."""
        return []
