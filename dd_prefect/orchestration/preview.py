"""Previews: a few rows generated in memory with the run's models. No flow run, nothing
written (Prefect is not involved)."""

from __future__ import annotations

import pandas as pd

from dd_prefect.config.builder import DataDesignerConfig
from dd_prefect.config.stage import Stage
from dd_prefect.engine.generator import DatasetGenerator
from dd_prefect.orchestration.runtime import Runtime
from dd_prefect.workflow.preview import StagePreview, preview_stage
from dd_prefect.workflow.results import PreviewResults
from dd_prefect.workflow.usage import model_prices, snapshot, spent_since


async def preview_dataset(
    runtime: Runtime, config: DataDesignerConfig, num_records: int
) -> PreviewResults:
    """`num_records` rows of `config`, row group by row group, in memory."""
    runtime.check_providers(config)
    async with runtime.models(config.model_configs) as registry:
        generator = DatasetGenerator(config, runtime.run_config, registry)
        before = snapshot(registry.usage)
        frames: list[pd.DataFrame] = []
        outputs: dict[str, list[pd.DataFrame]] = {}
        errors: dict[str, int] = {}
        dropped = 0
        for index, start, rows in generator.row_groups(num_records):
            result = await generator.generate(index, start, rows)
            frames.append(result.frame)
            for name, frame in result.processor_frames.items():
                outputs.setdefault(name, []).append(frame)
            for kind, count in result.errors.items():
                errors[kind] = errors.get(kind, 0) + count
            dropped += result.dropped_rows
        summary = {
            "records": sum(len(f) for f in frames),
            "dropped_rows": dropped,
            "errors": errors,
            "requested_records": num_records,
            "llm_usage": spent_since(
                before,
                registry.usage,
                registry.usage,
                model_prices(config.model_configs, registry.limiter_key),
            ),
        }
    return PreviewResults(_concat(frames), {k: _concat(v) for k, v in outputs.items()}, summary)


async def preview_workflow_stage(
    runtime: Runtime, stages: list[Stage], target: str, num_records: int
) -> StagePreview:
    """Stage `target` of a workflow previewed after the stages it depends on (see
    :func:`~dd_prefect.workflow.preview.preview_stage`)."""

    async def one(config: DataDesignerConfig, count: int) -> PreviewResults:
        return await preview_dataset(runtime, config, count)

    return await preview_stage(stages, target, num_records, one)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f.columns)]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
