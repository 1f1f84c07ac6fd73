"""Sampler columns, vectorized with numpy per randomness block.

:func:`sample_columns` adds the sampler columns of a config to one row group. Every draw is
taken from :func:`dd_prefect.engine.randomness.block_rng` per block of
:data:`~dd_prefect.engine.randomness.BLOCK_ROWS` global rows, so with a seed the values of a
row do not depend on how the run is split into row groups.

Output dtypes are fixed per column, whatever the rows drawn:

- category / subcategory: ``bool``, ``int64`` or ``float64`` when every value has that type
  (ints mixed with floats give ``float64``), otherwise pandas ``str`` (values as ``str(v)``);
- uniform / gaussian: ``float64`` (also with ``decimal_places=0``);
- bernoulli / binomial / poisson: ``int64``;
- uuid: ``str``; datetime / timedelta: ``datetime64[ns]``;
- person / person_from_faker: ``object`` holding one dict per row (keys
  :data:`~dd_prefect.engine.persons.PERSON_FIELDS` / ``FAKER_PERSON_FIELDS``);
- ``convert_to`` ``"int"`` -> ``int64``, ``"float"`` -> ``float64``, ``"str"`` -> ``str``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from dd_prefect.config.columns import SamplerColumnConfig, condition_template
from dd_prefect.config.dag import topological_order
from dd_prefect.config.samplers import (
    BernoulliSamplerParams,
    BinomialSamplerParams,
    CategorySamplerParams,
    DatetimeSamplerParams,
    GaussianSamplerParams,
    PersonFromFakerSamplerParams,
    PersonSamplerParams,
    PoissonSamplerParams,
    SamplerParams,
    SubcategorySamplerParams,
    TimeDeltaSamplerParams,
    UniformSamplerParams,
    UUIDSamplerParams,
    category_value_kind,
)
from dd_prefect.engine.persons import PERSON_FIELDS as PERSON_FIELDS
from dd_prefect.engine.persons import faker_person_values, person_values
from dd_prefect.engine.randomness import draw_rows
from dd_prefect.engine.templating import render
from dd_prefect.errors import CellError

STR_DTYPE = "str"
"""The dtype of string sampler columns (pandas' default string dtype)."""

Values: TypeAlias = np.ndarray | pd.api.extensions.ExtensionArray


def sample_columns(
    columns: Sequence[SamplerColumnConfig],
    frame: pd.DataFrame,
    *,
    start: int,
    seed: int | None,
    fingerprint: str,
) -> pd.DataFrame:
    """Add the sampler `columns` to `frame` (in place) and return it.

    `frame` holds global rows ``start .. start + len(frame) - 1`` (use
    ``pd.DataFrame(index=pd.RangeIndex(n))`` when there are no seed columns yet); values are
    assigned by position. Columns are sampled in dependency order, so a subcategory or
    timedelta column may come before its parent in `columns`. With `seed` set, the values of a
    global row depend only on (`seed`, `fingerprint`, column name, row), never on `start` or
    ``len(frame)``.

    Raises ValueError naming the column for values that cannot be sampled or converted (e.g.
    a parent value without subcategory values).
    """
    for column in topological_order(list(columns)):
        assert isinstance(column, SamplerColumnConfig)
        try:
            values = _sample_one(column.params, column.name, frame, start, seed, fingerprint)
            if column.conditional_params:
                values = _conditional(column, values, frame, start, seed, fingerprint)
            if column.convert_to is not None:
                values = _convert(values, column.convert_to)
        except ValueError as exc:
            raise ValueError(f"sampler column '{column.name}': {exc}") from exc
        frame[column.name] = values
    return frame


def _conditional(
    column: SamplerColumnConfig,
    values: Values,
    frame: pd.DataFrame,
    start: int,
    seed: int | None,
    fingerprint: str,
) -> Values:
    """`values` where a row meets no condition; else the values of the last condition it
    meets (Data Designer's order). Each condition's params draw from a stream of their own,
    for every row (so the column's dtype never depends on which rows meet which)."""
    # Datetimes as ISO text, as Data Designer renders conditions.
    rows = [
        {k: v.isoformat() if isinstance(v, pd.Timestamp) else v for k, v in row.items()}
        for row in frame.to_dict("records")
    ]
    for condition, params in column.conditional_params.items():
        template = condition_template(condition)
        try:
            meets = np.array([render(template, row, column=column.name) == "True" for row in rows])
        except CellError as exc:
            raise ValueError(f"condition {condition!r}: {exc}") from None
        stream = f"{column.name}|{condition}"
        other = _sample_one(params, stream, frame, start, seed, fingerprint)
        values = _where(meets, other, values)
    return values


def _where(mask: np.ndarray, chosen: Values, rest: Values) -> Values:
    if chosen.dtype != rest.dtype:  # e.g. int values with str ones: all as str
        chosen, rest = _convert(chosen, "str"), _convert(rest, "str")
    out = rest.copy()
    out[mask] = chosen[mask]
    return out


def _sample_one(
    p: SamplerParams,
    stream: str,
    frame: pd.DataFrame,
    start: int,
    seed: int | None,
    fingerprint: str,
) -> Values:
    def draw(fn: Callable[[np.random.Generator, int], tuple[np.ndarray, ...]]):
        return draw_rows(seed, fingerprint, stream, start, len(frame), fn)

    if isinstance(p, CategorySamplerParams):
        return _category(p, draw)
    if isinstance(p, SubcategorySamplerParams):
        return _subcategory(p, frame, draw)
    if isinstance(p, UniformSamplerParams):
        (x,) = draw(lambda rng, size: (rng.uniform(p.low, p.high, size),))
        return _round(x, p.decimal_places)
    if isinstance(p, GaussianSamplerParams):
        (x,) = draw(lambda rng, size: (rng.normal(p.mean, p.stddev, size),))
        return _round(x, p.decimal_places)
    if isinstance(p, BernoulliSamplerParams):
        (x,) = draw(lambda rng, size: (rng.random(size) < p.p,))
        return x.astype(np.int64)
    if isinstance(p, BinomialSamplerParams):
        (x,) = draw(lambda rng, size: (rng.binomial(p.n, p.p, size),))
        return x.astype(np.int64)
    if isinstance(p, PoissonSamplerParams):
        (x,) = draw(lambda rng, size: (rng.poisson(p.mean, size),))
        return x.astype(np.int64)
    if isinstance(p, UUIDSamplerParams):
        return _uuid(p, draw)
    if isinstance(p, DatetimeSamplerParams):
        return _datetime(p, draw)
    if isinstance(p, TimeDeltaSamplerParams):
        return _timedelta(p, frame, draw)
    if isinstance(p, PersonSamplerParams):
        return person_values(p, draw)
    if isinstance(p, PersonFromFakerSamplerParams):
        return faker_person_values(p, draw)
    raise ValueError(f"unsupported sampler params {type(p).__name__}")


# --- value tables ---------------------------------------------------------------------------


def _table(values: Sequence[Any], kind: str) -> np.ndarray:
    if kind == "bool":
        return np.asarray(values, dtype=bool)
    if kind == "int":
        return np.asarray(values, dtype=np.int64)
    if kind == "float":
        return np.asarray(values, dtype=np.float64)
    table = np.empty(len(values), dtype=object)
    table[:] = [v if isinstance(v, str) else str(v) for v in values]
    return table


def _finish(values: np.ndarray, kind: str) -> Values:
    return pd.array(values, dtype=STR_DTYPE) if kind == "str" else values


def _strings(values: Sequence[str] | np.ndarray) -> Values:
    obj = np.empty(len(values), dtype=object)
    obj[:] = values
    return pd.array(obj, dtype=STR_DTYPE)


# --- samplers ---------------------------------------------------------------------------------


def _category(p: CategorySamplerParams, draw) -> Values:
    if not p.values:
        raise ValueError("category values must not be empty")
    kind = category_value_kind(p.values)
    table = _table(p.values, kind)
    k = len(table)
    if p.weights is None:
        (idx,) = draw(lambda rng, size: (rng.integers(0, k, size),))
    else:
        weights = np.asarray(p.weights, dtype=np.float64)
        if len(weights) != k or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError("weights must match values, be non-negative, with a positive sum")
        cdf = np.cumsum(weights)
        cdf /= cdf[-1]

        def pick(rng: np.random.Generator, size: int) -> tuple[np.ndarray]:
            return (np.searchsorted(cdf, rng.random(size), side="right"),)

        (idx,) = draw(pick)
        np.minimum(idx, k - 1, out=idx)
    return _finish(table[idx], kind)


def _subcategory(p: SubcategorySamplerParams, frame: pd.DataFrame, draw) -> Values:
    if p.category not in frame.columns:
        raise ValueError(f"parent column '{p.category}' is not in the row group")
    all_values = [v for values in p.values.values() for v in values]
    kind = category_value_kind(all_values)
    (u,) = draw(lambda rng, size: (rng.random(size),))
    codes, uniques = pd.factorize(frame[p.category].to_numpy(), use_na_sentinel=False)
    dtype = object if kind == "str" else _table([], kind).dtype
    out = np.empty(len(u), dtype=dtype)
    for code, parent in enumerate(uniques):
        key = str(parent)
        choices = p.values.get(key)
        if not choices:
            raise ValueError(f"no subcategory values for '{p.category}' value {key!r}")
        table = _table(choices, kind)
        mask = codes == code
        idx = (u[mask] * len(table)).astype(np.int64)
        np.minimum(idx, len(table) - 1, out=idx)
        out[mask] = table[idx]
    return _finish(out, kind)


def _round(x: np.ndarray, decimal_places: int | None) -> np.ndarray:
    x = x.astype(np.float64, copy=False)
    return x if decimal_places is None else np.round(x, decimal_places)


_HEX_LOWER = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_HEX_UPPER = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
# Positions of the 32 hex digits within the 36 characters of 8-4-4-4-12.
_UUID_DIGITS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])


