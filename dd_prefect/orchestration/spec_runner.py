"""Running a spec (a workflow spec or a dataset spec) as the CLI and deployments do."""

from __future__ import annotations

from pathlib import Path

from dd_prefect.config.workflow_spec import DatasetSpec, WorkflowSpec
from dd_prefect.orchestration.dataset_flow import ProgressCallback, create_dataset
from dd_prefect.orchestration.runtime import Runtime
from dd_prefect.orchestration.stage_executor import WorkflowProgress, WorkflowRun
from dd_prefect.orchestration.workflow_flow import run_workflow
from dd_prefect.workflow.layout import WorkflowLayout
from dd_prefect.workflow.results import CompositeWorkflowResults, DatasetCreationResults
from dd_prefect.workflow.resume import ResumeMode


def spec_runtime(spec: WorkflowSpec | DatasetSpec, artifact_path: str | Path) -> Runtime:
    """The runtime a spec describes: its providers and run config."""
    return Runtime(
        artifact_path=Path(artifact_path),
        providers=list(spec.model_providers),
        run_config=spec.run_config,
    )


async def run_spec(
    spec: WorkflowSpec | DatasetSpec,
    runtime: Runtime,
    resume: ResumeMode,
    *,
    name: str | None = None,
    on_progress: WorkflowProgress | None = None,
) -> CompositeWorkflowResults | DatasetCreationResults:
    """Run `spec` under `name` (default: the spec's) into the runtime's artifact path."""
    name = name or spec.name
    if isinstance(spec, WorkflowSpec):
        run = WorkflowRun(
            name=name,
            stages=spec.resolved_stages(),
            layout=WorkflowLayout(runtime.artifact_path / name),
            resume=resume,
            on_progress=on_progress,
        )
        return await run_workflow(run, runtime)
    progress: ProgressCallback | None = None
    if on_progress is not None:
        report = on_progress
        progress = lambda done, total, records: report(done, total, records, "generating")  # noqa: E731
    return await create_dataset(
        runtime, spec.config, spec.num_records, name, resume, on_progress=progress
    )
