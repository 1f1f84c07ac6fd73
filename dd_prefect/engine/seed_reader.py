"""Reading seed rows: the selected rows of a seed, walked in order or shuffled per epoch.

Global row ``i`` of a run gets seed row ``selection[i % num_rows]`` (ORDERED) or
``selection[perm_e[i % num_rows]]`` with ``e = i // num_rows`` (SHUFFLE), where ``perm_e`` is
a fresh permutation per epoch from :func:`~dd_prefect.engine.randomness.block_rng`. So the
rows a run gets do not depend on how it is split into row groups, and with a seed they are
the same in every process.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd

from dd_prefect.config.seeds import (
    DataFrameSeedSource,
    IndexRange,
    LocalFileSeedSource,
    PartitionBlock,
    SamplingStrategy,
    SeedConfig,
    seed_file_format,
)
from dd_prefect.engine.parquet_io import read_parquet
from dd_prefect.engine.randomness import block_rng

SHUFFLE_STREAM = "__seed_shuffle__"
"""The randomness stream of seed shuffling (epoch ``e`` uses block ``e``)."""

_CACHED_PERMUTATIONS = 4


def read_seed_file(path: Path) -> pd.DataFrame:
    """One parquet, csv or jsonl file as a DataFrame.

    Raises ValueError naming the path for an unsupported suffix or an unreadable file.
    """
    try:
        fmt = seed_file_format(path)
    except ValueError as exc:
        raise ValueError(f"seed file {str(path)!r}: {exc}") from exc
    try:
        if fmt == "parquet":
            return read_parquet([path])  # decodes nested columns stored as JSON text
        if fmt == "csv":
            return pd.read_csv(path)
        if path.stat().st_size == 0:
            return pd.DataFrame()
        return pd.read_json(path, lines=True)
    except Exception as exc:
        raise ValueError(f"cannot read seed file {str(path)!r}: {exc}") from exc


def partition_bounds(num_rows: int, index: int, num_partitions: int) -> tuple[int, int]:
    """``[start, stop)`` of block `index` of `num_rows` split like ``numpy.array_split``."""
    size, extra = divmod(num_rows, num_partitions)
    start = index * size + min(index, extra)
    return start, start + size + (1 if index < extra else 0)


class SeedReader:
    """The rows of one seed config, read lazily once and handed out by global position.

    With ``seed=None`` shuffling still uses one permutation per epoch for the life of this
    reader (drawn from a random key made at construction), just not a reproducible one.
    Thread-safe.
    """

    def __init__(self, seed_config: SeedConfig, *, seed: int | None, fingerprint: str) -> None:
        """Remember what to read; nothing is read until a property or :meth:`rows` needs it."""
        self.seed_config = seed_config
        self.seed = seed
        self.fingerprint = fingerprint
        self._shuffle_seed = seed if seed is not None else secrets.randbits(64)
        self._lock = threading.Lock()
        self._data: pd.DataFrame | None = None
        self._perms: OrderedDict[int, np.ndarray] = OrderedDict()

    @property
    def shuffle_seed(self) -> int:
        """The key of the SHUFFLE permutations (the run's seed, or a random one without)."""
        return self._shuffle_seed

    @shuffle_seed.setter
    def shuffle_seed(self, value: int) -> None:
        # A resumed run without RunConfig.seed restores the first run's key, so each
        # epoch still visits every selected row once across the resume.
        with self._lock:
            self._shuffle_seed = value
            self._perms.clear()

    @property
    def source_name(self) -> str:
        """The seed source as shown in messages (a path, or ``DataFrame(n rows)``)."""
        return self.seed_config.source.describe()

    @property
    def data(self) -> pd.DataFrame:
        """The selected rows (index reset), read on first use."""
        with self._lock:
            if self._data is None:
                self._data = self._load()
            return self._data

    @property
    def num_rows(self) -> int:
        """Rows in the selection (> 0)."""
        return len(self.data)

    @property
    def columns(self) -> list[str]:
        """Column names of the seed."""
        return [str(c) for c in self.data.columns]

    def rows(self, start: int, n: int) -> pd.DataFrame:
        """The seed rows for global positions ``start .. start + n - 1`` (index reset)."""
        if start < 0 or n < 0:
            raise ValueError(f"rows() needs start >= 0 and n >= 0 (got start={start}, n={n})")
        data = self.data
        m = len(data)
        if self.seed_config.sampling_strategy == SamplingStrategy.SHUFFLE and n:
            idx = np.empty(n, dtype=np.int64)
            stop = start + n
            for epoch in range(start // m, (stop - 1) // m + 1):
                # Positions of this epoch within [start, stop), as offsets into the epoch.
                lo, hi = max(start, epoch * m), min(stop, (epoch + 1) * m)
                perm = self._permutation(epoch, m)
                idx[lo - start : hi - start] = perm[lo - epoch * m : hi - epoch * m]
        else:
            idx = np.arange(start, start + n, dtype=np.int64) % m
        return data.take(idx).reset_index(drop=True)

    def _permutation(self, epoch: int, m: int) -> np.ndarray:
        with self._lock:
            perm = self._perms.get(epoch)
            if perm is None:
                rng = block_rng(self._shuffle_seed, self.fingerprint, SHUFFLE_STREAM, epoch)
                perm = rng.permutation(m)
                self._perms[epoch] = perm
                while len(self._perms) > _CACHED_PERMUTATIONS:
                    self._perms.popitem(last=False)
            else:
                self._perms.move_to_end(epoch)
            return perm

    def _load(self) -> pd.DataFrame:
        source = self.seed_config.source
        if isinstance(source, DataFrameSeedSource):
            df = source.df
        elif isinstance(source, LocalFileSeedSource):
            files = source.files()
            if not files:
                raise ValueError(f"seed path {source.path!r} matches no file")
            frames = [read_seed_file(path) for path in files]
            df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        else:  # pragma: no cover - the config's union has no other member
            raise ValueError(f"unsupported seed source {type(source).__name__}")
        total = len(df)
        selection = self.seed_config.selection_strategy
        if isinstance(selection, IndexRange):
            df = df.iloc[selection.start : selection.end + 1]
        elif isinstance(selection, PartitionBlock):
            lo, hi = partition_bounds(total, selection.index, selection.num_partitions)
            df = df.iloc[lo:hi]
        if len(df) == 0:
            detail = f" after selection {selection!r}" if selection is not None else ""
            raise ValueError(
                f"seed {self.source_name!r} has no rows{detail} (the seed has {total} rows)"
            )
        return df.reset_index(drop=True)
