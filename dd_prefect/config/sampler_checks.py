"""Value checks of sampler columns' params, for :mod:`dd_prefect.config.validation`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from dd_prefect.config.columns import SamplerColumnConfig
from dd_prefect.config.data_designer_config import DataDesignerConfig
from dd_prefect.config.feature_checks import condition_problems
from dd_prefect.config.samplers import (
    BernoulliSamplerParams,
    BinomialSamplerParams,
    CategorySamplerParams,
    DatetimeSamplerParams,
    GaussianSamplerParams,
    PersonFromFakerSamplerParams,
    PersonSamplerParams,
    PoissonSamplerParams,
    SamplerType,
    SubcategorySamplerParams,
    TimeDeltaSamplerParams,
    UniformSamplerParams,
    category_value_kind,
)


def sampler_problems(column: SamplerColumnConfig, config: DataDesignerConfig) -> list[str]:
    """What is wrong with a sampler column's params (and its convert_to), as messages."""
    out = _value_problems(column, config)
    out += condition_problems(column, config.columns)
    if column.convert_to in ("int", "float"):
        values: list[Any] = []
        if isinstance(column.params, CategorySamplerParams):
            values = list(column.params.values)
        elif isinstance(column.params, SubcategorySamplerParams):
            values = [v for vs in column.params.values.values() for v in vs]
        bad = _unconvertible(values, column.convert_to)
        if bad:
            shown = ", ".join(repr(v) for v in bad[:5]) + (", ..." if len(bad) > 5 else "")
            out.append(f"convert_to '{column.convert_to}' fails for value(s) {shown}")
    return out


def _unconvertible(values: Sequence[Any], to: str) -> list[Any]:
    """The category values that ``convert_to=to`` ("int" or "float") would fail on.

    Each value is represented and converted as ``dd_prefect.engine.samplers`` does it.
    """
    kind = category_value_kind(values)
    bad = []
    for value in values:
        if kind == "str":
            text = np.empty(1, dtype=object)
            text[0] = value if isinstance(value, str) else str(value)
            series = pd.Series(pd.array(text, dtype="str"))
        else:
            series = pd.Series([value], dtype={"bool": bool, "int": np.int64}.get(kind, np.float64))
        try:
            if pd.api.types.is_string_dtype(series.dtype) or series.dtype == object:
                series = pd.to_numeric(series)
            series.astype(np.int64 if to == "int" else np.float64)
        except (ValueError, TypeError, OverflowError):
            bad.append(value)
    return bad


def _value_problems(column: SamplerColumnConfig, config: DataDesignerConfig) -> list[str]:
    p = column.params
    out: list[str] = []
    if isinstance(p, CategorySamplerParams):
        if not p.values:
            out.append("category values must not be empty")
        if p.weights is not None:
            if len(p.weights) != len(p.values):
                out.append(f"weights has {len(p.weights)} entries but values has {len(p.values)}")
            if any(w < 0 for w in p.weights) or sum(p.weights) <= 0:
                out.append("weights must be non-negative with a positive sum")
    elif isinstance(p, SubcategorySamplerParams):
        parent = next((c for c in config.columns if c.name == p.category), None)
        if not (
            isinstance(parent, SamplerColumnConfig) and parent.sampler_type == SamplerType.CATEGORY
        ):
            out.append(f"subcategory needs a category sampler column '{p.category}' as parent")
        elif isinstance(parent.params, CategorySamplerParams):
            missing = [str(v) for v in parent.params.values if str(v) not in p.values]
            if missing:
                out.append(f"no subcategory values for parent value(s): {', '.join(missing)}")
        if any(not values for values in p.values.values()):
            out.append("subcategory values must not be empty for any parent value")
    elif isinstance(p, UniformSamplerParams):
        if not p.low < p.high:
            out.append(f"uniform needs low < high (got low={p.low}, high={p.high})")
    elif isinstance(p, GaussianSamplerParams):
        if not p.stddev > 0:
            out.append(f"gaussian needs stddev > 0 (got {p.stddev})")
    elif isinstance(p, BernoulliSamplerParams):
        if not 0 <= p.p <= 1:
            out.append(f"bernoulli needs 0 <= p <= 1 (got {p.p})")
    elif isinstance(p, BinomialSamplerParams):
        if p.n < 0 or not 0 <= p.p <= 1:
            out.append(f"binomial needs n >= 0 and 0 <= p <= 1 (got n={p.n}, p={p.p})")
    elif isinstance(p, PoissonSamplerParams):
        if not p.mean > 0:
            out.append(f"poisson needs mean > 0 (got {p.mean})")
    elif isinstance(p, DatetimeSamplerParams):
        try:
            start, end = datetime.fromisoformat(p.start), datetime.fromisoformat(p.end)
        except ValueError as exc:
            out.append(f"datetime start/end must be ISO dates: {exc}")
        else:
            if (start.utcoffset() is None) != (end.utcoffset() is None):
                out.append(
                    "datetime start and end must both have a time zone or both have none "
                    f"(got {p.start} .. {p.end})"
                )
            elif not start < end:
                out.append(f"datetime needs start < end (got {p.start} .. {p.end})")
    elif isinstance(p, TimeDeltaSamplerParams):
        if not p.dt_min < p.dt_max:
            out.append(f"timedelta needs dt_min < dt_max (got {p.dt_min} .. {p.dt_max})")
        ref = next((c for c in config.columns if c.name == p.reference_column_name), None)
        if not (isinstance(ref, SamplerColumnConfig) and ref.sampler_type == "datetime"):
            out.append(
                f"timedelta reference column '{p.reference_column_name}' must be a datetime "
                "sampler column"
            )
    elif isinstance(p, PersonSamplerParams | PersonFromFakerSamplerParams):
        if len(p.age_range) != 2 or not 0 <= p.age_range[0] <= p.age_range[1]:
            out.append(
                f"person age_range must be [min, max] with 0 <= min <= max, got {p.age_range}"
            )
        elif (
            isinstance(p, PersonFromFakerSamplerParams)
            and not p.age_range[0] < p.age_range[1] <= 114
        ):
            out.append(f"person_from_faker age_range needs min < max <= 114, got {p.age_range}")
        from faker.config import AVAILABLE_LOCALES

        if p.locale not in AVAILABLE_LOCALES:
            out.append(f"unknown Faker locale '{p.locale}'")
    return out
