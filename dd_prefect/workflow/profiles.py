"""Profiling a dataset batch by batch, in memory that does not grow with its size.

One pass over the batches counts, per column: records, nulls, distinct values, numeric
and text-length moments, value frequencies and, for judge columns, each score's
frequencies. What each column keeps is bounded:

- distinct values: exact up to :data:`KMV_SIZE` of them, then estimated from the
  :data:`KMV_SIZE` smallest 64-bit hashes (a k-minimum-values sketch;
  ``num_unique_estimated`` says so);
- numeric values (and text lengths, and token estimates): their frequencies, exact up to
  :data:`EXACT_VALUES` distinct values; quantiles and histogram bins are then computed
  exactly as pandas and numpy would. A column with more distinct values is read a second
  time for its histogram and fine bins; its quantiles are then interpolated within a bin
  (``approximate`` says so, the error is below (max - min) / :data:`FINE_BINS`).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dd_prefect.engine.parquet_io import plain_value

KMV_SIZE = 4096
EXACT_VALUES = 4096
CATEGORY_LIMIT = 50  # a column with at most this many distinct values gets frequencies
HISTOGRAM_BINS = 20
FINE_BINS = 2048
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
CHARS_PER_TOKEN = 4  # the usual estimate for English text with OpenAI-style tokenizers
LLM_COLUMN_TYPES = ("llm-text", "llm-code", "llm-structured", "llm-judge")

Batches = Callable[[], Iterator[pd.DataFrame]]
"""A fresh iterator over the dataset's batches at each call (read once or twice)."""


def text_of(value: Any) -> str:
    """A value as text: itself for a string, else canonical JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(plain_value(value), ensure_ascii=False, default=str, sort_keys=True)


def is_missing(value: Any) -> bool:
    """Whether a cell is null (NaN, None, NA); lists and dicts never are."""
    if isinstance(value, dict | list | np.ndarray):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


class Distinct:
    """Distinct values: exact up to `size`, then a k-minimum-values estimate."""

    def __init__(self, size: int = KMV_SIZE) -> None:
        self.size = size
        self.hashes: set[int] = set()
        self.saturated = False

    def add(self, text: str) -> None:
        h = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
        if self.saturated and h >= self._bound:
            return
        self.hashes.add(h)
        if len(self.hashes) > 2 * self.size:
            self._shrink()

    def _shrink(self) -> None:
        self.hashes = set(heapq.nsmallest(self.size, self.hashes))
        self.saturated = True
        self._bound = max(self.hashes)

    @property
    def count(self) -> int:
        if len(self.hashes) > self.size:
            self._shrink()
        if not self.saturated:
            return len(self.hashes)
        return round((self.size - 1) * 2**64 / (max(self.hashes) + 1))


@dataclass
class Numbers:
    """Moments and (while few distinct) frequencies of a stream of numbers."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    values: Counter[float] | None = field(default_factory=Counter)

    def add(self, values: np.ndarray) -> None:
        values = values[np.isfinite(values)]  # NaN and infinities are left out
        if not len(values):
            return
        n, mean = len(values), float(values.mean())
        m2 = float(((values - mean) ** 2).sum())
        total = self.count + n
        delta = mean - self.mean
        self.m2 += m2 + delta * delta * self.count * n / total
        self.mean += delta * n / total
        self.count = total
        self.low, self.high = (
            min(self.low, float(values.min())),
            max(self.high, float(values.max())),
        )
        if self.values is not None:
            self.values.update(values.tolist())
            if len(self.values) > EXACT_VALUES:
                self.values = None

    @property
    def exact(self) -> bool:
        return self.values is not None

    def distribution(self, bins: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, Any]:
        """DD's NumericalDistribution (min, max, mean, stddev, median) plus quantiles and a
        histogram (numpy's bins over [min, max]). `bins`: (counts, edges) of the second
        pass, HISTOGRAM_BINS then FINE_BINS, for a column with many distinct values."""
        if not self.count:
            return {}
        stddev = math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else math.nan
        if self.values is not None:
            keys = np.array(sorted(self.values))
            weights = np.array([self.values[k] for k in keys], dtype=float)
            counts, edges = np.histogram(keys, bins=HISTOGRAM_BINS, weights=weights)
            quantiles = {q: _exact_quantile(keys, weights, q) for q in QUANTILES}
        else:
            assert bins is not None, "a second pass gives the bins of many distinct values"
            (counts, edges), (fine, fine_edges) = bins
            quantiles = {q: _binned_quantile(fine, fine_edges, q) for q in QUANTILES}
        return {
            "min": _number(self.low),
            "max": _number(self.high),
            "mean": self.mean,
            "stddev": stddev,
            "median": quantiles[0.5],
            "quantiles": {str(q): v for q, v in quantiles.items()},
            "histogram": {"bin_edges": edges.tolist(), "counts": [int(c) for c in counts]},
            "approximate": self.values is None,
        }


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _exact_quantile(keys: np.ndarray, weights: np.ndarray, q: float) -> float:
    """pandas' (linear) quantile of the values `keys` repeated `weights` times."""
    position = (weights.sum() - 1) * q
    cumulative = np.cumsum(weights)
    lower = keys[np.searchsorted(cumulative, math.floor(position), side="right")]
    upper = keys[np.searchsorted(cumulative, math.ceil(position), side="right")]
    return float(lower + (upper - lower) * (position - math.floor(position)))


