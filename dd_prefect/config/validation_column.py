"""The ``validation`` column: checks other columns of each row, one result dict per row."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from dd_prefect.config.column_base import ColumnConfigBase
from dd_prefect.config.validator_params import (
    PARAMS_BY_VALIDATOR,
    ValidatorParams,
    ValidatorType,
)


class ValidationColumnConfig(ColumnConfigBase):
    """Validate `target_columns` with a validator; each cell is a dict with ``is_valid``.

    - ``code``, Python: ``is_valid`` (no error-level message), ``python_linter_score``
      (0-10, pylint's formula), ``python_linter_severity`` and ``python_linter_messages``
      (type, symbol, line, column, message), from ruff's checks Data Designer uses.
    - ``code``, SQL: ``is_valid`` and ``error_messages`` (parse errors in the dialect).
    - ``local_callable``: the function's result row (``is_valid`` and its other columns).
    - ``remote``: the endpoint's result for the row (``is_valid`` and whatever it adds).

    A code validator checks each target column on its own: with several, a cell maps each
    target column to its result. Local callable and remote validators get `batch_size` rows
    at a time (code results don't depend on it).
    """

    column_type: Literal["validation"] = "validation"
    target_columns: list[str] = Field(min_length=1)
    validator_type: ValidatorType
    validator_params: ValidatorParams
    batch_size: int = Field(default=10, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _typed_params(cls, data: Any) -> Any:
        """Plain-dict params become the validator type's model (as Data Designer)."""
        if not isinstance(data, dict):
            return data
        kind = data.get("validator_type")
        params = data.get("validator_params")
        if kind in PARAMS_BY_VALIDATOR and isinstance(params, dict):
            try:
                typed = PARAMS_BY_VALIDATOR[kind].model_validate(params)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
                )
                raise ValueError(
                    f"column '{data.get('name')}': validator_params: {problems}"
                ) from None
            data = {**data, "validator_params": typed}
        return data

    @model_validator(mode="after")
    def _params_match(self) -> ValidationColumnConfig:
        if self.validator_params.validator_type != self.validator_type:
            raise ValueError(
                f"validator_type '{self.validator_type}' needs "
                f"{PARAMS_BY_VALIDATOR[self.validator_type].__name__}"
            )
        return self

    def required_columns(self) -> set[str]:
        return super().required_columns() | set(self.target_columns)
