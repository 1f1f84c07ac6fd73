"""Sampler types and their typed parameters.

Parameter models check types only; value checks (empty categories, weights that don't match,
invalid distribution parameters) happen in :mod:`dd_prefect.config.validation`, which reports
every problem at once and names the column.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dd_prefect.config.fingerprint import sorted_sets


class SamplerType(StrEnum):
    """The built-in samplers (names follow Data Designer)."""

    CATEGORY = "category"
    SUBCATEGORY = "subcategory"
    UNIFORM = "uniform"
    GAUSSIAN = "gaussian"
    BERNOULLI = "bernoulli"
    BINOMIAL = "binomial"
    POISSON = "poisson"
    UUID = "uuid"
    DATETIME = "datetime"
    TIMEDELTA = "timedelta"
    PERSON = "person"
    PERSON_FROM_FAKER = "person_from_faker"


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _sets_sorted(cls, data: Any) -> Any:
        return sorted_sets(data)


class CategorySamplerParams(_Params):
    """Pick one of `values`, optionally with relative `weights` (same length as values)."""

    values: list[str | int | float | bool]
    weights: list[float] | None = None


class SubcategorySamplerParams(_Params):
    """Pick from `values[<parent value>]`, where the parent is the category column `category`."""

    category: str
    values: dict[str, list[str | int | float | bool]]


class UniformSamplerParams(_Params):
    """Uniform on [low, high); rounded to `decimal_places` when set (0 gives integers)."""

    low: float
    high: float
    decimal_places: int | None = None


class GaussianSamplerParams(_Params):
    """Normal distribution with `mean` and `stddev` (> 0)."""

    mean: float
    stddev: float
    decimal_places: int | None = None


class BernoulliSamplerParams(_Params):
    """1 with probability `p`, else 0."""

    p: float


class BinomialSamplerParams(_Params):
    """Number of successes in `n` trials with probability `p`."""

    n: int
    p: float


class PoissonSamplerParams(_Params):
    """Poisson counts with the given `mean` (> 0)."""

    mean: float


class UUIDSamplerParams(_Params):
    """Random UUID4 strings, with an optional `prefix`; `short_form` keeps 8 hex chars."""

    prefix: str | None = None
    short_form: bool = False
    uppercase: bool = False


DatetimeUnit = Literal["Y", "M", "D", "h", "m", "s"]


class DatetimeSamplerParams(_Params):
    """Uniform datetimes between ISO dates `start` and `end`, truncated to `unit`."""

    start: str
    end: str
    unit: DatetimeUnit = "D"


class TimeDeltaSamplerParams(_Params):
    """`reference_column_name` plus a uniform offset in [dt_min, dt_max) `unit`s."""

    dt_min: int
    dt_max: int
    reference_column_name: str
    unit: Literal["D", "h", "m", "s"] = "D"


class _PersonParams(_Params):
    """Who to generate: Faker `locale`, `sex` (else either), `age_range` [min, max] and
    `city` (one, or one of a list; else Faker's)."""

    locale: str = "en_US"
    sex: Literal["Male", "Female"] | None = None
    age_range: list[int] = Field(default_factory=lambda: [18, 114])
    city: str | list[str] | None = None


class PersonSamplerParams(_PersonParams):
    """Synthetic people from Faker: a dict per row (first_name, last_name, sex, age, ...)."""


class PersonFromFakerSamplerParams(_PersonParams):
    """Data Designer's Faker people: a dict per row with its fields (uuid, locale, names,
    sex, address, age, birth_date, country, marital_status, education_level, occupation,
    phone_number, bachelors_field). `age_range` needs min < max, within 0..114."""


SamplerParams = (
    CategorySamplerParams
    | SubcategorySamplerParams
    | UniformSamplerParams
    | GaussianSamplerParams
    | BernoulliSamplerParams
    | BinomialSamplerParams
    | PoissonSamplerParams
    | UUIDSamplerParams
    | DatetimeSamplerParams
    | TimeDeltaSamplerParams
    | PersonSamplerParams
    | PersonFromFakerSamplerParams
)

PARAMS_BY_TYPE: dict[SamplerType, type[_Params]] = {
    SamplerType.CATEGORY: CategorySamplerParams,
    SamplerType.SUBCATEGORY: SubcategorySamplerParams,
    SamplerType.UNIFORM: UniformSamplerParams,
    SamplerType.GAUSSIAN: GaussianSamplerParams,
    SamplerType.BERNOULLI: BernoulliSamplerParams,
    SamplerType.BINOMIAL: BinomialSamplerParams,
    SamplerType.POISSON: PoissonSamplerParams,
    SamplerType.UUID: UUIDSamplerParams,
    SamplerType.DATETIME: DatetimeSamplerParams,
    SamplerType.TIMEDELTA: TimeDeltaSamplerParams,
    SamplerType.PERSON: PersonSamplerParams,
    SamplerType.PERSON_FROM_FAKER: PersonFromFakerSamplerParams,
}
# Keyed by any model class: looking up the type of some other model is a miss (None).
TYPE_BY_PARAMS: dict[type[BaseModel], SamplerType] = {v: k for k, v in PARAMS_BY_TYPE.items()}


def category_value_kind(values: Sequence[Any]) -> str:
    """How category values are represented when sampled: bool, int, float or str.

    All bools -> bool; all ints -> int; ints and floats -> float; anything else (a mix with
    bools or strings) -> str. Validation and the sampler engine both use this.
    """
    if values and all(isinstance(v, bool | np.bool_) for v in values):
        return "bool"
    if any(isinstance(v, bool | np.bool_) for v in values):
        return "str"
    if all(isinstance(v, int | np.integer) for v in values):
        return "int"
    if all(isinstance(v, int | float | np.integer | np.floating) for v in values):
        return "float"
    return "str"
