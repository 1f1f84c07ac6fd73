"""A stage's input: the seed it generates from, its row count, its fingerprint.

A stage is seeded by its input (its one upstream's selected output, or its joined input)
with its sampling and selection strategies; a root stage by its own seed config. No
Prefect.
"""

from __future__ import annotations

from pathlib import Path

from dd_prefect.config.run_config import RunConfig
from dd_prefect.config.seeds import IndexRange, LocalFileSeedSource, PartitionBlock, SeedConfig
from dd_prefect.config.stage import Stage
from dd_prefect.engine.parquet_io import count_rows, parquet_files
from dd_prefect.engine.seed_reader import SeedReader, partition_bounds
from dd_prefect.workflow.keys import stage_fingerprint, upstream_identity
from dd_prefect.workflow.layout import seed_pattern


def resolve_stage(
    stage: Stage,
    inputs: tuple[Path, ...],
    handoffs: list[str],
    run_config: RunConfig,
    *,
    joined: Path | None = None,
) -> tuple[str, int | None]:
    """A stage's fingerprint and resolved num_records, given its inputs (the outputs of
    its non-empty upstreams) and what they hand on
    (:func:`~dd_prefect.workflow.keys.handoff_fingerprint`). num_records defaults to the
    input's selected row count: for a joining stage that is the `joined` input's (None
    until the join is written; its fingerprint covers the join, not the count)."""
    upstream = upstream_identity(stage, handoffs)
    if stage.join is not None:
        count = stage.num_records
        if count is None and joined is not None:
            count = _input_rows(stage, (joined,))
        return stage_fingerprint(stage, stage.num_records, upstream, run_config, root=False), count
    count = stage.num_records
    if count is None:
        count = _input_rows(stage, inputs)
    return stage_fingerprint(stage, count, upstream, run_config, root=not handoffs), count


def input_seed(stage: Stage, inputs: tuple[Path, ...]) -> SeedConfig | None:
    """The seed a stage generates from: its input (its upstream's output, or its joined
    input) with its strategies, or for a root stage its own seed config."""
    if not inputs:
        return stage.config.seed_config
    return SeedConfig(
        source=LocalFileSeedSource(path=str(seed_pattern(inputs[0]))),
        sampling_strategy=stage.sampling_strategy,
        selection_strategy=stage.selection_strategy,
    )


def _input_rows(stage: Stage, inputs: tuple[Path, ...]) -> int:
    """Rows a stage's input offers after its selection (read from parquet footers for an
    upstream's output; a root stage's own seed is read)."""
    if not inputs:
        seed = stage.config.seed_config
        if seed is None:
            return 0
        return SeedReader(seed, seed=None, fingerprint="count").num_rows
    total = count_rows(parquet_files(inputs[0]))
    selection = stage.selection_strategy
    if isinstance(selection, IndexRange):
        return max(0, min(selection.end + 1, total) - selection.start)
    if isinstance(selection, PartitionBlock):
        lo, hi = partition_bounds(total, selection.index, selection.num_partitions)
        return hi - lo
    return total
