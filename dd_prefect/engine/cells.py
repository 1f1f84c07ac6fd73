"""How one cell of each row-wise column type is produced."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from dd_prefect.config.columns import (
    ColumnConfigBase,
    CustomColumnConfig,
    ExpressionColumnConfig,
    LLMCodeColumnConfig,
    LLMJudgeColumnConfig,
    LLMStructuredColumnConfig,
    LLMTextColumnConfig,
)
from dd_prefect.config.llm_columns import REASONING_CONTENT_COLUMN_POSTFIX, TRACE_COLUMN_POSTFIX
from dd_prefect.engine.generator_functions import call_generator, custom_function
from dd_prefect.engine.llm import ModelRegistry, failure_kind
from dd_prefect.engine.media import context_parts
from dd_prefect.engine.templating import render
from dd_prefect.engine.tools import Conversation
from dd_prefect.errors import CellError, GenerationError

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


def cast_value(text: str, dtype: str, *, column: str, row: int) -> Any:
    """Cast a rendered expression to its dtype; a failure names the column and row."""
    value = text.strip()
    try:
        if dtype == "int":
            try:
                return int(value)
            except ValueError:
                number = float(value)
                if not number.is_integer():
                    raise
                return int(number)
        if dtype == "float":
            return float(value)
        if dtype == "bool":
            lowered = value.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(value)
    except ValueError:
        raise CellError(
            "cast", f"column '{column}', row {row}: cannot cast {value[:80]!r} to {dtype}"
        ) from None
    return text


def expression_cell(column: ExpressionColumnConfig, row: dict[str, Any], index: int) -> Any:
    """Render the expression against the row and cast it."""
    return cast_value(
        render(column.expr, row, column=column.name), column.dtype, column=column.name, row=index
    )


def _custom_failure(column: CustomColumnConfig, exc: Exception) -> CellError:
    if isinstance(exc, CellError):
        return exc
    return CellError("custom", f"column '{column.name}': {type(exc).__name__}: {exc}")


def call_custom(column: CustomColumnConfig, row: dict[str, Any]) -> Any:
    """Call a cell-by-cell custom function with the row and its params; a failure is a
    CellError naming the column. An async function's awaitable is returned as is."""
    try:
        if column.generator_function is not None:  # Data Designer's calling convention
            return call_generator(column, row)
        return custom_function(column)(dict(row), dict(column.params))
    except Exception as exc:
        raise _custom_failure(column, exc) from None


async def custom_cell(column: CustomColumnConfig, row: dict[str, Any]) -> Any:
    """Call a cell-by-cell custom function (sync or async) with the row and its params."""
    result = call_custom(column, row)
    if inspect.isawaitable(result):
        try:
            result = await result
        except Exception as exc:
            raise _custom_failure(column, exc) from None
    return result


def extract_code(text: str, lang: str) -> str:
    """The fenced block for `lang` (else the first fenced block, else the whole answer)."""
    fence = re.search(
        r"```[ \t]*" + re.escape(lang) + r"[^\n]*\n(.*?)```", text, re.DOTALL | re.IGNORECASE
    )
    if fence is None:
        fence = re.search(r"```[^\n]*\n(.*?)```", text, re.DOTALL)
    return (fence.group(1) if fence else text).strip()


def judge_schema(column: LLMJudgeColumnConfig) -> dict[str, Any]:
    """JSON schema of a judge answer: one {reasoning, score} object per score."""
    properties = {
        score.name: {
            "type": "object",
            "properties": {
                "reasoning": {"type": "string"},
                "score": {"enum": list(score.options)},
            },
            "required": ["reasoning", "score"],
            "additionalProperties": False,
        }
        for score in column.scores
    }
    return {
        "type": "object",
        "properties": properties,
        "required": [s.name for s in column.scores],
        "additionalProperties": False,
    }


def judge_rubric(column: LLMJudgeColumnConfig) -> str:
    """The rubric appended to a judge prompt."""
    lines = ["", "", "Evaluate the above on each of these criteria:"]
    for score in column.scores:
        options = "; ".join(f"{k}: {v}" for k, v in score.options.items())
        lines.append(f"- {score.name}: {score.description} Options: {options}")
    lines.append("For each criterion give your reasoning and a score from its options.")
    return "\n".join(lines)


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


