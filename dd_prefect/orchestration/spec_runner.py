"""Running a spec (a workflow spec or a dataset spec) as the CLI and deployments do."""

from __future__ import annotations

from pathlib import Path

from dd_prefect.config.default_model_settings import data_designer_home
from dd_prefect.config.mcp import (
    MCP_PROVIDERS_FILE_NAME,
    LocalStdioMCPProvider,
    MCPProvider,
    load_mcp_providers,
)
from dd_prefect.config.workflow_spec import DatasetSpec, WorkflowSpec
from dd_prefect.orchestration.dataset_flow import ProgressCallback, create_dataset
from dd_prefect.orchestration.runtime import Runtime
from dd_prefect.orchestration.settings import Settings
from dd_prefect.orchestration.stage_executor import WorkflowProgress, WorkflowRun
from dd_prefect.orchestration.workflow_flow import run_workflow
from dd_prefect.workflow.layout import WorkflowLayout
from dd_prefect.workflow.results import CompositeWorkflowResults, DatasetCreationResults
from dd_prefect.workflow.resume import ResumeMode


def spec_runtime(spec: WorkflowSpec | DatasetSpec, artifact_path: str | Path) -> Runtime:
    """The runtime a spec describes: its providers, run config and shard deployment (else
    ``DD_PREFECT_SHARD_DEPLOYMENT``), with this worker's settings and MCP providers
    (:func:`worker_mcp_providers`)."""
    settings = Settings()
    return Runtime(
        artifact_path=Path(artifact_path),
        providers=list(spec.model_providers),
        run_config=spec.run_config,
        settings=settings,
        mcp_providers=worker_mcp_providers(settings),
        shard_deployment=spec.shard_deployment,
    )


def worker_mcp_providers(settings: Settings) -> list[MCPProvider | LocalStdioMCPProvider]:
    """The MCP providers of `settings.mcp_providers_file`, else of the Data Designer home's
    ``mcp_providers.yaml`` when it exists, else none."""
    path = settings.mcp_providers_file
    if path is None:
        path = data_designer_home() / MCP_PROVIDERS_FILE_NAME
        if not path.is_file():
            return []
    return load_mcp_providers(path)


async def run_spec(
    spec: WorkflowSpec | DatasetSpec,
    runtime: Runtime,
    resume: ResumeMode,
    *,
    name: str | None = None,
    on_progress: WorkflowProgress | None = None,
    retry_failed: bool = False,
) -> CompositeWorkflowResults | DatasetCreationResults:
    """Run `spec` under `name` (default: the spec's) into the runtime's artifact path;
    `retry_failed` regenerates the failed rows of a resumed dataset or workflow."""
    name = name or spec.name
    if isinstance(spec, WorkflowSpec):
        run = WorkflowRun(
            name=name,
            stages=spec.resolved_stages(),
            layout=WorkflowLayout(runtime.artifact_path / name),
            resume=resume,
            on_progress=on_progress,
            retry_failed=retry_failed,
        )
        return await run_workflow(run, runtime)
    progress: ProgressCallback | None = None
    if on_progress is not None:
        report = on_progress
        progress = lambda done, total, records: report(done, total, records, "generating")  # noqa: E731
    return await create_dataset(
        runtime,
        spec.config,
        spec.num_records,
        name,
        resume,
        on_progress=progress,
        retry_failed=retry_failed,
        shards=spec.shards,
    )
