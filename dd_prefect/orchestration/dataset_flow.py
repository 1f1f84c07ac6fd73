"""One dataset on Prefect: an async flow whose row groups are async task runs
(:mod:`~dd_prefect.orchestration.row_groups`), in this flow run or spread over shard flow
runs (:mod:`~dd_prefect.orchestration.shards`)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.logging import get_run_logger

from dd_prefect.config.builder import DataDesignerConfig
from dd_prefect.config.seeds import seed_files_digest
from dd_prefect.config.stage import check_name, count_problem, shards_problem
from dd_prefect.engine.generator import DatasetGenerator
from dd_prefect.errors import ConfigValidationError, GenerationError
from dd_prefect.orchestration.artifacts import Progress, publish_summary
from dd_prefect.orchestration.handoff import bind, current
from dd_prefect.orchestration.row_groups import RowGroupJob
from dd_prefect.orchestration.runtime import Runtime, flow_attempt, heartbeats
from dd_prefect.orchestration.shards import RemoteShard, remote_shard, run_shards
from dd_prefect.workflow.budget import BudgetScope, budget_error, check_prices
from dd_prefect.workflow.dataset_totals import fill_totals, merged_stats
from dd_prefect.workflow.failed_rows import check_retry_failed
from dd_prefect.workflow.keys import dataset_key
from dd_prefect.workflow.layout import DatasetLayout
from dd_prefect.workflow.lock import run_lock
from dd_prefect.workflow.metadata import DatasetMetadata, RowGroupRecord, ShardRecord
from dd_prefect.workflow.plan import effective_mode, plan_dataset
from dd_prefect.workflow.results import DatasetCreationResults
from dd_prefect.workflow.resume import ResumeMode
from dd_prefect.workflow.usage import UsageAccount, model_prices

ProgressCallback = Callable[[int, int, int], None]
"""``on_progress(row groups done, row groups in all, records so far)``."""


@dataclass
class DatasetRun:
    """One dataset run: what its flow and row-group tasks need beyond their parameters."""

    name: str
    base_dir: Path
    generator: DatasetGenerator
    num_records: int
    resume: ResumeMode = ResumeMode.NEVER
    on_progress: ProgressCallback | None = None
    seed_digest: str | None = None  # of the run's own seed files (not a stage handoff)
    lease_slots: bool = False  # lease global limit slots itself (a stage's are leased for it)
    allow_empty: bool = False  # no rows out is a result, not a failure (stages decide it)
    retry_failed: bool = False  # regenerate the failed rows of finished row groups
    budget: BudgetScope | None = None  # shared by a workflow's stages (None: its own)
    shards: int = 1  # row groups spread over this many shard flow runs

    def remote_shard(self, runtime: Runtime) -> RemoteShard | None:
        """What remote shards of this run get (None: shards, if any, run in this process);
        ConfigValidationError when the run cannot leave this process."""
        if not runtime.remote_shards(self.shards):
            return None
        return remote_shard(runtime, self.generator, f"dataset '{self.name}'")

    @property
    def key(self) -> str:
        return dataset_key(
            self.generator.fingerprint,
            self.num_records,
            self.generator.run_config,
            name=self.name,
            seed_digest=self.seed_digest,
        )

    def keeps_earlier_rows(self, mode: ResumeMode) -> bool:
        """Whether this run keeps what its directory holds (ResumeError if it must but
        can't)."""
        layout = DatasetLayout(self.base_dir)
        return plan_dataset(
            layout.read_metadata(),
            self.key,
            mode,
            where=layout.base_dir,
            exists=layout.metadata_path.exists(),
        )


async def run_dataset(run: DatasetRun, runtime: Runtime) -> DatasetCreationResults:
    """Generate (or resume) one dataset inside the current flow run."""
    logger = get_run_logger()
    layout = DatasetLayout(run.base_dir)
    check_prices(run.generator.run_config, run.generator.config)
    run.generator.start_run()  # a retry must not inherit the failed attempt's error window
    keep = run.keeps_earlier_rows(effective_mode(run.resume, flow_attempt()))
    if not keep:
        layout.clean()
    previous = layout.read_metadata() if keep else None
    shuffle_seed = run.generator.unseeded_shuffle_seed(previous.shuffle_seed if previous else None)
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
        shuffle_seed=shuffle_seed,
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

    models, config = run.generator.models, run.generator.config
    run_config = run.generator.run_config
    account = UsageAccount(  # this attempt's spend, and the total across attempts
        models.usage,
        [models.limiter_key(a) for a in config.model_aliases()],
        model_prices(config.model_configs, models.limiter_key),
        previous,
    )
    budget = run.budget or BudgetScope(run_config)
    budget.accounts.append(account)
    free = {r.index for r in previous.row_groups} if previous and not run.retry_failed else set()
    records: dict[int, RowGroupRecord] = {}
    progress = Progress(run.name, len(groups))
    await progress.start()
    began = time.perf_counter()
    job = RowGroupJob(
        name=run.name,
        base_dir=run.base_dir,
        generator=run.generator,
        key=run.key,
        account=account,
        budget=budget,
        keep=keep,
        retry_failed=run.retry_failed,
        free=free,
    )

    def write(metadata: DatasetMetadata) -> None:
        """Write `metadata` with the row groups finished so far (every write of this run:
        totals are filled here, not per row group, which walked them all each time)."""
        fill_totals(metadata, records, groups)
        layout.write_metadata(metadata)

    async def recorded() -> None:
        await progress.update(len(records))
        if run.on_progress:
            rows = sum(r.rows for r in records.values())
            run.on_progress(len(records), len(groups), rows)

    async def on_record(record: RowGroupRecord) -> None:
        records[record.index] = record  # before the ledger: a write includes it
        layout.append_row_group(record)  # metadata.json follows within a second
        await recorded()

    async def on_reports(done: list[RowGroupRecord], shards: list[ShardRecord]) -> None:
        records.update({r.index: r for r in done})
        metadata.shards = shards
        account.update(metadata)
        write(metadata)
        await recorded()

    remote = run.remote_shard(runtime)
    try:
        aliases = config.model_aliases() if run.lease_slots and remote is None else []
        async with (
            runtime.throttle(models, aliases),
            account.flushing(metadata, write),
        ):
            if run.shards > 1:
                deployment = runtime.shard_deployment
                await run_shards(job, groups, run.shards, remote, deployment, on_reports)
            elif reached := await job.run(groups, on_record):
                account.update(metadata)
                raise budget_error(run.name, reached, budget.spend())
    except BaseException as exc:
        metadata.status = "failed"
        metadata.error = f"{type(exc).__name__}: {exc}"
        metadata.duration = time.perf_counter() - began
        account.update(metadata)
        write(metadata)
        raise

    await progress.finish()
    fill_totals(metadata, records, groups)
    if metadata.actual_records == 0 and run.num_records > 0 and not run.allow_empty:
        kinds = ", ".join(f"{k}: {n}" for k, n in Counter(metadata.errors).most_common(3))
        metadata.status = "failed"
        metadata.error = "produced no records"
        metadata.duration = time.perf_counter() - began
        layout.write_metadata(metadata)
        raise GenerationError(
            f"dataset '{run.name}' produced no records: all {metadata.dropped_rows} rows were "
            f"dropped (errors: {kinds or 'none'}); fix the cause and resume, or set "
            "allow_empty=True to accept an empty dataset"
        )
    metadata.status = "completed"
    metadata.duration = time.perf_counter() - began
    account.update(metadata)
    metadata.column_stats = merged_stats(records.values(), metadata.actual_records)
    layout.write_metadata(metadata)
    await publish_summary(metadata, layout.base_dir)  # and the analysis + report (issue 16)
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
    dataset_name: str, num_records: int, resume: str, config_fingerprint: str
) -> dict[str, Any]:
    """A Prefect flow run for ``DataDesigner.create``; returns the dataset's summary.

    Parameters are what the UI shows (no config body, no secrets); the run itself is
    bound in process (:mod:`~dd_prefect.orchestration.handoff`).
    """
    results = await run_dataset(current(DatasetRun), current(Runtime))
    return {
        "dataset_name": dataset_name,
        "path": str(results.base_dataset_path),
        "records": results.metadata.actual_records,
        "config_fingerprint": config_fingerprint,
    }


