"""Column configs, discriminated by ``column_type``.

``llm-text`` and ``llm_text`` (and the other hyphenated names) are accepted alike; the
hyphenated spelling is canonical and is what files are written with.

Every column has Data Designer's fields, with its defaults; those whose feature dd_prefect
lacks are refused unless at their no-op default (see :mod:`dd_prefect.config.dd_fields`).
"""

from __future__ import annotations

from collections.abc import Hashable
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from dd_prefect.config.callables import CALLABLE_PATH, callable_path
from dd_prefect.config.column_base import (
    ColumnConfigBase,
    ColumnType,
    SkipConfig,
    normalize_column_type,
)
from dd_prefect.config.custom_column import generator_metadata, resolve_generator
from dd_prefect.config.dd_fields import (
    DD_COLUMN_TYPES,
    DD_SAMPLER_TYPES,
    drop_noop,
    refuse_unsupported,
)
from dd_prefect.config.llm_columns import (
    LLMCodeColumnConfig,
    LLMJudgeColumnConfig,
    LLMStructuredColumnConfig,
    LLMTextColumnConfig,
    Score,
)
from dd_prefect.config.model_columns import EmbeddingColumnConfig, ImageColumnConfig
from dd_prefect.config.samplers import (
    PARAMS_BY_TYPE,
    TYPE_BY_PARAMS,
    SamplerParams,
    SamplerType,
    SubcategorySamplerParams,
    TimeDeltaSamplerParams,
)
from dd_prefect.config.validation_column import ValidationColumnConfig

__all__ = [
    "ColumnConfig",
    "ColumnConfigBase",
    "ColumnType",
    "CustomColumnConfig",
    "EmbeddingColumnConfig",
    "ExpressionColumnConfig",
    "GenerationStrategy",
    "ImageColumnConfig",
    "LLMCodeColumnConfig",
    "LLMJudgeColumnConfig",
    "LLMStructuredColumnConfig",
    "LLMTextColumnConfig",
    "SamplerColumnConfig",
    "Score",
    "SeedDatasetColumnConfig",
    "SkipConfig",
    "ValidationColumnConfig",
    "column_class",
    "normalize_column_type",
]


class SamplerColumnConfig(ColumnConfigBase):
    """A column drawn from a statistical or Faker sampler; plain-dict `params` are accepted."""

    column_type: Literal["sampler"] = "sampler"
    sampler_type: SamplerType
    params: SamplerParams
    conditional_params: dict[str, SamplerParams] = Field(default_factory=dict)
    convert_to: Literal["int", "float", "str"] | None = None

    @field_validator("convert_to", mode="before")
    @classmethod
    def _no_strftime(cls, value: Any) -> Any:
        # Data Designer also takes a strftime format here (datetime and timedelta samplers).
        if isinstance(value, str) and value not in ("int", "float", "str"):
            raise ValueError(
                f"convert_to={value!r} (a strftime format) is not supported by dd_prefect "
                "(yet); format the value in an expression column"
            )
        return value

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
            if sampler_type in DD_SAMPLER_TYPES:
                raise ValueError(
                    f"column '{data.get('name')}': sampler_type '{sampler_type}' is not "
                    "supported by dd_prefect (yet)"
                ) from None
            return data  # the field validator reports the unknown sampler type
        data["params"] = _typed(kind, {} if params is None else params, "params", data.get("name"))
        conditional = data.get("conditional_params")
        if isinstance(conditional, dict):
            data["conditional_params"] = {
                condition: _typed(
                    kind, value, f"conditional_params[{condition!r}]", data.get("name")
                )
                for condition, value in conditional.items()
            }
        return data

    def templates(self) -> dict[str, str]:
        # Data Designer's conditions are Jinja expressions without the braces.
        return {
            f"conditional_params[{condition!r}]": condition_template(condition)
            for condition in self.conditional_params
        }

    def required_columns(self) -> set[str]:
        refs = super().required_columns()
        for params in (self.params, *self.conditional_params.values()):
            if isinstance(params, SubcategorySamplerParams):
                refs.add(params.category)
            elif isinstance(params, TimeDeltaSamplerParams):
                refs.add(params.reference_column_name)
        return refs


def condition_template(condition: str) -> str:
    """A `conditional_params` condition as a template: ``{{ <condition> }}``; a row meets it
    when that renders ``True`` (as Data Designer)."""
    return "{{ " + condition + " }}"


def _typed(kind: SamplerType, params: Any, field: str, column: Any) -> Any:
    """`params` (a dict, maybe with Data Designer's `sampler_type` in it) as `kind`'s model."""
    expected = PARAMS_BY_TYPE[kind]
    if isinstance(params, dict):
        params = dict(params)
        inner = params.pop("sampler_type", kind.value)
        if inner != kind.value:
            raise ValueError(f"{field}.sampler_type '{inner}' differs from sampler_type '{kind}'")
        where = f"params:{kind.value}"
        refuse_unsupported(where, params, f"column '{column}' {field}")
        return expected.model_validate(drop_noop(where, params, expected.model_fields))
    if isinstance(params, BaseModel) and not isinstance(params, expected):
        raise ValueError(
            f"sampler_type '{kind.value}' needs {expected.__name__}, got {type(params).__name__}"
        )
    return params


class ExpressionColumnConfig(ColumnConfigBase):
    """A Jinja expression over other columns of the row, cast to `dtype`."""

    column_type: Literal["expression"] = "expression"
    expr: str
    dtype: Literal["int", "float", "str", "bool"] = "str"

    def templates(self) -> dict[str, str]:
        return {"expr": self.expr}


class SeedDatasetColumnConfig(ColumnConfigBase):
    """A column that comes from the seed dataset (set `drop=True` to leave it out)."""

    column_type: Literal["seed-dataset"] = "seed-dataset"


