"""LLM usage per model (``provider/model``): one attempt's spend, and totals across
attempts (a resume or a Prefect retry adds its own spend, reused work costs nothing),
with its cost when the model has prices; :class:`Usage` is the typed view results give.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from dd_prefect.config.models import ModelConfig
from dd_prefect.engine.llm import USAGE_COUNTERS, LLMUsage
from dd_prefect.workflow.metadata import DatasetMetadata

UsageDict = dict[str, dict[str, Any]]
Prices = dict[str, tuple[float, float]]
"""``provider/model`` -> (price per million input tokens, per million output tokens)."""


def snapshot(usage: Mapping[str, LLMUsage]) -> UsageDict:
    """The counters now, to subtract later."""
    return {key: u.as_dict() for key, u in usage.items()}


def model_prices(models: Iterable[ModelConfig], key_of: Any) -> Prices:
    """Prices of the `models` that have both, by ``provider/model`` (`key_of(alias)`)."""
    return {
        key_of(m.alias): (m.input_price_per_million_tokens, m.output_price_per_million_tokens)
        for m in models
        if m.input_price_per_million_tokens is not None
        and m.output_price_per_million_tokens is not None
    }


def cost_of(counts: Mapping[str, Any], price: tuple[float, float]) -> float:
    """What `counts` (prompt and completion tokens) cost at `price` per million."""
    return (
        counts.get("prompt_tokens", 0) * price[0] + counts.get("completion_tokens", 0) * price[1]
    ) / 1e6


def spent_since(
    before: UsageDict,
    usage: Mapping[str, LLMUsage],
    keys: Iterable[str],
    prices: Prices | None = None,
) -> UsageDict:
    """What the models `keys` spent since `before` (models shared with other stages of a
    run are counted only for the stage that used them), with its ``cost`` where `prices`
    has the model."""
    spent = {}
    for key in sorted(set(keys) & set(usage)):
        now, prev = usage[key].as_dict(), before.get(key, {})
        row: dict[str, Any] = {f: now[f] - prev.get(f, 0) for f in USAGE_COUNTERS}
        row["request_seconds"] = round(row["request_seconds"], 3)
        if prices and key in prices:
            row["cost"] = cost_of(row, prices[key])
        spent[key] = row
    return spent


def added(total: UsageDict, more: UsageDict) -> UsageDict:
    """`total` plus `more`, model by model; a cost where every side that holds tokens has
    one (an attempt without prices leaves the model's cost unknown)."""
    out = {key: dict(counts) for key, counts in total.items()}
    for key, counts in more.items():
        row = out.setdefault(key, dict.fromkeys(USAGE_COUNTERS, 0))
        sides = (row, counts)
        priced = [side["cost"] for side in sides if "cost" in side]
        unpriced = any("cost" not in side and _tokens(side) for side in sides)
        for f in USAGE_COUNTERS:
            row[f] = row.get(f, 0) + counts.get(f, 0)
        row["request_seconds"] = round(row["request_seconds"], 3)
        row.pop("cost", None)
        if priced and not unpriced:
            row["cost"] = sum(priced)
    return out


def _tokens(counts: Mapping[str, Any]) -> int:
    return int(counts.get("prompt_tokens", 0) + counts.get("completion_tokens", 0))


@dataclass(frozen=True)
class ModelUsage:
    """One model's usage (``provider/model``): requests sent (each retry is one), those
    answered, retries, requests that got a 429, a 5xx or timed out, tokens (reasoning
    tokens are among the completion tokens), seconds spent in requests (summed over
    concurrent ones), MCP tool calls, and the cost (None when the model has no prices)."""

    model: str
    requests: int = 0
    successes: int = 0
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    timeouts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    request_seconds: float = 0.0
    tool_calls: int = 0
    tool_call_turns: int = 0
    cost: float | None = None

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def of(cls, model: str, counts: Mapping[str, Any]) -> ModelUsage:
        names = {f.name for f in fields(cls)} - {"model"}
        return cls(model, **{k: v for k, v in counts.items() if k in names})

    def line(self) -> str:
        """One line for a console: requests, retries and failures, tokens, cost."""
        problems = ", ".join(
            f"{n} {label}"
            for n, label in (
                (self.rate_limited, "429s"),
                (self.server_errors, "5xx"),
                (self.timeouts, "timeouts"),
            )
            if n
        )
        text = (
            f"{self.model}: {self.requests} requests ({self.retries} retries"
            f"{', ' + problems if problems else ''}), {self.prompt_tokens} input + "
            f"{self.completion_tokens} output tokens"
        )
        if self.reasoning_tokens:
            text += f" ({self.reasoning_tokens} reasoning)"
        if self.cost is not None:
            text += f", cost {self.cost:.4f}"
        return text


@dataclass(frozen=True)
class Usage:
    """LLM usage of a dataset, a stage or a workflow: per model over every attempt
    (`models`), of the last attempt (`last_attempt`) and, of a dataset or stage, of each
    attempt in order (`attempts`: a first run, its resumes and Prefect retries), and the
    wall time of the last attempts (summed over a workflow's stages).

    `cost` is None when a model that was used has no prices.
    """

    models: dict[str, ModelUsage] = field(default_factory=dict)
    last_attempt: dict[str, ModelUsage] = field(default_factory=dict)
    wall_seconds: float = 0.0
    attempts: list[dict[str, ModelUsage]] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        total: UsageDict,
        last: UsageDict,
        wall_seconds: float = 0.0,
        attempts: Iterable[UsageDict] = (),
    ) -> Usage:
        return cls(
            _typed(total),
            _typed(last),
            wall_seconds,
            [_typed(attempt) for attempt in attempts],
        )

    @property
    def requests(self) -> int:
        return sum(m.requests for m in self.models.values())

    @property
    def total_tokens(self) -> int:
        return sum(m.total_tokens for m in self.models.values())

    @property
    def cost(self) -> float | None:
        used = [m for m in self.models.values() if m.requests]
        if any(m.cost is None for m in used):
            return None
        return sum(m.cost or 0.0 for m in used)

    def __add__(self, other: Usage) -> Usage:
        return Usage.of(
            added(_as_dicts(self.models), _as_dicts(other.models)),
            added(_as_dicts(self.last_attempt), _as_dicts(other.last_attempt)),
            self.wall_seconds + other.wall_seconds,
        )

    def lines(self) -> list[str]:
        """One console line per model (over every attempt)."""
        return [m.line() for m in self.models.values()]


