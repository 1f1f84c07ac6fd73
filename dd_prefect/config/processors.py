"""Processors: transformations applied to each finished row group."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dd_prefect.config.fingerprint import sorted_sets


class _Processor(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str

    @model_validator(mode="before")
    @classmethod
    def _sets_sorted(cls, data: Any) -> Any:
        return sorted_sets(data)

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("processor name must be non-empty")
        return value


class DropColumnsProcessorConfig(_Processor):
    """Remove columns (glob patterns allowed) from the main output; they are kept aside."""

    processor_type: Literal["drop_columns"] = "drop_columns"
    column_names: list[str]


class SchemaTransformProcessorConfig(_Processor):
    """Render `template` (a JSON-able value of Jinja strings) per row into a new dataset.

    The result is written as the processor's own output; the main output is unchanged.
    """

    processor_type: Literal["schema_transform"] = "schema_transform"
    template: dict[str, Any]


ProcessorConfig = Annotated[
    DropColumnsProcessorConfig | SchemaTransformProcessorConfig,
    Field(discriminator="processor_type"),
]
