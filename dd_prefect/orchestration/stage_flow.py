"""One workflow stage as a Prefect subflow: its main pass (row-group tasks), its output
processors as a second pass, and its ``on_success`` callback as a task."""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from dd_prefect.config.builder import DataDesignerConfig
from dd_prefect.config.fingerprint import digest
from dd_prefect.config.seeds import LocalFileSeedSource, SeedConfig
from dd_prefect.config.stage import Stage
from dd_prefect.engine.generator import PARQUET_DIR, DatasetGenerator
from dd_prefect.engine.parquet_io import count_rows, parquet_files
from dd_prefect.orchestration.dataset_flow import DatasetRun, ProgressCallback, run_dataset
from dd_prefect.orchestration.handoff import current
from dd_prefect.orchestration.runtime import Runtime
from dd_prefect.workflow.budget import BudgetScope
from dd_prefect.workflow.layout import (
    CALLBACK_DIR,
    OUTPUT_PROCESSORS_DIR,
    require_parquet,
    selected_output,
)
from dd_prefect.workflow.resume import ResumeMode


@dataclass
class StageRun:
    """One stage that runs: what its subflow and on_success task need."""

    stage: Stage
    stage_dir: Path
    generator: DatasetGenerator
    num_records: int
    dataset_mode: ResumeMode
    on_progress: ProgressCallback | None
    retry_failed: bool = False
    budget: BudgetScope | None = None  # the workflow run's (shared by its stages)


class StageOutcome(BaseModel):
    """What a stage subflow produced."""

    output_path: str
    callback_output_path: str | None
    records: int


@flow(name="dd-prefect-stage", flow_run_name="{stage_name}", persist_result=False)
async def stage_flow(
    workflow_name: str, stage_name: str, stage_index: int, fingerprint: str
) -> StageOutcome:
    """One stage as a subflow: main pass, output-processor pass, on_success callback."""
    run, runtime = current(StageRun), current(Runtime)
    stage = run.stage
    main = await run_dataset(
        DatasetRun(
            name=stage.name,
            base_dir=run.stage_dir,
            generator=run.generator,
            num_records=run.num_records,
            resume=run.dataset_mode,
            on_progress=run.on_progress,
            allow_empty=True,  # the stage decides what an empty output means
            retry_failed=run.retry_failed,
            budget=run.budget,
            shards=stage.shards,
        ),
        runtime,
    )
    main_rows = main.metadata.actual_records
    if stage.output_processors and main_rows > 0:
        config = DataDesignerConfig(
            seed_config=SeedConfig(
                source=LocalFileSeedSource(path=str(run.stage_dir / PARQUET_DIR / "*.parquet"))
            ),
            processors=stage.output_processors,
        )
        generator = DatasetGenerator(
            config,
            run.generator.run_config,
            run.generator.models,
            fingerprint=digest([fingerprint, "output-processors"]),
        )
        await run_dataset(
            DatasetRun(
                name=f"{stage.name}-output-processors",
                base_dir=run.stage_dir / OUTPUT_PROCESSORS_DIR,
                generator=generator,
                num_records=main_rows,
                resume=run.dataset_mode,
                allow_empty=True,
            ),
            runtime,
        )
    output = selected_output(stage, run.stage_dir)
    callback_output = None
    if stage.on_success is not None:
        name = stage.callback_name or "on_success"
        (run.stage_dir / CALLBACK_DIR / name).mkdir(parents=True, exist_ok=True)
        returned = await on_success_task(callback_name=name, stage_dir=str(run.stage_dir))
        if returned is not None:
            callback_output = Path(returned).resolve()
            require_parquet(callback_output, f"stage '{stage.name}': on_success returned a path")
            output = callback_output
    return StageOutcome(
        output_path=str(output),
        callback_output_path=str(callback_output) if callback_output else None,
        records=count_rows(parquet_files(output)) if output.exists() else 0,
    )


@task(name="on-success", task_run_name="{callback_name}", cache_policy=NO_CACHE)
async def on_success_task(callback_name: str, stage_dir: str) -> str | None:
    """Run the bound stage's on_success callback (a sync one off the event loop)."""
    callback = current(StageRun).stage.callback()
    assert callback is not None
    if inspect.iscoroutinefunction(callback):
        result = await callback(Path(stage_dir))
    else:
        result = await asyncio.to_thread(callback, Path(stage_dir))
    return None if result is None else str(result)
