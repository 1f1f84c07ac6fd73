"""Run-time knobs of the generation engine."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RunConfig(BaseModel):
    """How a dataset is generated (not what): row-group size, concurrency, failure policy.

    - `buffer_size`: rows per row group (one Prefect task and one parquet file each).
    - `max_concurrent_row_groups`: row groups in flight at once.
    - `shutdown_error_rate` / `shutdown_error_window`: stop early when the share of failed
      cells among the last `window` finished cells exceeds the rate (unless
      `disable_early_shutdown`).
    - `max_conversation_restarts`: re-asks for structured output that fails its schema.
    - `on_cell_error`: ``"drop"`` drops a row whose cell failed; ``"null"`` keeps it with a
      null and a ``<column>__error`` column saying why.
    - `seed`: makes samplers and seed shuffling reproducible.
    - `max_llm_retries`: retries of a transient LLM failure (connection, timeout, 429, 5xx).
    """

    model_config = ConfigDict(extra="forbid")

    buffer_size: int = Field(default=1000, ge=1)
    max_concurrent_row_groups: int = Field(default=3, ge=1)
    shutdown_error_rate: float = Field(default=0.5, ge=0.0, le=1.0)
    shutdown_error_window: int = Field(default=10, ge=1)
    disable_early_shutdown: bool = False
    max_conversation_restarts: int = Field(default=5, ge=0)
    on_cell_error: Literal["drop", "null"] = "drop"
    seed: int | None = None
    max_llm_retries: int = Field(default=6, ge=0)
