"""Parquet files of row groups: atomic writes and types that stay the same in every file.

Nested values (dicts and lists: structured and judge outputs, persons, schema-transform
records) are stored as JSON text and listed in the file's metadata, so every file has the
same schema whatever a row group happened to hold; readers decode them back.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
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


def export_table(frame: pd.DataFrame) -> pa.Table:
    """A pyarrow table for an export file, readable as nested data by any parquet reader.

    Unlike :func:`to_table` (internal row groups, which must share one schema), dicts and
    lists become Arrow structs and lists: keys that differ by row become one struct with
    every key (null where a row lacks it), None inside lists stays null. A column Arrow
    can't type (values of different kinds, such as a dict in one row and a string in
    another, or an empty dict, which parquet can't store as a struct) is written as JSON
    text instead and listed in the file's metadata, so :func:`read_parquet` decodes it.
    """
    frame = frame.copy(deep=False)
    fields: list[pa.Field] = []
    json_text: list[str] = []
    for column in frame.columns:
        if frame[column].dtype == object:
            try:
                kind = pa.array(frame[column], from_pandas=True).type
                if not _parquet_can_store(kind):
                    raise pa.ArrowNotImplementedError(f"parquet can't store {kind}")
            except (pa.ArrowException, ValueError, TypeError, OverflowError):
                frame[column] = [json_text_of(v) for v in frame[column]]
                json_text.append(str(column))
                kind = pa.string()
        else:
            kind = pa.Schema.from_pandas(frame[[column]], preserve_index=False).field(0).type
        fields.append(pa.field(str(column), pa.string() if pa.types.is_null(kind) else kind))
    table = pa.Table.from_pandas(frame, schema=pa.schema(fields), preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[_META_KEY] = json.dumps({"json_columns": json_text}).encode()
    return table.replace_schema_metadata(meta)


def plain_value(value: Any) -> Any:
    """`value` as plain JSON-able Python, losing nothing JSON can hold: numpy scalars and
    arrays as Python numbers and lists, NaN/inf/NA/NaT as None (JSON has none of them),
    dates and times as ISO 8601 text."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, dict):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [plain_value(v) for v in value]
    if isinstance(value, np.datetime64 | np.timedelta64):
        value = pd.Timestamp(value) if isinstance(value, np.datetime64) else pd.Timedelta(value)
        return None if value is pd.NaT else value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime.timedelta):
        return pd.Timedelta(value).isoformat()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return value


def json_text_of(value: Any) -> str | None:
    """A value as JSON text (None stays None), floats with every digit."""
    plain = plain_value(value)
    return None if plain is None else json.dumps(plain, ensure_ascii=False, default=str)


def _parquet_can_store(kind: pa.DataType) -> bool:
    """False for types parquet has no layout for: structs without fields, anywhere."""
    if pa.types.is_struct(kind):
        return kind.num_fields > 0 and all(
            _parquet_can_store(kind.field(i).type) for i in range(kind.num_fields)
        )
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _parquet_can_store(kind.value_type)
    if pa.types.is_map(kind):
        return _parquet_can_store(kind.key_type) and _parquet_can_store(kind.item_type)
    return True


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
