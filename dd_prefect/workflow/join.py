"""Joining several upstream outputs into one stage input (:class:`~dd_prefect.config.join.
JoinSpec`): on DataFrames for a preview, on parquet files for a run. No Prefect.

A run writes the joined input under ``<workflow>/joins/<stage dir>/`` (atomically, one
file), and the stage is seeded from it as a linear stage is seeded from its upstream.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from dd_prefect.config.callables import load_callable
from dd_prefect.config.join import JoinSpec
from dd_prefect.engine.parquet_io import parquet_files, read_parquet, to_table, write_parquet
from dd_prefect.errors import WorkflowError
from dd_prefect.workflow.layout import require_parquet

JOINS_DIR = "joins"
JOINED_FILE = "joined.parquet"


def join_frames(stage: str, spec: JoinSpec, inputs: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The ``concat`` or ``columns`` join of `inputs` (upstream name -> its rows, in
    ``depends_on`` order). WorkflowError names the stages when they cannot be joined."""
    if spec.mode == "concat":
        frames = []
        for name, frame in inputs.items():
            frame = frame.reset_index(drop=True)
            if spec.source_column is not None:
                frame = frame.assign(**{spec.source_column: name})
            frames.append(frame)
        non_empty = [f for f in frames if len(f)] or frames[:1]
        return pd.concat(non_empty, ignore_index=True, sort=False)
    counts = {name: len(frame) for name, frame in inputs.items()}
    if len(set(counts.values())) > 1:
        shown = ", ".join(f"'{n}' {c}" for n, c in counts.items())
        raise WorkflowError(
            f"stage '{stage}': a columns join needs upstreams with equal row counts; got {shown}"
        )
    merged = pd.DataFrame(index=range(next(iter(counts.values()), 0)))
    owner: dict[str, str] = {}
    for name, frame in inputs.items():
        frame = frame.reset_index(drop=True)
        for column in frame.columns:
            if column not in owner:
                owner[column] = name
                merged[column] = frame[column]
            elif not _same_values(merged[column], frame[column]):
                raise WorkflowError(
                    f"stage '{stage}': column '{column}' differs between upstream stages "
                    f"'{owner[column]}' and '{name}' (a columns join keeps a shared column "
                    "only when its values are identical)"
                )
    return merged


def materialize_join(stage: str, spec: JoinSpec, inputs: Mapping[str, Path], out_dir: Path) -> Path:
    """Write the join of `inputs` (upstream name -> its output path) into `out_dir` and
    return the path the stage is seeded from. A callable join gets the input paths and a
    fresh directory of its own and returns a parquet file or directory."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    if spec.is_callable:
        returned = load_callable(spec.mode)(dict(inputs), out_dir)
        if returned is None:
            raise WorkflowError(f"stage '{stage}': join {spec.mode} returned no path")
        path = Path(returned).resolve()
        require_parquet(path, f"stage '{stage}': join {spec.mode} returned a path")
        return path
    frames = {name: read_parquet(parquet_files(path)) for name, path in inputs.items()}
    joined = join_frames(stage, spec, frames)
    return write_parquet(to_table(joined), out_dir / JOINED_FILE)


def join_preview(stage: str, spec: JoinSpec, inputs: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The join of previewed upstream rows; a callable join runs on temporary files."""
    if not spec.is_callable:
        return join_frames(stage, spec, inputs)
    with tempfile.TemporaryDirectory(prefix="dd-prefect-join-preview-") as tmp:
        paths = {
            name: write_parquet(to_table(frame), Path(tmp) / "inputs" / f"{i}.parquet")
            for i, (name, frame) in enumerate(inputs.items())
        }
        out = materialize_join(stage, spec, paths, Path(tmp) / "out")
        return read_parquet(parquet_files(out))


def _same_values(a: pd.Series, b: pd.Series) -> bool:
    return bool(a.reset_index(drop=True).equals(b.reset_index(drop=True))) or list(a) == list(b)


__all__ = ["JOINS_DIR", "join_frames", "join_preview", "materialize_join"]
