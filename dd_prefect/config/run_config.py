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
    - `max_template_output_chars`: the most characters one render of a template may produce,
      and the largest value (text, or the printed size of a list or dict) it may build on
      the way.
    - `max_template_steps`: the work one render may do: each loop iteration, call, filter
      and operator is a step, and building text costs a step per 100 characters.
      A render over either limit fails its cell (kind ``template_limit``, naming the
      column), which counts toward early shutdown like any failed cell.
    - `template_null`: what a template does with a null value (a missing seed value, a
      None) that it prints with ``{{ }}``, joins with ``~`` or passes to a text filter:
      ``"error"`` fails the cell (kind ``null_value``, naming the column, the input and the
      row); ``"empty"`` prints nothing. Tests (``v is none``, ``v | default('-', true)``,
      ``{% if v %}``) see None either way.
    - `max_parallel_stages`: stages of a workflow that run at once (independent branches
      of its DAG).
    - `max_cost` / `max_tokens` / `max_requests`: budgets of a run (ours): the spend over
      every attempt of a dataset, or of all the stages of a workflow run (tokens: input +
      output; cost from the models' prices, which max_cost needs on every model used).
      Once one is reached, no new row group starts; those running finish and are kept,
      and the run fails with DataDesignerBudgetExceededError naming what was spent.
      Resume with a raised budget to go on. They change no dataset key.
    - `display_tui`: accepted for Data Designer programs and changes nothing: progress shows
      in Prefect's UI and in ``dd-prefect run``'s bar.
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
    max_template_output_chars: int = Field(default=1_000_000, ge=1)
    max_template_steps: int = Field(default=100_000, ge=1)
    template_null: Literal["error", "empty"] = "error"
    max_parallel_stages: int = Field(default=4, ge=1)
    display_tui: bool = False
    max_cost: float | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=0)
    max_requests: int | None = Field(default=None, ge=0)
