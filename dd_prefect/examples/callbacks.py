"""Example ``on_success`` callbacks (referenced from specs as ``pkg.module:function``)."""

from __future__ import annotations

from pathlib import Path

from dd_prefect.engine.parquet_io import parquet_files, read_parquet, to_table, write_parquet


def keep_helpful(stage_dir: Path) -> Path:
    """Keep the judged rows whose ``judgement.helpfulness.score`` is at least 2.

    Writes ``callback-outputs/keep_helpful/kept.parquet`` and returns it: that file becomes
    the stage's selected output.
    """
    frame = read_parquet(parquet_files(stage_dir / "parquet-files"))
    scores = frame["judgement"].map(lambda j: (j or {}).get("helpfulness", {}).get("score", 0))
    kept = frame[scores.astype(int) >= 2].reset_index(drop=True)
    out = stage_dir / "callback-outputs" / "keep_helpful" / "kept.parquet"
    write_parquet(to_table(kept), out)
    return out
