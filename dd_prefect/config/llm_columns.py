"""The LLM column configs: llm-text, llm-code, llm-structured and llm-judge."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from dd_prefect.config.column_base import ColumnConfigBase
from dd_prefect.config.modality import MultiModalContext, context_columns
from dd_prefect.config.utils.code_lang import CodeLang
from dd_prefect.config.utils.trace_type import TraceType

TRACE_COLUMN_POSTFIX = "__trace"
"""Suffix of the column holding an LLM column's trace (`with_trace`)."""
REASONING_CONTENT_COLUMN_POSTFIX = "__reasoning_content"
"""Suffix of the column holding an LLM column's reasoning (`extract_reasoning_content`)."""


class LLMTextColumnConfig(ColumnConfigBase):
    """Free text from an LLM; `prompt` and `system_prompt` are Jinja templates over the row."""

    column_type: Literal["llm-text"] = "llm-text"
    prompt: str
    model_alias: str
    system_prompt: str | None = None
    multi_modal_context: list[MultiModalContext] | None = None
    tool_alias: str | None = None
    with_trace: TraceType = TraceType.NONE
    extract_reasoning_content: bool = False

    def templates(self) -> dict[str, str]:
        out = {"prompt": self.prompt}
        if self.system_prompt:
            out["system_prompt"] = self.system_prompt
        return out

    def required_columns(self) -> set[str]:
        return super().required_columns() | context_columns(self.multi_modal_context)

    @property
    def side_effect_columns(self) -> list[str]:
        """``<name>__trace`` (with `with_trace`) and ``<name>__reasoning_content`` (with
        `extract_reasoning_content`), as Data Designer names them."""
        out = []
        if self.with_trace != TraceType.NONE:
            out.append(self.name + TRACE_COLUMN_POSTFIX)
        if self.extract_reasoning_content:
            out.append(self.name + REASONING_CONTENT_COLUMN_POSTFIX)
        return out

    @property
    def is_llm(self) -> bool:
        return True


class LLMCodeColumnConfig(LLMTextColumnConfig):
    """Code from an LLM; the fenced block for `code_lang` is extracted from the answer."""

    column_type: Literal["llm-code"] = "llm-code"  # type: ignore[assignment]
    code_lang: CodeLang = CodeLang.PYTHON


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
