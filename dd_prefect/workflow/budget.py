"""Budgets of a run (RunConfig ``max_cost``, ``max_tokens``, ``max_requests``): what was
spent over every attempt, whether a budget is reached, and the error that says so."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dd_prefect.config.data_designer_config import DataDesignerConfig
from dd_prefect.config.run_config import RunConfig
from dd_prefect.errors import ConfigValidationError, DataDesignerBudgetExceededError
from dd_prefect.workflow.layout import DatasetLayout
from dd_prefect.workflow.usage import UsageAccount, UsageDict, added


@dataclass(frozen=True)
class Spend:
    """Requests, tokens (prompt + completion) and cost (None: a model has no prices)."""

    requests: int = 0
    tokens: int = 0
    cost: float | None = 0.0

    @classmethod
    def of(cls, usage: UsageDict) -> Spend:
        cost: float | None = 0.0
        for counts in usage.values():
            if cost is not None and "cost" in counts:
                cost += counts["cost"]
            elif counts.get("prompt_tokens") or counts.get("completion_tokens"):
                cost = None
        return cls(
            requests=sum(c.get("requests", 0) for c in usage.values()),
            tokens=sum(
                c.get("prompt_tokens", 0) + c.get("completion_tokens", 0) for c in usage.values()
            ),
            cost=cost,
        )

    def __str__(self) -> str:
        cost = f", cost {self.cost:.4f}" if self.cost is not None else ""
        return f"{self.requests} requests, {self.tokens} tokens{cost}"


def check_prices(run_config: RunConfig, config: DataDesignerConfig) -> None:
    """With ``max_cost``, every model `config` uses needs both prices (before any LLM
    call)."""
    if run_config.max_cost is None:
        return
    used = set(config.model_aliases())
    for model in (m for m in config.model_configs if m.alias in used):
        for name in ("input_price_per_million_tokens", "output_price_per_million_tokens"):
            if getattr(model, name) is None:
                raise ConfigValidationError.of(
                    f"RunConfig.max_cost is set but model '{model.alias}' has no {name}; "
                    "give it both prices, or drop max_cost",
                    field=name,
                )


def budget_reached(run_config: RunConfig, spend: Spend) -> str | None:
    """Which budget `spend` reached (None: none)."""
    limits = (
        ("max_requests", run_config.max_requests, spend.requests),
        ("max_tokens", run_config.max_tokens, spend.tokens),
        ("max_cost", run_config.max_cost, spend.cost),
    )
    for name, limit, spent in limits:
        if limit is not None and spent is not None and spent >= limit:
            return f"{name}={limit}"
    return None


def budget_share(run_config: RunConfig, spend: Spend, parts: int) -> RunConfig:
    """`run_config` with each budget set to one of `parts` equal parts of what is left of
    it after `spend`: for processes that each check only their own spend (remote shards),
    so that together they stay within the run's budget."""
    left = {
        "max_requests": (run_config.max_requests, spend.requests),
        "max_tokens": (run_config.max_tokens, spend.tokens),
        "max_cost": (run_config.max_cost, spend.cost or 0.0),
    }
    update: dict[str, float | int] = {}
    for name, (limit, spent) in left.items():
        if limit is not None:
            part = max(limit - spent, 0) / parts
            update[name] = part if name == "max_cost" else int(part)
    return run_config.model_copy(update=update)


def budget_error(name: str, reached: str, spend: Spend) -> DataDesignerBudgetExceededError:
    """The error of dataset or stage `name` stopped by budget `reached`."""
    return DataDesignerBudgetExceededError(
        f"dataset '{name}' stopped: budget {reached} reached after {spend} over every "
        "attempt (of the run's datasets); finished row groups are kept: resume with a "
        "raised budget to go on",
        spent={"requests": spend.requests, "tokens": spend.tokens, "cost": spend.cost or 0.0},
    )


class BudgetScope:
    """What a run's budgets count: the spend of each of its datasets (their
    :class:`~dd_prefect.workflow.usage.UsageAccount`, over every attempt) plus `fixed`
    spend (a workflow's stages reused from an earlier run). One per dataset run, or one
    shared by a workflow run's stages."""

    def __init__(self, run_config: RunConfig, fixed: UsageDict | None = None) -> None:
        self.run_config = run_config
        self.fixed = dict(fixed or {})
        self.accounts: list[UsageAccount] = []

    def spend(self) -> Spend:
        total = self.fixed
        for account in self.accounts:
            total = added(total, account.total)
        return Spend.of(total)

    def reached(self) -> str | None:
        """The budget reached so far (None: none; accounts as of their last update)."""
        return budget_reached(self.run_config, self.spend())


def spent_in(dataset_dirs: Iterable[Path]) -> UsageDict:
    """The spend recorded by the datasets in `dataset_dirs` (over every attempt)."""
    total: UsageDict = {}
    for directory in dataset_dirs:
        metadata = DatasetLayout(directory).read_metadata()
        if metadata is not None:
            total = added(total, metadata.llm_usage_total)
    return total