class LLMCell:
    """Generates cells of one LLM column: renders prompts, calls the model (which may call
    the tools of the column's `tool_alias`), parses. A traced column (`with_trace`) also
    sets ``<column>__trace`` in the row."""

    def __init__(
        self,
        column: LLMTextColumnConfig,
        models: ModelRegistry,
        restarts: int,
        base_dirs: Sequence[Path] = (),
    ) -> None:
        self.column = column
        self.base_dirs = base_dirs  # where relative image paths of its context are looked up
        self.handle = models.handle(column.model_alias)
        self.restarts = restarts
        alias = column.tool_alias
        self.tools = models.tools.tool_set(alias, column.name) if alias is not None else None
        self.schema: dict[str, Any] | None = None
        if isinstance(column, LLMJudgeColumnConfig):
            self.schema = judge_schema(column)
        elif isinstance(column, LLMStructuredColumnConfig):
            self.schema = column.output_format
        self._response_format = None
        if self.schema is not None:
            self._response_format = {
                "type": "json_schema",
                "json_schema": {"name": _schema_name(column.name), "schema": self.schema},
            }
            self._validator = _validator(json.dumps(self.schema, sort_keys=True))

    def messages(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        """The chat messages for one row (the images of its multi-modal context first in the
        user message, as Data Designer sends them)."""
        column = self.column
        prompt = render(column.prompt, row, column=column.name)
        if isinstance(column, LLMCodeColumnConfig):
            prompt += f"\n\nReturn only the code, in a single ```{column.code_lang} fenced block."
        elif isinstance(column, LLMJudgeColumnConfig):
            prompt += judge_rubric(column)
        messages: list[dict[str, Any]] = []
        if column.system_prompt:
            messages.append(
                {"role": "system", "content": render(column.system_prompt, row, column=column.name)}
            )
        parts = context_parts(column.multi_modal_context or [], row, self.base_dirs)
        content: str | list[dict[str, Any]] = (
            [*parts, {"type": "text", "text": prompt}] if parts else prompt
        )
        messages.append({"role": "user", "content": content})
        return messages

    async def __call__(self, row: dict[str, Any]) -> Any:
        column = self.column
        try:
            messages = self.messages(row)
        except ValueError as exc:  # a context value the model cannot be sent
            raise CellError("multi_modal_context", f"column '{column.name}': {exc}") from None
        conversation = Conversation(messages, self.tools, column.name)
        try:
            if self.schema is None:
                text = await conversation.answer(self.handle)
                if isinstance(column, LLMCodeColumnConfig):
                    value = extract_code(text, column.code_lang)
                else:
                    value = text.strip()
            else:
                value = await self._structured(conversation)
        except (CellError, GenerationError):
            raise
        except Exception as exc:
            kind = failure_kind(exc)
            raise CellError(kind, f"column '{column.name}': {kind}: {exc}") from None
        trace = conversation.trace(column.with_trace)
        if trace is not None:
            row[column.name + TRACE_COLUMN_POSTFIX] = trace
        if column.extract_reasoning_content:
            row[column.name + REASONING_CONTENT_COLUMN_POSTFIX] = conversation.reasoning()
        return value

    async def _structured(self, conversation: Conversation) -> Any:
        problem = ""
        for _ in range(self.restarts + 1):
            text = await conversation.answer(self.handle, self._response_format)
            try:
                value = json.loads(_strip_fence(text))
                self._validator.validate(value)
                return value
            except json.JSONDecodeError as exc:
                problem = f"not valid JSON ({exc.msg})"
            except jsonschema.ValidationError as exc:
                problem = f"does not match the schema ({exc.message})"
            conversation.messages.append(
                {
                    "role": "user",
                    "content": f"That answer is {problem}. "
                    "Reply with only a JSON object that matches the schema.",
                }
            )
        raise CellError(
            "invalid_structured_output",
            f"column '{self.column.name}': answer {problem} after {self.restarts + 1} attempt(s)",
        )


def _strip_fence(text: str) -> str:
    fence = re.search(r"```(?:json)?[^\n]*\n(.*?)```", text, re.DOTALL)
    return fence.group(1) if fence else text


def _schema_name(column: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", column)[:64] or "output"


def is_row_wise(column: ColumnConfigBase) -> bool:
    """Columns computed cell by cell (everything but samplers, seeds and full-column code)."""
    if isinstance(column, CustomColumnConfig):
        return column.generation_strategy == "cell_by_cell"
    return column.is_llm or isinstance(column, ExpressionColumnConfig)
