"""Totals of a dataset's metadata from its finished row groups' records."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import pandas as pd

from dd_prefect.workflow.metadata import DatasetMetadata, RowGroupRecord


def null_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Null counts per column of a row group."""
    return {str(c): int(n) for c, n in frame.isna().sum().items()}


def fill_totals(
    metadata: DatasetMetadata,
    records: dict[int, RowGroupRecord],
    groups: list[tuple[int, int, int]] | None = None,
) -> None:
    """Set `metadata`'s row groups, files and counts from the `records` finished so far
    (in the order of `groups`, else of their indices)."""
    order = [i for i, _, _ in groups] if groups is not None else sorted(records)
    done = [records[i] for i in order if i in records]
    metadata.row_groups = done
    metadata.files = [r.files["main"] for r in done if "main" in r.files]
    metadata.actual_records = sum(r.rows for r in done)
    metadata.dropped_rows = sum(r.dropped_rows for r in done)
    errors: Counter[str] = Counter()
    for r in done:
        errors.update(r.errors)
    metadata.errors = dict(errors)


def merged_stats(records: Iterable[RowGroupRecord], total: int) -> dict[str, dict[str, int]]:
    """Null and non-null counts per column over every row group."""
    nulls: Counter[str] = Counter()
    columns: list[str] = []
    for record in records:
        for column, count in record.nulls.items():
            if column not in columns:
                columns.append(column)
            nulls[column] += count
    return {c: {"nulls": nulls[c], "non_null": total - nulls[c]} for c in columns}
