"""Flows meant for Prefect deployments: run a spec file or an inline spec.

Their parameters are typed, so the Prefect UI renders a form for them (a path or a whole
spec, the resume mode as a dropdown, the artifact path). Flow-level retries come from
``DD_PREFECT_FLOW_RETRIES`` (set it per deployment in ``job_variables.env``); a retried
run reuses completed stages and row groups, so nothing is paid for twice.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.context import FlowRunContext
from prefect.logging import get_run_logger

from dd_prefect.config.workflow_spec import DatasetSpec, WorkflowSpec, load_spec
from dd_prefect.errors import ConfigIssue, ConfigValidationError
from dd_prefect.orchestration.runtime import effective_resume
from dd_prefect.workflow.resume import ResumeMode

FLOW_RETRIES = int(os.environ.get("DD_PREFECT_FLOW_RETRIES", "0"))
# Whole seconds: Prefect's flow run policy stores the delay as an int (a float makes every
# run warn "Pydantic serializer warnings ... retry_delay").
FLOW_RETRY_DELAY = int(os.environ.get("DD_PREFECT_FLOW_RETRY_DELAY", "10"))


def run_date() -> date:
    """The flow run's scheduled date (its expected start), or today outside a flow run."""
    ctx = FlowRunContext.get()
    if ctx is not None and ctx.flow_run.expected_start_time is not None:
        return ctx.flow_run.expected_start_time.date()
    return date.today()


@flow(
    name="dd-prefect-run-spec",
    retries=FLOW_RETRIES,
    retry_delay_seconds=FLOW_RETRY_DELAY,
    persist_result=False,
)
async def run_workflow_spec(
    spec_path: str | None = "deployments/demo.yaml",
    spec: WorkflowSpec | None = None,
    resume: ResumeMode = ResumeMode.IF_POSSIBLE,
    artifact_path: str = "artifacts",
    dated: bool = False,
) -> dict[str, Any]:
    """Run a workflow (or single dataset) spec: `spec` if given, else the file `spec_path`.

    With `dated`, output goes to ``<name>-<scheduled date>``: each scheduled run gets its
    own directory, and a second run for the same date resumes it instead of duplicating.
    """
    from dd_prefect.interface import DataDesigner
    from dd_prefect.orchestration.composite import workflow_from_spec

    logger = get_run_logger()
    loaded: WorkflowSpec | DatasetSpec
    if spec is not None:
        spec.validate_spec()
        loaded = spec
    elif spec_path:
        loaded = load_spec(Path(spec_path))
    else:
        raise ConfigValidationError([ConfigIssue("give spec_path or spec")])
    name = f"{loaded.name}-{run_date().isoformat()}" if dated else loaded.name
    mode = effective_resume(ResumeMode.parse(resume))
    designer = DataDesigner(
        artifact_path=artifact_path,
        model_providers=loaded.model_providers,
        run_config=loaded.run_config,
    )
    logger.info("running '%s' (resume=%s) into %s", name, mode.value, artifact_path)
    if isinstance(loaded, WorkflowSpec):
        workflow = workflow_from_spec(designer, loaded.model_copy(update={"name": name}))
        results = await workflow.arun(resume=mode)
        return {
            "workflow": name,
            "path": str(results.workflow_dir),
            "stages": {stage: result.status for stage, result in results.items()},
            "records": results[results.final_stage].actual_records,
        }
    created = await designer.acreate(
        loaded.config, num_records=loaded.num_records, dataset_name=name, resume=mode
    )
    return {
        "dataset": name,
        "path": str(created.base_dataset_path),
        "records": created.count_records(),
    }
