"""Column configs, discriminated by ``column_type``.

``llm-text`` and ``llm_text`` (and the other hyphenated names) are accepted alike; the
hyphenated spelling is canonical and is what files are written with.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from dd_prefect.config.fingerprint import sorted_sets
from dd_prefect.config.samplers import (
    PARAMS_BY_TYPE,
    TYPE_BY_PARAMS,
    SamplerParams,
    SamplerType,
    SubcategorySamplerParams,
    TimeDeltaSamplerParams,
)
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


def normalize_column_type(value: Any) -> Any:
    """``llm_text`` / ``LLM-Text`` -> ``llm-text``; anything else is returned unchanged."""
    if isinstance(value, str):
        return value.strip().lower().replace("_", "-")
    return value


class ColumnConfigBase(BaseModel):
    """Fields every column has: its `name`, and `drop` to leave it out of the final output."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    name: str
    drop: bool = False

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

    def templates(self) -> dict[str, str]:
        """Jinja templates this column renders, by field name."""
        return {}

    def required_columns(self) -> set[str]:
        """Columns this column reads (its edges in the dependency graph)."""
        refs: set[str] = set()
        for source in self.templates().values():
            refs |= template_references(source)
        return refs

    @property
    def is_llm(self) -> bool:
        """Whether cells of this column are LLM calls."""
        return False


