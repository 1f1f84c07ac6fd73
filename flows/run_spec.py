"""Deployment entrypoint: run a workflow spec from deployments/ (or an inline spec).

prefect.yaml points at ``flows/run_spec.py:run_workflow_spec``.
"""

from dd_prefect.orchestration.deployment_flows import run_workflow_spec

__all__ = ["run_workflow_spec"]

if __name__ == "__main__":
    import asyncio

    asyncio.run(run_workflow_spec())