def _binned_quantile(counts: np.ndarray, edges: np.ndarray, q: float) -> float:
    position = (counts.sum() - 1) * q
    cumulative = np.cumsum(counts)
    i = int(np.searchsorted(cumulative, position, side="right"))
    i = min(i, len(counts) - 1)
    before = cumulative[i - 1] if i else 0
    share = (position - before) / counts[i] if counts[i] else 0.0
    return float(edges[i] + (edges[i + 1] - edges[i]) * min(max(share, 0.0), 1.0))


def categorical(counts: Counter[Any]) -> dict[str, Any]:
    """DD's CategoricalDistribution: most and least common value and the histogram (by
    count, most common first; ties in first-seen order, as pandas' value_counts)."""
    ordered = counts.most_common()
    return {
        "most_common_value": ordered[0][0],
        "least_common_value": ordered[-1][0],
        "histogram": {"categories": [k for k, _ in ordered], "counts": [c for _, c in ordered]},
    }


class ColumnProfile:
    """Everything kept about one column while the batches go by."""

    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        self.name = name
        self.column_type: str = spec.get("column_type", "general")
        self.spec = spec
        self.records = 0
        self.nulls = 0
        self.dtype = ""
        self.distinct = Distinct()
        self.examples: list[str] = []
        llm = self.column_type in LLM_COLUMN_TYPES  # free text: lengths, not frequencies
        self.frequencies: Counter[Any] | None = None if llm else Counter()
        self.numbers: Numbers | None = None
        self.lengths: Numbers | None = None
        self.tokens = Numbers() if llm else None
        self.scores: dict[str, Counter[Any]] = {s: Counter() for s in spec.get("scores", [])}
        self.valid = 0
        self.bins: dict[str, Any] = {}  # second-pass bins of `numbers`, `lengths`, `tokens`

    def add(self, series: pd.Series) -> None:
        self.dtype = self.dtype or str(series.dtype)
        self.records += len(series)
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        if numeric:
            self.numbers = self.numbers or Numbers()
            self.numbers.add(series.to_numpy(dtype=float, na_value=np.nan))
        present = [v for v in series.tolist() if not is_missing(v)]
        self.nulls += len(series) - len(present)
        texts = [text_of(v) for v in present]
        for text in texts:
            self.distinct.add(text)
            if len(self.examples) < 3 and text not in self.examples:
                self.examples.append(text)
        if self.frequencies is not None:
            self.frequencies.update(_key(v) for v in present)
            nested = any(isinstance(v, dict | list | np.ndarray) for v in present)
            if nested or len(self.frequencies) > CATEGORY_LIMIT:
                self.frequencies = None
        if not numeric and present and all(isinstance(v, str) for v in present):
            self.lengths = self.lengths or Numbers()
            self.lengths.add(lengths_of(texts))
        if self.tokens is not None:
            self.tokens.add(tokens_of(texts))
        for score, counts in self.scores.items():
            counts.update(_score(v, score) for v in present)
        if self.column_type == "validation":
            self.valid += sum(1 for v in present if isinstance(v, dict) and v.get("is_valid"))


