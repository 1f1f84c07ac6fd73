"""Reading seed rows: the selected rows of a seed, walked in order or shuffled per epoch.

Global row ``i`` of a run gets seed row ``selection[i % num_rows]`` (ORDERED) or
``selection[perm_e[i % num_rows]]`` with ``e = i // num_rows`` (SHUFFLE), where ``perm_e`` is
a fresh permutation per epoch from :func:`~dd_prefect.engine.randomness.block_rng`. So the
rows a run gets do not depend on how it is split into row groups, and with a seed they are
the same in every process.

Missing values are null (None in a row), whatever the format; integers stay integers.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dd_prefect.config.seeds import (
    AgentRolloutSeedSource,
    DataFrameSeedSource,
    DirectorySeedSource,
    FileContentsSeedSource,
    IndexRange,
    LocalFileSeedSource,
    PartitionBlock,
    SamplingStrategy,
    SeedConfig,
    seed_file_format,
    seed_files_columns,
)
from dd_prefect.engine.agent_rollouts import rollout_rows
from dd_prefect.engine.parquet_io import json_columns_of
from dd_prefect.engine.randomness import block_rng

SHUFFLE_STREAM = "__seed_shuffle__"
"""The randomness stream of seed shuffling (epoch ``e`` uses block ``e``)."""

_CACHED_PERMUTATIONS = 4


def read_seed_file(path: Path) -> pd.DataFrame:
    """One parquet, csv or jsonl file as a DataFrame, missing values null (see
    :func:`tidy_nulls`): integer columns stay integers, nullable where values are missing.

    Raises ValueError naming the path for an unsupported suffix or an unreadable file.
    """
    try:
        fmt = seed_file_format(path)
    except ValueError as exc:
        raise ValueError(f"seed file {str(path)!r}: {exc}") from exc
    try:
        if fmt == "parquet":
            return tidy_nulls(_read_parquet(path))
        if fmt == "csv":
            return tidy_nulls(pd.read_csv(path, dtype_backend="numpy_nullable"))
        if path.stat().st_size == 0:
            return pd.DataFrame()
        return tidy_nulls(pd.read_json(path, lines=True, dtype_backend="numpy_nullable"))
    except Exception as exc:
        raise ValueError(f"cannot read seed file {str(path)!r}: {exc}") from exc


_NULLABLE_ARROW = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
    pa.float32(): pd.Float32Dtype(),
    pa.float64(): pd.Float64Dtype(),
}


def _read_parquet(path: Path) -> pd.DataFrame:
    """A parquet file with nullable numbers (an int column with nulls is not turned into
    floats), decoding the nested columns dd_prefect stores as JSON text."""
    table = pq.read_table(path)
    frame = table.to_pandas(types_mapper=_NULLABLE_ARROW.get)
    for column in json_columns_of(table.schema):
        if column in frame.columns:
            frame[column] = [json.loads(v) if isinstance(v, str) else None for v in frame[column]]
    return frame


def tidy_nulls(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing values as nulls that read as None in a row: a column with missing values is
    nullable (Int64, Float64, boolean, string) or object with None; a column without keeps
    a plain numpy or str type. Never turns integers into floats."""
    frame = frame.copy(deep=False)
    for column in frame.columns:
        series = frame[column]
        dtype = series.dtype
        missing = bool(series.isna().any())
        numpy_dtype = getattr(dtype, "numpy_dtype", None)
        if isinstance(dtype, pd.StringDtype):
            if not missing:
                frame[column] = series.astype(str)
            elif dtype.na_value is not pd.NA:
                frame[column] = series.astype(pd.StringDtype(na_value=pd.NA))
        elif isinstance(dtype, np.dtype):
            if missing and dtype.kind == "f":
                frame[column] = series.astype(pd.Float64Dtype())
            elif missing and dtype.kind == "O":
                frame[column] = series.astype(object).where(series.notna(), None)
        elif numpy_dtype is not None and not missing:  # Int64, Float64, boolean, ...
            frame[column] = series.astype(numpy_dtype)
    return frame


def _nullable(frame: pd.DataFrame) -> pd.DataFrame:
    """Integers and booleans as nullable types (before files are stacked: a column a file
    lacks is filled with nulls without turning integers into floats)."""
    frame = frame.copy(deep=False)
    for column in frame.columns:
        dtype = frame[column].dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "iu":
            unsigned = "U" if dtype.kind == "u" else ""
            frame[column] = frame[column].astype(f"{unsigned}Int{dtype.itemsize * 8}")
        elif isinstance(dtype, np.dtype) and dtype.kind == "b":
            frame[column] = frame[column].astype(pd.BooleanDtype())
    return frame


def stack_seed_frames(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """The rows of several files, in order, with `columns` (first) and any column only some
    of the files have; a value a file lacks is null."""
    if len(frames) == 1:
        return frames[0]
    nullable = [_nullable(frame) for frame in frames]
    names = list(columns) + [
        str(c) for frame in nullable for c in frame.columns if str(c) not in columns
    ]
    names = list(dict.fromkeys(names))
    dtypes: dict[str, Any] = {}
    for frame in nullable:
        for column in frame.columns:
            dtypes.setdefault(str(column), frame[column].dtype)
    filled = []
    for frame in nullable:
        absent = {
            c: pd.Series(pd.NA, index=frame.index, dtype=dtypes[c])
            for c in names
            if c not in frame.columns
        }
        filled.append(frame.assign(**absent)[names] if absent else frame[names])
    return tidy_nulls(pd.concat(filled, ignore_index=True))


def files_frame(source: DirectorySeedSource | FileContentsSeedSource) -> pd.DataFrame:
    """A row per matching file (its source_kind, source_path, relative_path, file_name) and,
    for file contents, its text in ``content``; ValueError names a file that can't be read."""
    rows: list[dict[str, str]] = source.manifest()
    if isinstance(source, FileContentsSeedSource):
        for row in rows:
            try:
                with open(row["source_path"], encoding=source.encoding) as fh:
                    row["content"] = fh.read()
            except UnicodeDecodeError as exc:
                raise ValueError(
                    f"cannot decode seed file {row['source_path']!r} as {source.encoding}: {exc}"
                ) from None
            except OSError as exc:
                raise ValueError(f"cannot read seed file {row['source_path']!r}: {exc}") from None
    return tidy_nulls(pd.DataFrame(rows, columns=source.columns))


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
        return self.data.take(self.positions(start, n)).reset_index(drop=True)

    def positions(self, start: int, n: int) -> np.ndarray:
        """Which selected seed rows global positions ``start .. start + n - 1`` take."""
        if start < 0 or n < 0:
            raise ValueError(f"rows() needs start >= 0 and n >= 0 (got start={start}, n={n})")
        m = len(self.data)
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
        return idx

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
            df = tidy_nulls(source.df)
        elif isinstance(source, LocalFileSeedSource):
            files = source.files()
            if not files:
                raise ValueError(f"seed path {source.path!r} matches no file")
            frames = [read_seed_file(path) for path in files]  # errors name the file
            columns = [str(c) for c in frames[0].columns]
            if len(files) > 1:
                columns = seed_files_columns(files, union=source.union_columns, pattern=source.path)
            df = stack_seed_frames(frames, columns)
        elif isinstance(source, AgentRolloutSeedSource):
            df = tidy_nulls(pd.DataFrame(rollout_rows(source), columns=source.columns))
        else:
            df = files_frame(source)
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
