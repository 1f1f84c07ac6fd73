"""Deployment entrypoints for the example workflows, written with the builder API.

With no `endpoint` they use the bundled mock LLM server; give an OpenAI-compatible
endpoint, a model and the NAME of the environment variable holding its key to go live.
"""

from __future__ import annotations

from collections.abc import Callable

from prefect import flow

import dd_prefect.config as dd
from dd_prefect.examples import workflows
from dd_prefect.interface import CompositeWorkflow, DataDesigner
from dd_prefect.orchestration.deployment_flows import FLOW_RETRIES, FLOW_RETRY_DELAY
from dd_prefect.orchestration.runtime import flow_attempt
from dd_prefect.workflow.plan import effective_mode
from dd_prefect.workflow.resume import ResumeMode


async def _run(
    build: Callable[[DataDesigner], CompositeWorkflow],
    *,
    resume: ResumeMode,
    artifact_path: str,
    endpoint: str | None,
    api_key_env: str | None,
    buffer_size: int,
) -> dict[str, int]:
    designer = DataDesigner(
        artifact_path=artifact_path,
        model_providers=[workflows.provider(endpoint, api_key_env)],
        run_config=dd.RunConfig(buffer_size=buffer_size),
    )
    results = await build(designer).arun(resume=effective_mode(resume, flow_attempt()))
    return {name: result.actual_records for name, result in results.items()}


@flow(
    name="dd-prefect-doc-qa",
    retries=FLOW_RETRIES,
    retry_delay_seconds=FLOW_RETRY_DELAY,
    persist_result=False,
)
async def doc_qa(
    num_records: int = 40,
    resume: ResumeMode = ResumeMode.IF_POSSIBLE,
    artifact_path: str = "artifacts",
    endpoint: str | None = None,
    model: str = "mock-model",
    api_key_env: str | None = None,
) -> dict[str, int]:
    """Passages -> question/answer drafts -> chatml training records."""
    return await _run(
        lambda d: workflows.doc_qa(d, model, num_records, workflows.PASSAGES),
        resume=resume,
        artifact_path=artifact_path,
        endpoint=endpoint,
        api_key_env=api_key_env,
        buffer_size=20,
    )


@flow(
    name="dd-prefect-personas",
    retries=FLOW_RETRIES,
    retry_delay_seconds=FLOW_RETRY_DELAY,
    persist_result=False,
)
async def personas(
    num_personas: int = 20,
    resume: ResumeMode = ResumeMode.IF_POSSIBLE,
    artifact_path: str = "artifacts",
    endpoint: str | None = None,
    model: str = "mock-model",
    api_key_env: str | None = None,
) -> dict[str, int]:
    """Personas -> conversations (x5) -> judged conversations."""
    return await _run(
        lambda d: workflows.personas(d, model, num_personas),
        resume=resume,
        artifact_path=artifact_path,
        endpoint=endpoint,
        api_key_env=api_key_env,
        buffer_size=50,
    )