def _key(value: Any) -> Any:
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return text_of(value)


def _score(cell: Any, score: str) -> int | str:
    """A judge cell's score for `score`: an int when it is one (as DD counts it)."""
    value = cell.get(score, {}).get("score") if isinstance(cell, dict) else None
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)


def profile_columns(batches: Batches, specs: dict[str, dict[str, Any]]) -> list[ColumnProfile]:
    """Profile every column of the batches (a second pass only for columns with many
    distinct numbers). `specs`: per column name, what the config says of it."""
    profiles: dict[str, ColumnProfile] = {}
    for batch in batches():
        for column in batch.columns:
            name = str(column)
            if name not in profiles:
                profiles[name] = ColumnProfile(name, specs.get(name, {}))
            profiles[name].add(batch[column])
    _second_pass(batches, list(profiles.values()))
    return list(profiles.values())


def _second_pass(batches: Batches, profiles: list[ColumnProfile]) -> None:
    wanted = {
        (p.name, kind): numbers
        for p in profiles
        for kind, numbers in (("numbers", p.numbers), ("lengths", p.lengths), ("tokens", p.tokens))
        if numbers is not None and numbers.count and not numbers.exact
    }
    if not wanted:
        return
    edges = {
        key: (
            np.histogram_bin_edges([], bins=HISTOGRAM_BINS, range=(n.low, n.high)),
            np.histogram_bin_edges([], bins=FINE_BINS, range=(n.low, n.high)),
        )
        for key, n in wanted.items()
    }
    counts = {key: (np.zeros(HISTOGRAM_BINS), np.zeros(FINE_BINS)) for key in wanted}
    for batch in batches():
        for (name, kind), (coarse, fine) in edges.items():
            if name not in batch.columns:
                continue
            values = _values_of(batch[name], kind)
            values = values[np.isfinite(values)]  # NaN and infinities are left out
            counts[(name, kind)][0][:] += np.histogram(values, bins=coarse)[0]
            counts[(name, kind)][1][:] += np.histogram(values, bins=fine)[0]
    by_name = {p.name: p for p in profiles}
    for (name, kind), (coarse, fine) in counts.items():
        by_name[name].bins[kind] = (
            (coarse, edges[(name, kind)][0]),
            (fine, edges[(name, kind)][1]),
        )


def _values_of(series: pd.Series, kind: str) -> np.ndarray:
    if kind == "numbers":
        return series.to_numpy(dtype=float, na_value=np.nan)
    texts = [text_of(v) for v in series.tolist() if not is_missing(v)]
    return lengths_of(texts) if kind == "lengths" else tokens_of(texts)


def lengths_of(texts: list[str]) -> np.ndarray:
    """Each text's length in characters."""
    return np.array([len(t) for t in texts], dtype=float)


def tokens_of(texts: list[str]) -> np.ndarray:
    """Each text's estimated tokens: ceil(characters / CHARS_PER_TOKEN)."""
    return np.array([math.ceil(len(t) / CHARS_PER_TOKEN) for t in texts], dtype=float)


def frames(batches: Iterable[pd.DataFrame]) -> Batches:
    """Batches from frames already in memory."""
    kept = list(batches)
    return lambda: iter(kept)