class SamplerColumnConfig(ColumnConfigBase):
    """A column drawn from a statistical or Faker sampler; plain-dict `params` are accepted."""

    column_type: Literal["sampler"] = "sampler"
    sampler_type: SamplerType
    params: SamplerParams
    convert_to: Literal["int", "float", "str"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _typed_params(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        params = data.get("params")
        sampler_type = data.get("sampler_type")
        if sampler_type is None and isinstance(params, BaseModel):
            data["sampler_type"] = sampler_type = TYPE_BY_PARAMS.get(type(params))
        try:
            kind = SamplerType(sampler_type)
        except ValueError:
            return data  # the field validator reports the unknown sampler type
        expected = PARAMS_BY_TYPE[kind]
        if params is None:
            params = {}
        if isinstance(params, dict):
            data["params"] = expected.model_validate(params)
        elif isinstance(params, BaseModel) and not isinstance(params, expected):
            raise ValueError(
                f"sampler_type '{kind.value}' needs {expected.__name__}, "
                f"got {type(params).__name__}"
            )
        return data

    def required_columns(self) -> set[str]:
        if isinstance(self.params, SubcategorySamplerParams):
            return {self.params.category}
        if isinstance(self.params, TimeDeltaSamplerParams):
            return {self.params.reference_column_name}
        return set()


class ExpressionColumnConfig(ColumnConfigBase):
    """A Jinja expression over other columns of the row, cast to `dtype`."""

    column_type: Literal["expression"] = "expression"
    expr: str
    dtype: Literal["int", "float", "str", "bool"] = "str"

    def templates(self) -> dict[str, str]:
        return {"expr": self.expr}


class LLMTextColumnConfig(ColumnConfigBase):
    """Free text from an LLM; `prompt` and `system_prompt` are Jinja templates over the row."""

    column_type: Literal["llm-text"] = "llm-text"
    prompt: str
    model_alias: str
    system_prompt: str | None = None

    def templates(self) -> dict[str, str]:
        out = {"prompt": self.prompt}
        if self.system_prompt:
            out["system_prompt"] = self.system_prompt
        return out

    @property
    def is_llm(self) -> bool:
        return True


class LLMCodeColumnConfig(LLMTextColumnConfig):
    """Code from an LLM; the fenced block for `code_lang` is extracted from the answer."""

    column_type: Literal["llm-code"] = "llm-code"  # type: ignore[assignment]
    code_lang: str = "python"


class LLMStructuredColumnConfig(LLMTextColumnConfig):
    """A JSON object from an LLM that validates against `output_format`.

    `output_format` is a JSON schema dict or a pydantic model class (stored as its schema).
    """

    column_type: Literal["llm-structured"] = "llm-structured"  # type: ignore[assignment]
    output_format: dict[str, Any]

    @field_validator("output_format", mode="before")
    @classmethod
    def _model_to_schema(cls, value: Any) -> Any:
        if isinstance(value, type) and issubclass(value, BaseModel):
            return value.model_json_schema()
        return value


class Score(BaseModel):
    """One rubric dimension of an llm-judge column: `options` maps a score to its meaning."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str
    options: dict[int | str, str]

    @field_validator("options", mode="before")
    @classmethod
    def _numeric_keys(cls, value: Any) -> Any:
        # JSON object keys are strings; keep numeric scores numeric so files round-trip.
        if isinstance(value, dict):
            return {
                (int(k) if isinstance(k, str) and re.fullmatch(r"-?\d+", k) else k): v
                for k, v in value.items()
            }
        return value


class LLMJudgeColumnConfig(LLMTextColumnConfig):
    """An LLM judge: one ``{"score", "reasoning"}`` object per score, keyed by score name."""

    column_type: Literal["llm-judge"] = "llm-judge"  # type: ignore[assignment]
    scores: list[Score]


class SeedDatasetColumnConfig(ColumnConfigBase):
    """A column that comes from the seed dataset (set `drop=True` to leave it out)."""

    column_type: Literal["seed-dataset"] = "seed-dataset"


class CustomColumnConfig(ColumnConfigBase):
    """A column computed by user code referenced as ``"pkg.module:function"``.

    ``cell_by_cell``: ``function(row: dict, params: dict) -> value`` (sync or async), per row.
    ``full_column``: ``function(df: DataFrame, params: dict) -> list | Series``, per row group.
    """

    column_type: Literal["custom"] = "custom"
    function: str
    params: dict[str, Any] = Field(default_factory=dict)
    required_columns_: list[str] = Field(default_factory=list, alias="required_columns")
    generation_strategy: Literal["cell_by_cell", "full_column"] = "cell_by_cell"

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    @field_validator("function")
    @classmethod
    def _import_path(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", value):
            raise ValueError(f"function must look like 'pkg.module:function', got {value!r}")
        return value

    def required_columns(self) -> set[str]:
        return set(self.required_columns_)


_COLUMN_CLASSES: dict[str, type[ColumnConfigBase]] = {
    "sampler": SamplerColumnConfig,
    "expression": ExpressionColumnConfig,
    "llm-text": LLMTextColumnConfig,
    "llm-code": LLMCodeColumnConfig,
    "llm-structured": LLMStructuredColumnConfig,
    "llm-judge": LLMJudgeColumnConfig,
    "seed-dataset": SeedDatasetColumnConfig,
    "custom": CustomColumnConfig,
}


def _column_tag(value: Any) -> Hashable:
    """The union's tag: the normalized `column_type` (a str when there is a valid one)."""
    raw = value.get("column_type") if isinstance(value, dict) else value.column_type
    tag: Hashable = normalize_column_type(raw)
    return tag


ColumnConfig = Annotated[
    Annotated[SamplerColumnConfig, Tag("sampler")]
    | Annotated[ExpressionColumnConfig, Tag("expression")]
    | Annotated[LLMTextColumnConfig, Tag("llm-text")]
    | Annotated[LLMCodeColumnConfig, Tag("llm-code")]
    | Annotated[LLMStructuredColumnConfig, Tag("llm-structured")]
    | Annotated[LLMJudgeColumnConfig, Tag("llm-judge")]
    | Annotated[SeedDatasetColumnConfig, Tag("seed-dataset")]
    | Annotated[CustomColumnConfig, Tag("custom")],
    Discriminator(_column_tag),
]


def column_class(column_type: str) -> type[ColumnConfigBase]:
    """The config class for a column type name (either spelling)."""
    key = normalize_column_type(column_type)
    if key not in _COLUMN_CLASSES:
        known = ", ".join(sorted(_COLUMN_CLASSES))
        raise ValueError(f"unknown column_type {column_type!r} (known: {known})")
    return _COLUMN_CLASSES[key]
