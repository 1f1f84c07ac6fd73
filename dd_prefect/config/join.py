"""How a stage with several upstream stages combines their outputs into its input.

- ``"concat"``: the upstreams' rows one after another (in ``depends_on`` order), columns
  aligned by name; a column an input lacks is null in its rows. With `source_column` set,
  that column names each row's upstream stage.
- ``"columns"``: row ``i`` of every upstream merged into one row. The upstreams must have
  the same row count; a column two upstreams share must hold the same values in both.
- ``"pkg.module:function"``: ``fn({stage_name: path}, out_dir) -> path`` returns a parquet
  file or directory for anything else (a join on a key, a dedupe). Set `join_version` on
  the stage so resume can trust its earlier output.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from dd_prefect.config.callables import CALLABLE_PATH


class JoinSpec(BaseModel):
    """A stage's join of its upstream outputs (see the module docstring).

    Written as ``"concat"``, ``"columns"``, ``"pkg.module:function"``, or a mapping
    ``{"mode": "concat", "source_column": "_stage"}``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: str
    source_column: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        return {"mode": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _known(self) -> JoinSpec:
        if self.mode not in ("concat", "columns") and not CALLABLE_PATH.fullmatch(self.mode):
            raise ValueError(
                f"join must be 'concat', 'columns' or 'pkg.module:function', got {self.mode!r}"
            )
        if self.source_column is not None and self.mode != "concat":
            raise ValueError("join source_column is only for mode 'concat'")
        if self.source_column is not None and not self.source_column.strip():
            raise ValueError("join source_column must be a non-empty column name")
        return self

    @property
    def is_callable(self) -> bool:
        """Whether the join is user code (``"pkg.module:function"``)."""
        return self.mode not in ("concat", "columns")

    def skips_on_empty(self, empty: int, inputs: int) -> bool:
        """Whether the joining stage is skipped when `empty` of its `inputs` upstreams
        hand on nothing: a columns join needs every input; the others proceed with the
        non-empty ones and are skipped only when all are empty."""
        if self.mode == "columns":
            return empty > 0
        return empty == inputs


__all__ = ["JoinSpec"]
