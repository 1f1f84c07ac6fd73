"""Distributions an inference parameter (temperature, top_p) may be drawn from per request.

Names and shapes follow Data Designer: ``{"distribution_type": "uniform", "params": {"low",
"high"}}`` and ``{"distribution_type": "manual", "params": {"values", "weights"}}``.
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class UniformDistributionParams(BaseModel):
    """Bounds of a uniform distribution: `low` (inclusive) to `high` (exclusive)."""

    model_config = ConfigDict(extra="forbid")

    low: float
    high: float

    @model_validator(mode="after")
    def _low_below_high(self) -> UniformDistributionParams:
        if self.low >= self.high:
            raise ValueError("`low` must be less than `high`")
        return self


class ManualDistributionParams(BaseModel):
    """Values to draw from, with optional `weights` (normalized to sum to 1)."""

    model_config = ConfigDict(extra="forbid")

    values: list[float] = Field(min_length=1)
    weights: list[float] | None = None

    @model_validator(mode="after")
    def _weights_match(self) -> ManualDistributionParams:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError("`values` and `weights` must have the same length")
            total = sum(self.weights)
            if total <= 0 or any(w < 0 for w in self.weights):
                raise ValueError("`weights` must be >= 0 and sum to more than 0")
            self.weights = [w / total for w in self.weights]
        return self


class UniformDistribution(BaseModel):
    """A parameter drawn uniformly between `params.low` and `params.high` per request."""

    model_config = ConfigDict(extra="forbid")

    distribution_type: Literal["uniform"] = "uniform"
    params: UniformDistributionParams

    def sample(self, rng: random.Random) -> float:
        """One draw."""
        return rng.uniform(self.params.low, self.params.high)

    def bounds(self) -> tuple[float, float]:
        """The smallest and largest value a draw can take."""
        return self.params.low, self.params.high


class ManualDistribution(BaseModel):
    """A parameter drawn from `params.values` (weighted by `params.weights`) per request."""

    model_config = ConfigDict(extra="forbid")

    distribution_type: Literal["manual"] = "manual"
    params: ManualDistributionParams

    def sample(self, rng: random.Random) -> float:
        """One draw."""
        return float(rng.choices(self.params.values, weights=self.params.weights)[0])

    def bounds(self) -> tuple[float, float]:
        """The smallest and largest value a draw can take."""
        return min(self.params.values), max(self.params.values)


Distribution = UniformDistribution | ManualDistribution
"""A distribution of an inference parameter (told apart by its `distribution_type`)."""