def _uuid(p: UUIDSamplerParams, draw) -> Values:
    def raw(rng: np.random.Generator, size: int) -> tuple[np.ndarray]:
        return (np.frombuffer(rng.bytes(16 * size), dtype=np.uint8).reshape(size, 16),)

    (b,) = draw(raw)
    n = len(b)
    b = b.copy()
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40  # version 4
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    hexdigits = _HEX_UPPER if p.uppercase else _HEX_LOWER
    digits = np.empty((n, 32), dtype=np.uint8)
    digits[:, 0::2] = hexdigits[b >> 4]
    digits[:, 1::2] = hexdigits[b & 0x0F]
    if p.short_form:
        chars = np.ascontiguousarray(digits[:, :8])
    else:
        chars = np.full((n, 36), ord("-"), dtype=np.uint8)
        chars[:, _UUID_DIGITS] = digits
    width = chars.shape[1]
    text = chars.tobytes().decode("ascii")
    prefix = p.prefix or ""
    return _strings([prefix + text[i : i + width] for i in range(0, n * width, width)])


def _timestamp_ns(value: str) -> int:
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return int(ts.as_unit("ns").value)


def _datetime(p: DatetimeSamplerParams, draw) -> np.ndarray:
    try:
        lo, hi = _timestamp_ns(p.start), _timestamp_ns(p.end)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"datetime start/end must be ISO dates: {exc}") from exc
    if not lo < hi:
        raise ValueError(f"datetime needs start < end (got {p.start} .. {p.end})")
    (ns,) = draw(lambda rng, size: (rng.integers(lo, hi, size, dtype=np.int64),))
    # numpy unit casts floor, so this truncates to the start of the year / month / day / ...
    return ns.view("datetime64[ns]").astype(f"datetime64[{p.unit}]").astype("datetime64[ns]")


