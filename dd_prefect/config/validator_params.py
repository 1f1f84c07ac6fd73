"""Validators of a ``validation`` column and their parameters (names follow Data Designer).

- ``code``: :class:`CodeValidatorParams`: Python (linted with ruff) or a SQL dialect
  (parsed with sqlglot), one result dict per row.
- ``local_callable``: :class:`LocalCallableValidatorParams`: a function
  ``(DataFrame of the target columns) -> DataFrame with an is_valid column``, named
  ``"pkg.module:function"`` (a module-level function is stored as its path).
- ``remote``: :class:`RemoteValidatorParams`: rows POSTed to an HTTP endpoint in batches
  (``{"data": [...]}`` in and out, as Data Designer sends them).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dd_prefect.config.callables import CALLABLE_PATH, callable_path, callable_problem
from dd_prefect.config.utils.code_lang import CodeLang

SQL_DIALECTS = frozenset(lang for lang in CodeLang if CodeLang.parse_lang(lang) == "sql")
SUPPORTED_CODE_LANGUAGES = frozenset({CodeLang.PYTHON, *SQL_DIALECTS})


class ValidatorType(StrEnum):
    """How a validation column checks its target columns."""

    CODE = "code"
    LOCAL_CALLABLE = "local_callable"
    REMOTE = "remote"


class _ValidatorParams(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=True)


class CodeValidatorParams(_ValidatorParams):
    """Check code: `code_lang` ``python`` or ``sql:<dialect>`` (sqlite, tsql, bigquery,
    mysql, postgres, ansi)."""

    validator_type: Literal["code"] = "code"
    code_lang: CodeLang

    @field_validator("code_lang")
    @classmethod
    def _supported(cls, value: CodeLang) -> CodeLang:
        if value not in SUPPORTED_CODE_LANGUAGES:
            known = ", ".join(sorted(SUPPORTED_CODE_LANGUAGES))
            raise ValueError(f"code validators check {known}; not {str(value)!r}")
        return value


class LocalCallableValidatorParams(_ValidatorParams):
    """Check rows with `validation_function`: it gets a DataFrame of the target columns
    (`batch_size` rows at a time) and returns a DataFrame with one row per input row and
    an ``is_valid`` column (its other columns are kept in the result); `output_schema`, a
    JSON schema, checks ``{"data": [row results]}`` when set."""

    validator_type: Literal["local_callable"] = "local_callable"
    validation_function: str
    output_schema: dict[str, Any] | None = None

    @field_validator("validation_function", mode="before")
    @classmethod
    def _as_path(cls, value: Any) -> Any:
        return callable_path(value) if callable(value) else value


def validation_function_problem(reference: str) -> str | None:
    """Why a local callable validator's `validation_function` cannot be used, or None."""
    if not CALLABLE_PATH.fullmatch(reference):
        return (
            f"validation_function '{reference}' cannot be resolved: Data Designer writes only "
            "a function's name; give it as 'pkg.module:function'"
        )
    return callable_problem(reference)


class RemoteValidatorParams(_ValidatorParams):
    """Check rows at `endpoint_url`: batches go out as ``{"data": [rows' target values]}``
    and come back as ``{"data": [{"is_valid": ..., ...}]}`` (checked against
    `output_schema` when set); `timeout` seconds per request, `max_retries` retries waiting
    ``retry_backoff * 2**(n-1)`` seconds, up to `max_parallel_requests` batches at once."""

    validator_type: Literal["remote"] = "remote"
    endpoint_url: str
    output_schema: dict[str, Any] | None = None
    timeout: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    retry_backoff: float = Field(default=2.0, gt=1)
    max_parallel_requests: int = Field(default=4, ge=1)


ValidatorParams = CodeValidatorParams | LocalCallableValidatorParams | RemoteValidatorParams

PARAMS_BY_VALIDATOR: dict[str, type[_ValidatorParams]] = {
    ValidatorType.CODE: CodeValidatorParams,
    ValidatorType.LOCAL_CALLABLE: LocalCallableValidatorParams,
    ValidatorType.REMOTE: RemoteValidatorParams,
}