class GenerationStrategy(StrEnum):
    """How a custom column is computed: per row, or per row group (Data Designer's)."""

    CELL_BY_CELL = "cell_by_cell"
    FULL_COLUMN = "full_column"


class CustomColumnConfig(ColumnConfigBase):
    """A column computed by user code: dd_prefect's `function` or Data Designer's
    `generator_function` (exactly one).

    `function`, ``"pkg.module:function"``: ``cell_by_cell``: ``function(row: dict, params:
    dict) -> value`` (sync or async), per row; ``full_column``: ``function(df: DataFrame,
    params: dict) -> list | Series``, per row group.

    `generator_function`: a function decorated with Data Designer's
    :func:`~dd_prefect.config.custom_column.custom_column_generator` (stored as its
    ``"pkg.module:function"`` path), or the path or registered name of one; it gets the row
    (a dict) or the rows (a DataFrame), and `generator_params` when it takes them, and
    returns them with the column and its side-effect columns added.
    """

    column_type: Literal["custom"] = "custom"
    function: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    required_columns_: list[str] = Field(default_factory=list, alias="required_columns")
    generation_strategy: Literal["cell_by_cell", "full_column"] = "cell_by_cell"
    generator_function: str | None = None
    generator_params: dict[str, Any] | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    @field_validator("function")
    @classmethod
    def _import_path(cls, value: str | None) -> str | None:
        if value is not None and not CALLABLE_PATH.fullmatch(value):
            raise ValueError(f"function must look like 'pkg.module:function', got {value!r}")
        return value

    @field_validator("generator_function", mode="before")
    @classmethod
    def _generator_path(cls, value: Any) -> Any:
        return callable_path(value) if callable(value) else value

    @field_validator("generator_params", mode="before")
    @classmethod
    def _params_dict(cls, value: Any) -> Any:
        return value.model_dump(mode="json") if isinstance(value, BaseModel) else value

    @model_validator(mode="after")
    def _one_function(self) -> CustomColumnConfig:
        if (self.function is None) == (self.generator_function is None):
            raise ValueError(
                f"column '{self.name}': give exactly one of function ('pkg.module:function') "
                "and generator_function (Data Designer's)"
            )
        return self

    def _metadata(self) -> dict[str, list[str]]:
        if self.generator_function is None:
            return {}
        try:
            fn = resolve_generator(self.generator_function)
        except LookupError:  # reported by validation
            return {}
        return generator_metadata(fn) or {}

    @property
    def side_effect_columns(self) -> list[str]:
        """Further columns a `generator_function` adds (declared with its decorator)."""
        return list(self._metadata().get("side_effect_columns", []))

    def required_columns(self) -> set[str]:
        declared = set(self._metadata().get("required_columns", []))
        return super().required_columns() | set(self.required_columns_) | declared


_COLUMN_CLASSES: dict[str, type[ColumnConfigBase]] = {
    "sampler": SamplerColumnConfig,
    "expression": ExpressionColumnConfig,
    "llm-text": LLMTextColumnConfig,
    "llm-code": LLMCodeColumnConfig,
    "llm-structured": LLMStructuredColumnConfig,
    "llm-judge": LLMJudgeColumnConfig,
    "seed-dataset": SeedDatasetColumnConfig,
    "custom": CustomColumnConfig,
    "embedding": EmbeddingColumnConfig,
    "image": ImageColumnConfig,
    "validation": ValidationColumnConfig,
}


def _column_tag(value: Any) -> Hashable:
    """The union's tag: the normalized `column_type` (a str when there is a valid one)."""
    raw = value.get("column_type") if isinstance(value, dict) else value.column_type
    tag: Hashable = normalize_column_type(raw)
    return tag


def _refuse_unsupported_type(value: Any) -> Any:
    """A Data Designer column type dd_prefect lacks: "not supported", naming the column."""
    if isinstance(value, dict):
        kind = normalize_column_type(value.get("column_type"))
        if kind in DD_COLUMN_TYPES and kind not in _COLUMN_CLASSES:
            raise ValueError(
                f"column '{value.get('name')}': column_type '{kind}' is not supported by "
                "dd_prefect (yet)"
            )
    return value


ColumnConfig = Annotated[
    Annotated[SamplerColumnConfig, Tag("sampler")]
    | Annotated[ExpressionColumnConfig, Tag("expression")]
    | Annotated[LLMTextColumnConfig, Tag("llm-text")]
    | Annotated[LLMCodeColumnConfig, Tag("llm-code")]
    | Annotated[LLMStructuredColumnConfig, Tag("llm-structured")]
    | Annotated[LLMJudgeColumnConfig, Tag("llm-judge")]
    | Annotated[SeedDatasetColumnConfig, Tag("seed-dataset")]
    | Annotated[CustomColumnConfig, Tag("custom")]
    | Annotated[EmbeddingColumnConfig, Tag("embedding")]
    | Annotated[ImageColumnConfig, Tag("image")]
    | Annotated[ValidationColumnConfig, Tag("validation")],
    Discriminator(_column_tag),
    BeforeValidator(_refuse_unsupported_type),
]


def column_class(column_type: str) -> type[ColumnConfigBase]:
    """The config class for a column type name (either spelling)."""
    key = normalize_column_type(column_type)
    if key in DD_COLUMN_TYPES and key not in _COLUMN_CLASSES:
        raise ValueError(f"column_type '{key}' is not supported by dd_prefect (yet)")
    if key not in _COLUMN_CLASSES:
        known = ", ".join(sorted(_COLUMN_CLASSES))
        raise ValueError(f"unknown column_type {column_type!r} (known: {known})")
    return _COLUMN_CLASSES[key]