def _timedelta(p: TimeDeltaSamplerParams, frame: pd.DataFrame, draw) -> np.ndarray:
    ref_name = p.reference_column_name
    if ref_name not in frame.columns:
        raise ValueError(f"reference column '{ref_name}' is not in the row group")
    if not p.dt_min < p.dt_max:
        raise ValueError(f"timedelta needs dt_min < dt_max (got {p.dt_min} .. {p.dt_max})")
    ref = frame[ref_name]
    if not pd.api.types.is_datetime64_any_dtype(ref.dtype):
        ref = pd.to_datetime(ref)
    if getattr(ref.dt, "tz", None) is not None:
        ref = ref.dt.tz_convert("UTC").dt.tz_localize(None)
    base = ref.to_numpy(dtype="datetime64[ns]")
    (k,) = draw(lambda rng, size: (rng.integers(p.dt_min, p.dt_max, size, dtype=np.int64),))
    return base + k.astype(f"timedelta64[{p.unit}]").astype("timedelta64[ns]")


# --- convert_to -------------------------------------------------------------------------------


def _convert(values: Values, to: str) -> Values:
    series = pd.Series(values, copy=False)
    try:
        if to == "str":
            return _strings(series.astype(str).to_numpy(dtype=object))
        if pd.api.types.is_string_dtype(series.dtype) or series.dtype == object:
            series = pd.to_numeric(series)
        if to == "int":
            return series.astype(np.int64).to_numpy()
        return series.astype(np.float64).to_numpy()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"cannot convert to {to}: {exc}") from exc
