"""A dataset's analysis as Data Designer shapes it, computed from its parquet files batch
by batch and stored beside it as ``analysis.json``.

The file is keyed by what it was computed from (the bytes of every output file, the
config, the metadata's counts): a resumed or reused dataset whose data did not change
reads it back; one whose data changed gets a new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dd_prefect.config.io import atomic_write_text, load_file
from dd_prefect.engine.parquet_io import json_columns_of, parquet_files
from dd_prefect.workflow.layout import (
    METADATA_FILE,
    OUTPUT_PROCESSORS_DIR,
    DatasetLayout,
    WorkflowLayout,
    file_sha256,
)
from dd_prefect.workflow.metadata import DatasetMetadata, StageMetadata
from dd_prefect.workflow.profiles import (
    CHARS_PER_TOKEN,
    Batches,
    ColumnProfile,
    categorical,
    profile_columns,
)

ANALYSIS_FILE = "analysis.json"
ANALYSIS_VERSION = 3  # raise when what is computed changes: stored analyses are redone
BATCH_ROWS = 4096
ERROR_SUFFIX = "__error"
TOKENS_ESTIMATE = f"ceil(characters / {CHARS_PER_TOKEN}) of each cell's text"


def column_specs(config: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """What a config (Data Designer's dict) says of each column: its column type, sampler
    type, a category sampler's values and weights, a judge's score names."""
    specs: dict[str, dict[str, Any]] = {}
    for column in (config or {}).get("columns") or []:
        spec: dict[str, Any] = {"column_type": column.get("column_type", "general")}
        if spec["column_type"] == "sampler":
            spec["sampler_type"] = column.get("sampler_type")
            params = column.get("params") or {}
            if spec["sampler_type"] == "category" and params.get("values"):
                spec["values"] = list(params["values"])
                spec["weights"] = params.get("weights")
        if spec["column_type"] == "llm-judge":
            spec["scores"] = [s["name"] for s in column.get("scores") or []]
        specs[column["name"]] = spec
    return specs


def read_config(layout: DatasetLayout) -> dict[str, Any] | None:
    """The dataset's config.yaml as Data Designer's dict (None when absent/unreadable)."""
    try:
        data = load_file(layout.config_path)
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and isinstance(data.get("data_designer"), dict):
        data = data["data_designer"]
    return data if isinstance(data, dict) else None


def parquet_batches(files: list[Path]) -> Batches:
    """The files' rows, about BATCH_ROWS at a time (JSON columns decoded). Consecutive
    files of one schema are read as one batch: a frame per small row-group file made the
    analysis of a dataset of many small row groups take seconds."""

    def read() -> Iterator[pd.DataFrame]:
        pending: list[pa.RecordBatch] = []
        rows = 0
        for path in files:
            handle = pq.ParquetFile(path)
            for batch in handle.iter_batches(batch_size=BATCH_ROWS):
                if pending and not _same_schema(batch.schema, pending[0].schema):
                    yield _frame(pending)
                    pending, rows = [], 0
                pending.append(batch)
                rows += batch.num_rows
                if rows >= BATCH_ROWS:
                    yield _frame(pending)
                    pending, rows = [], 0
        if pending:
            yield _frame(pending)

    return read


def _same_schema(a: pa.Schema, b: pa.Schema) -> bool:
    return a.equals(b) and json_columns_of(a) == json_columns_of(b)


def _frame(batches: list[pa.RecordBatch]) -> pd.DataFrame:
    """Record batches of one schema as one frame, its JSON columns decoded."""
    frame = pa.Table.from_batches(batches).to_pandas()
    for column in json_columns_of(batches[0].schema):
        if column in frame.columns:
            frame[column] = [json.loads(v) if isinstance(v, str) else None
                             for v in frame[column]]  # fmt: skip
    return frame


def profile(
    batches: Batches,
    config: dict[str, Any] | None,
    metadata: DatasetMetadata | None,
    target_num_records: int | None = None,
    layout: DatasetLayout | None = None,
) -> dict[str, Any]:
    """The analysis of a dataset's batches (Data Designer's DatasetProfilerResults, with
    our additions: quantiles, histograms, lengths, category weights, failed rows, usage)."""
    specs = column_specs(config)
    profiles = profile_columns(batches, specs)
    num_records = max((p.records for p in profiles), default=0)
    if target_num_records is None:
        target_num_records = metadata.target_records if metadata else num_records
    return {
        "num_records": num_records,
        "target_num_records": target_num_records,
        "column_statistics": [_statistics(p) for p in profiles],
        "side_effect_column_names": [p.name for p in profiles if p.name not in specs] or None,
        "column_profiles": [_judge_profile(p) for p in profiles if p.scores] or None,
        "failed_rows": _failed_rows(profiles, metadata, layout),
        "llm_usage": dict(metadata.llm_usage_total) if metadata else {},
        "tokens_estimate": TOKENS_ESTIMATE,
        "profilers": list((config or {}).get("profilers") or []),
    }


def _statistics(p: ColumnProfile) -> dict[str, Any]:
    numbers, lengths, tokens = p.numbers, p.lengths, p.tokens
    stats: dict[str, Any] = {
        "column_name": p.name,
        "dtype": p.dtype,
        "num_records": p.records,
        "num_null": p.nulls,
        "num_unique": p.distinct.count,
        "examples": [t if len(t) <= 40 else t[:39] + "…" for t in p.examples],
        "column_type": p.column_type,
        "num_unique_estimated": p.distinct.saturated,
        "sampler_type": p.spec.get("sampler_type"),
    }
    numerical = numbers is not None and numbers.count > 0
    if p.frequencies and ("values" in p.spec or not numerical):  # a category sampler's too
        stats["distribution_type"] = "categorical"
        stats["distribution"] = categorical(p.frequencies)
    elif numbers is not None and numerical:
        stats["distribution_type"] = "numerical"
        stats["distribution"] = numbers.distribution(p.bins.get("numbers"))
    elif lengths is not None:
        stats["distribution_type"] = "text"
    if lengths is not None and lengths.count:
        stats["length_distribution"] = lengths.distribution(p.bins.get("lengths"))
    if "values" in p.spec:
        values, weights = p.spec["values"], p.spec.get("weights") or [1.0] * len(p.spec["values"])
        total = float(sum(weights))
        stats["category_weights"] = {
            "categories": values,
            "weights": [w / total for w in weights],
        }
    if tokens is not None and tokens.count:
        output = tokens.distribution(p.bins.get("tokens"))
        stats["output_tokens_mean"] = output["mean"]
        stats["output_tokens_median"] = output["median"]
        stats["output_tokens_stddev"] = output["stddev"]
        stats["output_tokens_distribution"] = output
    if p.column_type == "validation":
        stats["num_valid_records"] = p.valid
    return stats


def _judge_profile(p: ColumnProfile) -> dict[str, Any]:
    """Data Designer's JudgeScoreProfilerResults without LLM summaries, and without the
    raw per-row scores and reasoning (they grow with the dataset)."""
    types, distributions, histograms = {}, {}, {}
    for score, counts in p.scores.items():
        if not counts:
            continue
        cat = categorical(counts)
        histograms[score] = cat["histogram"]
        if all(isinstance(k, int) for k in counts):
            total = sum(counts.values())
            mean = sum(k * c for k, c in counts.items()) / total
            types[score] = "numerical"
            distributions[score] = {"min": min(counts), "max": max(counts), "mean": mean}
        else:
            types[score] = "categorical"
            distributions[score] = cat
    return {
        "column_name": p.name,
        "summaries": {},
        "score_distributions": {
            "distribution_types": types,
            "distributions": distributions,
            "histograms": histograms,
        },
    }


def _failed_rows(
    profiles: list[ColumnProfile], metadata: DatasetMetadata | None, layout: DatasetLayout | None
) -> dict[str, Any]:
    """Rows that failed: dropped ones and errors by kind (metadata.json), failed rows by
    column and error kind (each row group's failed-rows ledger, read a batch at a time),
    and the cells kept as nulls with an error, by column (the ``<column>__error`` columns)."""
    by_column = {
        p.name.removesuffix(ERROR_SUFFIX): p.records - p.nulls
        for p in profiles
        if p.name.endswith(ERROR_SUFFIX) and p.records > p.nulls
    }
    ledger: Counter[tuple[str, str, bool]] = Counter()
    for record in metadata.row_groups if metadata and layout else []:
        if layout is None or "failed" not in record.files:
            continue
        handle = pq.ParquetFile(layout.base_dir / record.files["failed"])
        for batch in handle.iter_batches(columns=["column", "error_kind", "dropped"]):
            ledger.update(zip(*(batch.column(i).to_pylist() for i in range(3)), strict=True))
    return {
        "dropped_rows": metadata.dropped_rows if metadata else 0,
        "errors_by_kind": dict(sorted(metadata.errors.items())) if metadata else {},
        "by_column_and_kind": [
            {"column": column, "error_kind": kind, "dropped": dropped, "rows": rows}
            for (column, kind, dropped), rows in sorted(ledger.items())
        ],
        "errors_kept_by_column": by_column,
    }


def dataset_files(layout: DatasetLayout, metadata: DatasetMetadata | None) -> list[Path]:
    """The main output's files: those metadata.json lists, else the parquet directory's."""
    if metadata is not None and metadata.files:
        return [layout.base_dir / f for f in metadata.files]
    return parquet_files(layout.parquet_dir) if layout.parquet_dir.exists() else []


def analysis_key(layout: DatasetLayout, files: list[Path], metadata: DatasetMetadata | None) -> str:
    """What the analysis is computed from: the version, files' bytes, config and counts."""
    parts = [f"v{ANALYSIS_VERSION}"]
    parts += [f"{f.name}:{file_sha256(f)}" for f in files]
    if layout.config_path.exists():
        parts.append(file_sha256(layout.config_path))
    if metadata is not None:
        counts = (metadata.target_records, metadata.dropped_rows, metadata.errors)
        parts.append(json.dumps([counts, metadata.llm_usage_total], sort_keys=True))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def load_or_compute(base_dir: str | Path) -> dict[str, Any]:
    """The dataset's stored analysis when its key still matches, else computed from the
    files batch by batch and stored (a read-only directory just isn't written)."""
    layout = DatasetLayout(base_dir)
    metadata = layout.read_metadata()
    files = dataset_files(layout, metadata)
    key = analysis_key(layout, files, metadata)
    path = layout.base_dir / ANALYSIS_FILE
    with contextlib.suppress(OSError, ValueError):
        stored = json.loads(path.read_text())
        if isinstance(stored, dict) and stored.get("key") == key:
            return stored
    result = {
        "key": key,
        **profile(parquet_batches(files), read_config(layout), metadata, layout=layout),
    }
    with contextlib.suppress(OSError):
        atomic_write_text(path, json.dumps(result, indent=1, default=str) + "\n")
    return result


def stage_dataset(layout: WorkflowLayout, stage: StageMetadata) -> Path | None:
    """A workflow stage's effective dataset: its output-processor pass when it has one,
    else its main run (None before it has written one)."""
    stage_dir = layout.abs(stage.stage_dir)
    if stage_dir is None:
        return None
    for base in (stage_dir / OUTPUT_PROCESSORS_DIR, stage_dir):
        if (base / METADATA_FILE).exists():
            return base
    return None
