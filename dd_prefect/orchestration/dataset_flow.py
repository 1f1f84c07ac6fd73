"""One dataset on Prefect: an async flow whose row groups are async task runs.

Row-group tasks are called directly and gathered (``.map`` of async tasks is much slower),
at most ``max_concurrent_row_groups`` at once. Their results are persisted under the key
``dd-prefect/<dataset key>/rg-<i>``, so a rerun with resume, or a Prefect retry of a failed
flow run, gets finished row groups back without calling an LLM. A cached result is trusted
only if the parquet file it names still exists with its recorded row count.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.logging import get_run_logger

from dd_prefect.engine.generator import DatasetGenerator
from dd_prefect.engine.llm import LLMUsage
from dd_prefect.orchestration.artifacts import Progress, publish_summary
from dd_prefect.orchestration.runtime import effective_resume
from dd_prefect.orchestration.throttle import global_throttle, no_throttle
from dd_prefect.workflow.dataset import (
    DatasetCreationResults,
    DatasetLayout,
    DatasetMetadata,
    RowGroupRecord,
    column_stats,
    dataset_key,
    plan_resume,
)
from dd_prefect.workflow.resume import ResumeMode

ProgressCallback = Callable[[int, int, int], None]  # (row groups done, total, records)


@dataclass
class DatasetRun:
    """Everything one dataset run needs that is not a flow parameter (kept in process)."""

    name: str
    base_dir: Path
    generator: DatasetGenerator
    num_records: int
    resume: ResumeMode = ResumeMode.NEVER
    use_global_throttle: bool = False
    on_progress: ProgressCallback | None = None
    seed_digest: str | None = None  # of the run's own seed files (not a stage handoff)
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def key(self) -> str:
        return dataset_key(
            self.generator.fingerprint,
            self.num_records,
            self.generator.run_config,
            name=self.name,
            seed_digest=self.seed_digest,
        )


_RUNS: dict[str, DatasetRun] = {}


def _row_group_cache_key(context: Any, parameters: dict[str, Any]) -> str:
    return f"dd-prefect/{parameters['key']}/rg-{parameters['index']}"


@task(
    name="row-group",
    task_run_name="row-group-{index}",
    cache_key_fn=_row_group_cache_key,
    persist_result=True,
    result_serializer="json",
)
async def row_group_task(token: str, key: str, index: int, start: int, rows: int) -> dict:
    """Generate and write one row group; returns its record (what metadata keeps)."""
    run = _RUNS[token]
    result = await run.generator.generate(index, start, rows, run.base_dir)
    return RowGroupRecord(
        index=index,
        start=start,
        requested=rows,
        rows=result.num_rows,
        dropped_rows=result.dropped_rows,
        errors=result.errors,
        nulls=column_stats(result.frame),
        files=result.files,
        duration=result.duration,
        error_samples=result.error_samples[:3],
    ).model_dump(mode="json")


async def run_dataset(run: DatasetRun) -> DatasetCreationResults:
    """Generate (or resume) one dataset inside the current flow run."""
    logger = get_run_logger()
    layout = DatasetLayout(run.base_dir)
    mode = effective_resume(run.resume)
    run.generator.start_run()  # a retry must not inherit the failed attempt's error window
    keep = plan_resume(layout, run.key, mode)
    if not keep:
        layout.clean()
    previous = layout.read_metadata() if keep else None
    reader = run.generator.seed_reader
    unseeded_shuffle = (
        reader is not None
        and run.generator.run_config.seed is None
        and reader.seed_config.sampling_strategy == "shuffle"
    )
    if unseeded_shuffle and previous is not None and previous.shuffle_seed is not None:
        reader.shuffle_seed = previous.shuffle_seed
    groups = run.generator.row_groups(run.num_records)
    metadata = DatasetMetadata(
        **((previous.model_extra or {}) if previous else {}),
        dataset_name=run.name,
        dataset_key=run.key,
        config_fingerprint=run.generator.fingerprint,
        target_records=run.num_records,
        buffer_size=run.generator.run_config.buffer_size,
        num_batches=len(groups),
        seed=run.generator.run_config.seed,
        shuffle_seed=reader.shuffle_seed if unseeded_shuffle else None,
    )
    layout.base_dir.mkdir(parents=True, exist_ok=True)
    layout.write_config(run.generator.config)
    layout.write_metadata(metadata)
    logger.info(
        "dataset '%s': %d records in %d row group(s)%s",
        run.name,
        run.num_records,
        len(groups),
        " (resuming)" if keep else "",
    )

    models = run.generator.models
    usage_before = {k: u.as_dict() for k, u in models.usage.items()}
    records: dict[int, RowGroupRecord] = {}
    progress = Progress(run.name, len(groups))
    await progress.start()
    began = time.perf_counter()
    semaphore = asyncio.Semaphore(run.generator.run_config.max_concurrent_row_groups)
    lock = asyncio.Lock()
    _RUNS[run.token] = run

    async def one(index: int, start: int, rows: int) -> None:
        async with semaphore:
            args = {
                "token": run.token,
                "key": run.key,
                "index": index,
                "start": start,
                "rows": rows,
            }
            record = await row_group_task.with_options(refresh_cache=not keep)(**args)
            if not layout.row_group_valid(record):
                logger.info("row group %d: cached result names a missing file; regenerating", index)
                record = await row_group_task.with_options(refresh_cache=True)(**args)
        async with lock:
            records[index] = RowGroupRecord.model_validate(record)
            _fill(metadata, records, groups)
            layout.write_metadata(metadata)
            await progress.update(len(records))
            if run.on_progress:
                run.on_progress(len(records), len(groups), metadata.actual_records)

    try:
        aliases = sorted({c.model_alias for c in run.generator.config.columns if c.is_llm})
        throttle = global_throttle(models, aliases) if run.use_global_throttle else no_throttle()
        async with throttle:
            tasks = [asyncio.ensure_future(one(*g)) for g in groups]
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
    except BaseException as exc:
        metadata.status = "failed"
        metadata.error = f"{type(exc).__name__}: {exc}"
        metadata.duration = time.perf_counter() - began
        layout.write_metadata(metadata)
        raise
    finally:
        _RUNS.pop(run.token, None)

    await progress.finish()
    metadata.status = "completed"
    metadata.duration = time.perf_counter() - began
    metadata.llm_usage = _usage_delta(usage_before, models.usage)
    metadata.column_stats = _merged_stats(records.values(), metadata.actual_records)
    layout.write_metadata(metadata)
    await publish_summary(metadata)
    logger.info(
        "dataset '%s': %d records written to %s in %.1fs (%d dropped)",
        run.name,
        metadata.actual_records,
        layout.base_dir,
        metadata.duration,
        metadata.dropped_rows,
    )
    return DatasetCreationResults(layout.base_dir, metadata)


@flow(name="dd-prefect-create", flow_run_name="{dataset_name}", persist_result=False)
async def create_dataset_flow(
    dataset_name: str, num_records: int, resume: str, config_fingerprint: str, run_token: str
) -> dict[str, Any]:
    """A Prefect flow run for ``DataDesigner.create``; returns the dataset's summary.

    Parameters are what the UI shows (no config body, no secrets); the run itself is
    handed over in-process under `run_token`.
    """
    run = _PENDING[run_token]  # not popped: a Prefect retry of this flow run needs it again
    results = await run_dataset(run)
    return {
        "dataset_name": dataset_name,
        "path": str(results.base_dataset_path),
        "records": results.metadata.actual_records,
        "config_fingerprint": config_fingerprint,
    }


_PENDING: dict[str, DatasetRun] = {}


async def run_create_flow(run: DatasetRun, *, retries: int = 0) -> DatasetCreationResults:
    """Run :func:`create_dataset_flow` for `run` (in the caller's event loop).

    A resume that can't happen (ResumeMode.ALWAYS with nothing compatible) raises here,
    before a flow run starts: it is bad input, not a failed run.
    """
    plan_resume(DatasetLayout(run.base_dir), run.key, run.resume)
    _PENDING[run.token] = run
    try:
        await create_dataset_flow.with_options(retries=retries, retry_delay_seconds=1)(
            dataset_name=run.name,
            num_records=run.num_records,
            resume=run.resume.value,
            config_fingerprint=run.generator.fingerprint,
            run_token=run.token,
        )
    finally:
        _PENDING.pop(run.token, None)
    return DatasetCreationResults(run.base_dir)


def _fill(metadata: DatasetMetadata, records: dict[int, RowGroupRecord], groups) -> None:
    done = [records[i] for i, _, _ in groups if i in records]
    metadata.row_groups = done
    metadata.files = [r.files["main"] for r in done if "main" in r.files]
    metadata.actual_records = sum(r.rows for r in done)
    metadata.dropped_rows = sum(r.dropped_rows for r in done)
    errors: Counter[str] = Counter()
    for r in done:
        errors.update(r.errors)
    metadata.errors = dict(errors)


def _merged_stats(records, total: int) -> dict[str, dict[str, int]]:
    nulls: Counter[str] = Counter()
    columns: list[str] = []
    for record in records:
        for column, count in record.nulls.items():
            if column not in columns:
                columns.append(column)
            nulls[column] += count
    return {c: {"nulls": nulls[c], "non_null": total - nulls[c]} for c in columns}


def _usage_delta(before: dict[str, dict], after: dict[str, LLMUsage]) -> dict[str, dict]:
    delta = {}
    for key, usage in after.items():
        now = usage.as_dict()
        prev = before.get(key, {})
        delta[key] = {
            k: now[k] - prev.get(k, 0)
            for k in ("requests", "prompt_tokens", "completion_tokens", "retries")
        }
    return delta