async def run_create_flow(run: DatasetRun, runtime: Runtime) -> DatasetCreationResults:
    """Run :func:`create_dataset_flow` for `run` (in the caller's event loop).

    The run holds its directory (:func:`~dd_prefect.workflow.lock.run_lock`). A resume
    that can't happen (ResumeMode.ALWAYS with nothing compatible) raises here, before a
    flow run starts: it is bad input, not a failed run.
    """
    with run_lock(run.base_dir, wait=runtime.wait_for_lock), heartbeats():
        run.keeps_earlier_rows(run.resume)
        with bind(run, runtime):
            flow = create_dataset_flow.with_options(
                retries=runtime.flow_retries, retry_delay_seconds=1
            )
            await flow(
                dataset_name=run.name,
                num_records=run.num_records,
                resume=run.resume.value,
                config_fingerprint=run.generator.fingerprint,
            )
    return DatasetCreationResults(run.base_dir)


async def create_dataset(
    runtime: Runtime,
    config: DataDesignerConfig,
    num_records: int | None,
    name: str,
    resume: ResumeMode,
    *,
    on_progress: ProgressCallback | None = None,
    allow_empty: bool = False,
    retry_failed: bool = False,
    shards: int = 1,
) -> DatasetCreationResults:
    """Generate dataset `name` from `config` under the runtime's artifact path, its row
    groups spread over `shards` shard flow runs (on the runtime's shard deployment's
    workers when it has one).

    `num_records` defaults to the seed's row count. Bad input raises ConfigValidationError
    (or ResumeError) before any LLM call and before anything is written. A dataset whose
    every row was dropped fails (GenerationError with the top error kinds) unless
    `allow_empty`. `retry_failed` (with a resume) regenerates the failed rows of the
    finished row groups in place.
    """
    check_name(name, "dataset")
    check_retry_failed(retry_failed, resume)
    runtime.check_providers(config)
    async with runtime.models(config.model_configs) as registry:
        generator = DatasetGenerator(config, runtime.run_config, registry)
        if num_records is None:
            num_records = generator.num_seed_rows
            if num_records is None:
                raise ConfigValidationError.of(
                    "num_records is required when the config has no seed dataset"
                )
        if problem := count_problem(num_records):
            raise ConfigValidationError.of(problem, field="num_records")
        if problem := shards_problem(shards):
            raise ConfigValidationError.of(problem, field="shards")
        run = DatasetRun(
            name=name,
            base_dir=runtime.artifact_path / name,
            generator=generator,
            num_records=num_records,
            resume=resume,
            on_progress=on_progress,
            seed_digest=seed_files_digest(config.seed_config),
            lease_slots=True,
            allow_empty=allow_empty,
            retry_failed=retry_failed,
            shards=shards,
        )
        run.remote_shard(runtime)  # a run that cannot go to remote shards fails here
        return await run_create_flow(run, runtime)
