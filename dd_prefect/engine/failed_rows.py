"""Failed rows: what failed in a row (column, kind, message, attempts), their table per row
group (``failed-rows/batch_<i>.parquet``), read back by results.load_failed_rows().

A cell's failure is kept as a :class:`CellFailure`, the message the ``<column>__error``
column shows that also knows its kind and attempts; a cell held because an input of it
failed gets a plain message (its row's failing column is the input's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa

from dd_prefect.config.run_config import RunConfig
from dd_prefect.engine.parquet_io import batch_file_name, read_parquet

FAILED_ROWS_DIR = "failed-rows"
FAILED_ROW_COLUMNS = {
    "row_index": pa.int64(),
    "row_group": pa.int64(),
    "seed_row_index": pa.int64(),
    "column": pa.string(),
    "error_kind": pa.string(),
    "message": pa.string(),
    "attempts": pa.int64(),
    "dropped": pa.bool_(),
}
_TRANSIENT = ("rate_limit", "timeout", "connection")
_RE_ASKED = ("invalid_structured_output",)


class CellFailure(str):
    """A failed cell's message, with its error `kind` and how many `attempts` it made."""

    kind: str
    attempts: int

    def __new__(cls, message: str, kind: str, attempts: int) -> CellFailure:
        self = super().__new__(cls, message)
        self.kind, self.attempts = kind, attempts
        return self


def attempts_for(kind: str, run_config: RunConfig) -> int:
    """Requests a cell made before failing with `kind`: every retry of a transient LLM
    failure, every re-ask of a structured answer, else one."""
    if kind in _TRANSIENT or kind.startswith("http_5"):
        return run_config.max_llm_retries + 1
    if kind in _RE_ASKED:
        return run_config.max_conversation_restarts + 1
    return 1


def failed_rows_frame(
    index: int,
    positions: Sequence[int],
    failed: Sequence[dict[str, str]],
    dropped: bool,
) -> pd.DataFrame:
    """One row per failed row of row group `index` (`positions`: the rows' global
    indices), naming the column whose cell failed first; seed rows are named after
    (:func:`name_seed_rows`)."""
    rows = []
    for i, failures in enumerate(failed):
        if not failures:
            continue
        causes = [f for f in failures.values() if isinstance(f, CellFailure)]
        column = next(c for c, f in failures.items() if not causes or f is causes[0])
        cause = causes[0] if causes else None
        rows.append(
            {
                "row_index": positions[i],
                "row_group": index,
                "seed_row_index": None,
                "column": column,
                "error_kind": cause.kind if cause is not None else "unknown",
                "message": str(failures[column]),
                "attempts": cause.attempts if cause is not None else 1,
                "dropped": dropped,
            }
        )
    frame = pd.DataFrame(rows, columns=list(FAILED_ROW_COLUMNS))
    return frame.astype({"seed_row_index": "Int64"})


def name_seed_rows(frame: pd.DataFrame, seed_row_of: Callable[[int], int]) -> None:
    """Fill `frame`'s ``seed_row_index`` from each row's global index."""
    if len(frame):
        frame["seed_row_index"] = pd.array(
            [seed_row_of(int(p)) for p in frame["row_index"]], dtype="Int64"
        )


def failed_rows_path(output_dir: Path, index: int) -> Path:
    """Where row group `index`'s failed rows are written."""
    return Path(output_dir) / FAILED_ROWS_DIR / batch_file_name(index)


def read_failed_rows(paths: Sequence[Path]) -> pd.DataFrame:
    """The failed rows in `paths`, in order (an empty table with the columns if none)."""
    if not paths:
        return failed_rows_frame(0, [], [], True)
    return read_parquet(paths).astype({"seed_row_index": "Int64"})
