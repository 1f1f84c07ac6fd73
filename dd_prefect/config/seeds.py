"""Seed sources, sampling and selection strategies, and reading a seed's column names."""

from __future__ import annotations

import glob
import hashlib
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from dd_prefect.config.file_seed_sources import (
    AgentRolloutSeedSource as AgentRolloutSeedSource,
)
from dd_prefect.config.file_seed_sources import DirectorySeedSource as DirectorySeedSource
from dd_prefect.config.file_seed_sources import FileContentsSeedSource as FileContentsSeedSource
from dd_prefect.config.file_seed_sources import files_digest

SEED_FORMATS = (".parquet", ".csv", ".jsonl")


class SamplingStrategy(StrEnum):
    """ORDERED walks the selected rows in order (cycling); SHUFFLE shuffles within them."""

    ORDERED = "ordered"
    SHUFFLE = "shuffle"


class IndexRange(BaseModel):
    """Rows `start`..`end` of the seed, both inclusive."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["index_range"] = "index_range"
    start: int = Field(ge=0)
    end: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> IndexRange:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) must be >= start ({self.start})")
        return self


class PartitionBlock(BaseModel):
    """Block `index` (0-based) of the seed split into `num_partitions` contiguous blocks."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["partition_block"] = "partition_block"
    index: int = Field(ge=0)
    num_partitions: int = Field(ge=1)

    @model_validator(mode="after")
    def _in_range(self) -> PartitionBlock:
        if self.index >= self.num_partitions:
            raise ValueError(
                f"index ({self.index}) must be < num_partitions ({self.num_partitions})"
            )
        return self


SelectionStrategy = Annotated[IndexRange | PartitionBlock, Field(discriminator="kind")]


class LocalFileSeedSource(BaseModel):
    """Seed rows from local parquet, csv or jsonl files: one path or a glob.

    The files of a glob must have the same columns (else an error names the files and the
    columns), unless `union_columns` asks for all of them: a value a file lacks is null.
    """

    model_config = ConfigDict(extra="forbid")

    seed_type: Literal["local"] = "local"
    path: str
    union_columns: bool = False

    def files(self) -> list[Path]:
        """Matching files, sorted, so every process reads them in the same order."""
        try:
            pattern = str(Path(self.path).expanduser())
        except RuntimeError:  # "~someone/..." for a user with no home: matches nothing
            pattern = self.path
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        return [Path(m) for m in matches if Path(m).is_file()]

    def describe(self) -> str:
        return self.path

    def content_digest(self) -> str:
        """A digest of the matched files' names, sizes and modification times.

        Not part of the config fingerprint (a config stays pure data), but runs fold it into
        what they reuse, so editing a seed file in place is noticed.
        """
        return files_digest(self.files())


def seed_files_digest(seed: SeedConfig | None) -> str | None:
    """Digest of a seed config's files (None for no seed or a DataFrame seed)."""
    if seed is None or isinstance(seed.source, DataFrameSeedSource):
        return None
    return seed.source.content_digest()


def _reject_dataframe_serialization(df: pd.DataFrame) -> Any:
    raise ValueError(
        "DataFrameSeedSource cannot be written to a file; save the DataFrame as parquet "
        "and use LocalFileSeedSource instead"
    )


class DataFrameSeedSource(BaseModel):
    """Seed rows from an in-memory DataFrame (for notebooks; never serialized)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    seed_type: Literal["dataframe"] = "dataframe"
    df: Annotated[pd.DataFrame, PlainSerializer(_reject_dataframe_serialization)]

    def content_digest(self) -> str:
        """A stable digest of the frame's contents, for fingerprints.

        Frames with nested cells (dicts, lists), which pandas cannot hash, are digested from
        their JSON text.
        """
        header = json.dumps([str(c) for c in self.df.columns]).encode()
        try:
            hashed = pd.util.hash_pandas_object(self.df, index=False).to_numpy().tobytes()
        except TypeError:  # unhashable cells
            text = self.df.to_json(orient="values", date_format="iso", default_handler=str)
            hashed = text.encode("utf-8")
        return hashlib.sha256(header + hashed).hexdigest()

    def describe(self) -> str:
        return f"DataFrame({len(self.df)} rows)"


SeedSource = Annotated[
    LocalFileSeedSource
    | DataFrameSeedSource
    | DirectorySeedSource
    | FileContentsSeedSource
    | AgentRolloutSeedSource,
    Field(discriminator="seed_type"),
]

UNSUPPORTED_SEED_TYPES = {
    "hf": "HuggingFaceSeedSource is not supported by dd_prefect; download the files and use "
    "a LocalFileSeedSource",
}
"""Data Designer's seed types dd_prefect refuses, and what to use instead."""


