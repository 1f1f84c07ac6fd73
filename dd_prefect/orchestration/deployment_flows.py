"""Flows meant for Prefect deployments: run a spec file or an inline spec.

Their parameters are typed, so the Prefect UI renders a form for them (a path or a whole
spec, the resume mode as a dropdown, the artifact path). Flow-level retries come from
``DD_PREFECT_FLOW_RETRIES`` (set it per deployment in ``job_variables.env``); a retried
run reuses completed stages and row groups, so nothing is paid for twice.
"""

from __future__ import annotations

import contextlib
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.context import FlowRunContext
from prefect.logging import get_run_logger
from pydantic import Field

from dd_prefect.config.io import load_file
from dd_prefect.config.seeds import LocalFileSeedSource, SeedConfig
from dd_prefect.config.workflow_spec import DatasetSpec, WorkflowSpec, load_spec
from dd_prefect.errors import ConfigValidationError
from dd_prefect.orchestration.runtime import flow_attempt
from dd_prefect.orchestration.settings import Settings
from dd_prefect.orchestration.spec_runner import run_spec, spec_runtime
from dd_prefect.workflow.layout import seed_pattern
from dd_prefect.workflow.plan import effective_mode
from dd_prefect.workflow.results import CompositeWorkflowResults
from dd_prefect.workflow.resume import ResumeMode

# Read when the flow is defined (a deployment's worker imports it with the deployment's
# environment). Whole seconds: Prefect's flow run policy stores the delay as an int.
FLOW_RETRIES = Settings().flow_retries
FLOW_RETRY_DELAY = Settings().flow_retry_delay


def run_date() -> date:
    """The flow run's scheduled date (its expected start), or today outside a flow run."""
    ctx = FlowRunContext.get()
    if ctx is not None and ctx.flow_run is not None and ctx.flow_run.expected_start_time:
        return ctx.flow_run.expected_start_time.date()
    return date.today()


def run_name() -> str:
    """A run's name: the spec's name and the scheduled date (``demo-reviews-2026-11-30``),
    instead of Prefect's random one."""
    from prefect.runtime import flow_run

    return spec_run_name(flow_run.parameters)


def spec_run_name(parameters: dict[str, Any]) -> str:
    """``<spec name>-<scheduled date>`` for the run form's `parameters`."""
    name = "dd-prefect-run"
    with contextlib.suppress(Exception):
        given = parameters.get("spec")
        if given is not None:
            name = given.name if isinstance(given, WorkflowSpec) else str(given["name"])
        elif parameters.get("spec_path"):
            name = str(load_file(Path(parameters["spec_path"]))["name"])
    return f"{name}-{run_date().isoformat()}"


@flow(
    name="dd-prefect-run-spec",
    flow_run_name=run_name,
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
    seed_path: str | None = Field(
        default=None,
        description=(
            "Seed the first stage (or a dataset spec) from this path instead of its own "
            "seed: a directory of parquet files (read as <dir>/*.parquet) or one parquet, "
            "csv or jsonl file; the seed's sampling and selection strategies are kept. A "
            "deployment trigger passes a finished workflow's output here as "
            "'{{ event.payload.output_path }}'."
        ),
    ),
    retry_failed: bool = False,
) -> dict[str, Any]:
    """Run a workflow (or single dataset) spec: `spec` if given, else the file `spec_path`.

    Args:
        spec_path: A workflow or dataset spec file (YAML or JSON), relative to where the
            worker runs the flow (the project directory). Ignored when `spec` is given.
        spec: A whole workflow spec, typed in the form; overrides `spec_path`.
        resume: What to do with an earlier run of the same name. if_possible (default):
            reuse finished stages and row groups, generate the rest. never: start clean.
            always: like if_possible, but fail instead of starting anything fresh.
        artifact_path: The directory the dataset or workflow is written under (every
            worker of the pool must see it, e.g. a shared filesystem).
        dated: Write to <name>-<scheduled date>, so each scheduled run gets its own
            directory and a second run for the same date resumes it.
        seed_path: Seed the first stage from this path instead of its own seed.
        retry_failed: With a resume, regenerate only the rows that failed before (each
            dataset's failed-rows/), at their positions; later stages rerun.
    """
    logger = get_run_logger()
    loaded: WorkflowSpec | DatasetSpec
    if spec is not None:
        spec.validate_spec()
        loaded = spec
    elif spec_path:
        loaded = load_spec(Path(spec_path))
    else:
        raise ConfigValidationError.of("give spec_path or spec")
    if seed_path:
        loaded = seeded_from(loaded, seed_path)
    name = f"{loaded.name}-{run_date().isoformat()}" if dated else loaded.name
    mode = effective_mode(ResumeMode.parse(resume), flow_attempt())
    logger.info("running '%s' (resume=%s) into %s", name, mode.value, artifact_path)
    results = await run_spec(
        loaded, spec_runtime(loaded, artifact_path), mode, name=name, retry_failed=retry_failed
    )
    if isinstance(results, CompositeWorkflowResults):
        return {
            "workflow": name,
            "path": str(results.workflow_dir),
            "stages": {stage: result.status for stage, result in results.items()},
            "records": results.final_records,
        }
    return {
        "dataset": name,
        "path": str(results.base_dataset_path),
        "records": results.count_records(),
    }


def seeded_from(spec: WorkflowSpec | DatasetSpec, seed_path: str) -> WorkflowSpec | DatasetSpec:
    """`spec` with its first stage's (a dataset spec's) seed source replaced by `seed_path`
    (a directory's ``*.parquet``, or one file); the seed's strategies are kept. The result
    is validated against the new seed's columns."""
    source = LocalFileSeedSource(path=str(seed_pattern(Path(seed_path).expanduser())))
    config = spec.stages[0].config if isinstance(spec, WorkflowSpec) else spec.config
    seed = (
        config.seed_config.model_copy(update={"source": source})
        if config.seed_config is not None
        else SeedConfig(source=source)
    )
    config = config.model_copy(update={"seed_config": seed})
    seeded: WorkflowSpec | DatasetSpec
    if isinstance(spec, WorkflowSpec):
        first = spec.stages[0].model_copy(update={"config": config})
        seeded = spec.model_copy(update={"stages": [first, *spec.stages[1:]]})
    else:
        seeded = spec.model_copy(update={"config": config})
    seeded.validate_spec()
    return seeded