def _typed(usage: UsageDict) -> dict[str, ModelUsage]:
    return {k: ModelUsage.of(k, v) for k, v in sorted(usage.items())}


def _as_dicts(models: Mapping[str, ModelUsage]) -> UsageDict:
    out: UsageDict = {}
    for key, m in models.items():
        row = {f: getattr(m, f) for f in USAGE_COUNTERS}
        if m.cost is not None:
            row["cost"] = m.cost
        out[key] = row
    return out


class UsageAccount:
    """A dataset run's spend: this attempt's (the registry's counters since the account
    was opened, for the models `keys`), each attempt's and the total with those recorded
    in `earlier` (the metadata of the dataset's earlier attempts, if kept).

    :meth:`flushing` writes it into the run's metadata every `interval` seconds while the
    run goes on, so a killed run's spend stays recorded up to its last second.
    """

    def __init__(
        self,
        usage: Mapping[str, LLMUsage],
        keys: Iterable[str],
        prices: Prices,
        earlier: DatasetMetadata | None,
    ) -> None:
        self.usage, self.keys, self.prices = usage, list(keys), prices
        self.earlier = earlier.llm_usage_total if earlier is not None else {}
        self.attempts = list(earlier.llm_usage_attempts) if earlier is not None else []
        self.before = snapshot(usage)
        self.total: UsageDict = dict(self.earlier)  # as of the last update
        self.elsewhere: UsageDict = {}  # this attempt's spend in other processes (shards)

    def attempt(self) -> UsageDict:
        """This attempt's spend so far: this process's, plus what shards elsewhere reported."""
        here = spent_since(self.before, self.usage, self.keys, self.prices)
        return added(here, self.elsewhere) if self.elsewhere else here

    def refresh(self) -> UsageDict:
        """The total over every attempt, now (also kept as `total`)."""
        self.total = added(self.earlier, self.attempt())
        return self.total

    def update(self, metadata: DatasetMetadata) -> UsageDict:
        """Set `metadata`'s ``llm_usage`` (this attempt), ``llm_usage_attempts`` (each,
        this one last) and ``llm_usage_total``; returns the total."""
        metadata.llm_usage = self.attempt()
        metadata.llm_usage_attempts = [*self.attempts, metadata.llm_usage]
        metadata.llm_usage_total = added(self.earlier, metadata.llm_usage)
        self.total = dict(metadata.llm_usage_total)
        return self.total

    @contextlib.asynccontextmanager
    async def flushing(
        self,
        metadata: DatasetMetadata,
        write: Callable[[DatasetMetadata], None],
        interval: float = 1.0,
    ) -> AsyncIterator[None]:
        """While inside, update `metadata` and `write` it every `interval` seconds."""

        def flush() -> None:
            self.update(metadata)
            write(metadata)

        async with every(interval, flush):
            yield


@contextlib.asynccontextmanager
async def every(interval: float, call: Callable[[], None]) -> AsyncIterator[None]:
    """While inside, `call()` every `interval` seconds (so a killed run's record is at most
    that old)."""

    async def tick() -> None:
        while True:
            await asyncio.sleep(interval)
            call()

    ticker = asyncio.create_task(tick())
    try:
        yield
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker


@dataclass(frozen=True)
class UsageEstimate:
    """An ESTIMATE of a run's LLM usage, scaled linearly from a preview of
    `preview_records` rows to `num_records` (retries, failures and prompts that grow with
    the data make a real run differ). `cost` is None when a model has no prices."""

    num_records: int
    preview_records: int
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost: float | None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __str__(self) -> str:
        cost = f", cost ~{self.cost:.4f}" if self.cost is not None else ""
        return (
            f"estimate for {self.num_records} records (scaled from a preview of "
            f"{self.preview_records}): ~{self.requests} requests, ~{self.prompt_tokens} input "
            f"+ ~{self.completion_tokens} output tokens{cost}"
        )


def estimate(usage: Usage, preview_records: int, num_records: int) -> UsageEstimate:
    """`usage` of a preview of `preview_records` rows, scaled to `num_records`."""
    scale = num_records / preview_records if preview_records else 0.0
    models = usage.models.values()
    cost = usage.cost
    return UsageEstimate(
        num_records=num_records,
        preview_records=preview_records,
        requests=round(sum(m.requests for m in models) * scale),
        prompt_tokens=round(sum(m.prompt_tokens for m in models) * scale),
        completion_tokens=round(sum(m.completion_tokens for m in models) * scale),
        cost=cost * scale if cost is not None else None,
    )