class SeedConfig(BaseModel):
    """Where seed rows come from and how they are walked."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    source: SeedSource
    sampling_strategy: SamplingStrategy = SamplingStrategy.ORDERED
    selection_strategy: SelectionStrategy | None = None

    @field_validator("source", mode="before")
    @classmethod
    def _supported(cls, value: Any) -> Any:
        seed_type = value.get("seed_type") if isinstance(value, dict) else None
        if isinstance(seed_type, str) and seed_type in UNSUPPORTED_SEED_TYPES:
            raise ValueError(f"seed_type '{seed_type}': {UNSUPPORTED_SEED_TYPES[seed_type]}")
        return value


def seed_file_format(path: Path) -> str:
    """The reader for a seed file, by suffix; raises ValueError for an unsupported one."""
    suffix = path.suffix.lower()
    if suffix not in SEED_FORMATS:
        raise ValueError(f"unsupported seed file {path.name!r} (use parquet, csv or jsonl)")
    return suffix[1:]


AnySeedSource = (
    LocalFileSeedSource
    | DataFrameSeedSource
    | DirectorySeedSource
    | FileContentsSeedSource
    | AgentRolloutSeedSource
)


def read_seed_columns(source: AnySeedSource) -> list[str]:
    """The column names of a seed, read from file metadata / headers only.

    Raises ValueError when a local path matches no file, a file cannot be read, the
    files of a glob have different columns (unless the source asks for their union), or a
    directory does not exist or has no matching file.
    """
    if isinstance(source, DataFrameSeedSource):
        return [str(c) for c in source.df.columns]
    if isinstance(source, DirectorySeedSource | FileContentsSeedSource | AgentRolloutSeedSource):
        source.files()  # the directory exists and some file matches
        return source.columns
    files = source.files()
    if not files:
        raise ValueError(f"seed path {source.path!r} matches no file")
    return seed_files_columns(files, union=source.union_columns, pattern=source.path)


def seed_files_columns(files: list[Path], *, union: bool, pattern: str) -> list[str]:
    """The columns of `files` (in first-seen order), which must all have the same ones
    unless `union`; ValueError names the files that differ and how."""
    columns = {path: file_columns(path) for path in files}
    first = columns[files[0]]
    merged = list(first)
    differing = []
    for path in files[1:]:
        if set(columns[path]) != set(first):
            differing.append(path)
        merged += [c for c in columns[path] if c not in merged]
    if differing and not union:
        details = []
        for path in differing[:3]:
            lacks = [c for c in first if c not in columns[path]]
            adds = [c for c in columns[path] if c not in first]
            how = [f"lacks {_names(lacks)}"] if lacks else []
            how += [f"adds {_names(adds)}"] if adds else []
            details.append(f"{path} {' and '.join(how)}")
        more = f" (and {len(differing) - 3} more)" if len(differing) > 3 else ""
        raise ValueError(
            f"the files of seed {pattern!r} have different columns: {files[0]} has "
            f"{_names(first)}; " + "; ".join(details) + more + ". Set union_columns=True "
            "on the LocalFileSeedSource to read all their columns (a value a file lacks "
            "is null)"
        )
    return merged


def _names(columns: list[str]) -> str:
    return ", ".join(repr(c) for c in columns) or "no columns"


def file_columns(path: Path) -> list[str]:
    """The column names of one seed file, from its metadata or header (a jsonl file: the
    keys of its first record)."""
    fmt = seed_file_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    if fmt == "csv":
        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    with path.open() as fh:
        line = fh.readline()
    if not line.strip():
        return []
    return list(json.loads(line).keys())
