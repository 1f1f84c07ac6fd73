"""Parquet files of row groups: atomic writes and types that stay the same in every file.

Nested values (dicts and lists: structured and judge outputs, persons, schema-transform
records) are stored as JSON text and listed in the file's metadata, so every file has the
same schema whatever a row group happened to hold; readers decode them back.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

_META_KEY = b"dd_prefect"


def batch_file_name(index: int) -> str:
    """``batch_00007.parquet`` for row group 7."""
    return f"batch_{index:05d}.parquet"


def _is_nested(series: pd.Series) -> bool:
    if series.dtype != object:
        return False
    for value in series:
        if value is not None and not (isinstance(value, float) and pd.isna(value)):
            return isinstance(value, dict | list)
    return False


def _encode(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return json.dumps(value, ensure_ascii=False, default=str)


def to_table(
    frame: pd.DataFrame,
    *,
    json_columns: Iterable[str] = (),
    types: dict[str, pa.DataType] | None = None,
) -> pa.Table:
    """A pyarrow table with nested columns as JSON text and the given column types."""
    frame = frame.copy(deep=False)
    nested = {c for c in json_columns if c in frame.columns}
    nested |= {c for c in frame.columns if _is_nested(frame[c])}
    for column in nested:
        frame[column] = frame[column].map(_encode).astype(object)
    types = dict(types or {})
    for column in nested:
        types[column] = pa.string()
    fields = []
    for column in frame.columns:
        if column in types:
            fields.append(pa.field(column, types[column]))
        else:
            inferred = pa.Schema.from_pandas(frame[[column]], preserve_index=False).field(0)
            if pa.types.is_null(inferred.type):
                inferred = inferred.with_type(pa.string())
            fields.append(inferred)
    schema = pa.schema(fields)
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[_META_KEY] = json.dumps({"json_columns": sorted(nested)}).encode()
    return table.replace_schema_metadata(meta)


def write_parquet(table: pa.Table, path: str | Path) -> Path:
    """Write `table` to a temp file beside `path`, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def json_columns_of(schema: pa.Schema) -> list[str]:
    """Columns a file stores as JSON text."""
    meta = (schema.metadata or {}).get(_META_KEY)
    return list(json.loads(meta).get("json_columns", [])) if meta else []


def read_parquet(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Read row-group files in order into one DataFrame, decoding JSON columns."""
    frames = []
    decode: set[str] = set()
    for path in paths:
        table = pq.read_table(path)
        decode |= set(json_columns_of(table.schema))
        frames.append(table.to_pandas())
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    for column in decode:
        if column in frame.columns:
            frame[column] = [json.loads(v) if isinstance(v, str) else None for v in frame[column]]
    return frame


def parquet_files(directory: str | Path) -> list[Path]:
    """The ``*.parquet`` files of a directory (or the file itself), sorted by name."""
    directory = Path(directory)
    if directory.is_file():
        return [directory]
    return sorted(p for p in directory.glob("*.parquet") if not p.name.startswith("."))


def count_rows(paths: Iterable[str | Path]) -> int:
    """Rows in parquet files, from their footers only."""
    return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)
