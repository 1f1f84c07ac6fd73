"""`DatasetGenerator`: turns a validated config into rows, one row group at a time.

Within a row group: seed rows, then samplers (vectorized), then the row-wise columns. Those
that need no LLM and read no LLM column are computed column by column up front; the rest
run per row, concurrently: independent columns of a row at once, and a dependent column as
soon as its inputs in that row are done. A full-column custom column waits for the rows.

The scheduling of those columns is in `scheduling`, the result and files in `output`.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from dd_prefect.config.builder import DataDesignerConfig
from dd_prefect.config.columns import SamplerColumnConfig
from dd_prefect.config.dag import topological_order
from dd_prefect.config.run_config import RunConfig
from dd_prefect.config.validation import validate_config
from dd_prefect.engine.failed_rows import name_seed_rows
from dd_prefect.engine.llm import ModelRegistry
from dd_prefect.engine.media import image_base_dirs
from dd_prefect.engine.output import (
    DROPPED_DIR,
    PARQUET_DIR,
    PROCESSORS_DIR,
    RowGroupOutput,
    RowGroupResult,
)
from dd_prefect.engine.samplers import sample_columns
from dd_prefect.engine.scheduling import ColumnScheduler, ErrorWindow
from dd_prefect.engine.seed_reader import SeedReader
from dd_prefect.engine.templating import template_rules
from dd_prefect.errors import GenerationError

__all__ = [
    "DROPPED_DIR",
    "PARQUET_DIR",
    "PROCESSORS_DIR",
    "DatasetGenerator",
    "RowGroupResult",
]


class DatasetGenerator:
    """Generates row groups of one config. Create once per run; row groups run concurrently.

    The config is validated in the constructor (against the seed's real columns) so bad
    input fails before any LLM call.
    """

    def __init__(
        self,
        config: DataDesignerConfig,
        run_config: RunConfig,
        models: ModelRegistry,
        *,
        fingerprint: str | None = None,
    ) -> None:
        self.config = config
        self.run_config = run_config
        self.models = models
        self.fingerprint = fingerprint or config.fingerprint()
        self.seed_reader: SeedReader | None = None
        seed_columns: list[str] = []
        if config.seed_config is not None:
            try:
                self.seed_reader = SeedReader(
                    config.seed_config, seed=run_config.seed, fingerprint=self.fingerprint
                )
                seed_columns = list(self.seed_reader.columns)
            except ValueError as exc:
                raise GenerationError(f"seed dataset: {exc}") from None
        validate_config(config, seed_columns=seed_columns)
        models.update_models(config.model_configs)
        models.tools.update(config.tool_configs)
        self.seed_columns = seed_columns
        self.order = topological_order(config.columns)
        self.samplers = [c for c in self.order if isinstance(c, SamplerColumnConfig)]
        self.scheduler = ColumnScheduler(
            self.order, models, run_config, image_base_dirs(config.seed_config)
        )
        self.output = RowGroupOutput(config, run_config, self.order, seed_columns)

    def start_run(self) -> None:
        """Forget the error window and row count of an earlier run with this generator."""
        self.scheduler.start_run()

    def unseeded_shuffle_seed(self, earlier: int | None) -> int | None:
        """The shuffle seed of a shuffled seed dataset when the run has no seed (to record,
        so a resume shuffles alike): `earlier`, a previous attempt's, if given. None when
        the seed is not shuffled or the run is seeded (its rows follow the run's seed)."""
        reader = self.seed_reader
        if reader is None or self.run_config.seed is not None:
            return None
        if reader.seed_config.sampling_strategy != "shuffle":
            return None
        if earlier is not None:
            reader.shuffle_seed = earlier
        return reader.shuffle_seed

    @property
    def window(self) -> ErrorWindow:
        """The run's error window (kept by the scheduler)."""
        return self.scheduler.window

    @property
    def rows_produced(self) -> int:
        """Rows this run has produced so far (counted on the scheduler)."""
        return self.scheduler.rows_produced

    @property
    def num_seed_rows(self) -> int | None:
        """Rows in the seed selection (None without a seed)."""
        return self.seed_reader.num_rows if self.seed_reader else None

    def row_groups(self, num_records: int) -> list[tuple[int, int, int]]:
        """(index, start, rows) of each row group for `num_records` records."""
        size = self.run_config.buffer_size
        return [
            (i, s, min(size, num_records - s)) for i, s in enumerate(range(0, num_records, size))
        ]

    async def generate(
        self,
        index: int,
        start: int,
        num_rows: int,
        output_dir: Path | None = None,
        *,
        only: Sequence[int] | None = None,
    ) -> RowGroupResult:
        """Generate row group `index` (global rows start..start+num_rows-1), or `only` those
        of its rows (global indices; then nothing is written: see engine.row_retry).

        With `output_dir`, its files are written there atomically. Raises
        EarlyShutdownError when the error window trips.
        """
        began = time.perf_counter()
        await self.models.tools.ready()
        frame = self._base_frame(start, num_rows)
        if self.samplers:
            frame = sample_columns(
                self.samplers,
                frame,
                start=start,
                seed=self.run_config.seed,
                fingerprint=self.fingerprint,
            )
        dtypes = frame.dtypes.to_dict()
        records: list[dict[str, Any]] = (
            frame.to_dict("records") if len(frame.columns) else [{} for _ in range(num_rows)]
        )
        positions = list(range(start, start + num_rows) if only is None else only)
        if only is not None:
            records = [records[p - start] for p in positions]
        failed: list[dict[str, str]] = [{} for _ in records]
        errors: Counter[str] = Counter()
        samples: list[str] = []

        with template_rules(self.run_config):  # this run's limits and null rule
            await self.scheduler.run(records, failed, positions, errors, samples)
            result = self.output.finish(
                index, start, num_rows, records, failed, errors, samples, dtypes, positions
            )
        if self.seed_reader is not None and result.failed_rows is not None:
            seed_rows = self.seed_reader.positions(start, num_rows)
            name_seed_rows(result.failed_rows, lambda p: int(seed_rows[p - start]))
        result.duration = time.perf_counter() - began
        if output_dir is not None and only is None:
            # Encoding parquet is CPU work: off the event loop, so LLM traffic keeps flowing.
            result.files = await asyncio.to_thread(self.write, result, Path(output_dir))
        self.scheduler.rows_produced += result.num_rows
        return result

    def write(self, result: RowGroupResult, output_dir: Path) -> dict[str, str]:
        """Write a row group's files; returns their paths relative to `output_dir`."""
        return self.output.write(result, output_dir)

    def _base_frame(self, start: int, num_rows: int) -> pd.DataFrame:
        if self.seed_reader is not None:
            return self.seed_reader.rows(start, num_rows).reset_index(drop=True)
        return pd.DataFrame(index=pd.RangeIndex(num_rows))
