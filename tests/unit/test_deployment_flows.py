"""What the Prefect UI shows of the deployable flow: a described form, readable run names."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from dd_prefect.orchestration.deployment_flows import run_workflow_spec, spec_run_name

ROOT = Path(__file__).resolve().parents[2]


def test_every_parameter_of_the_run_form_is_described() -> None:
    schema = run_workflow_spec.parameters.model_dump()
    described = {k: (v.get("description") or "") for k, v in schema["properties"].items()}
    assert set(described) == {
        *("spec_path", "spec", "resume", "artifact_path", "dated", "seed_path", "retry_failed")
    }
    assert all(len(text) > 20 for text in described.values()), described
    assert "overrides" in described["spec"]


@pytest.mark.parametrize(
    ("parameters", "name"),
    [
        ({"spec_path": str(ROOT / "deployments" / "demo.yaml")}, "demo-reviews"),
        ({"spec": {"name": "inline", "stages": []}}, "inline"),
        ({"spec_path": "/nowhere.yaml"}, "dd-prefect-run"),
    ],
)
def test_runs_are_named_after_the_spec_and_date(parameters: dict[str, object], name: str) -> None:
    assert spec_run_name(parameters) == f"{name}-{date.today().isoformat()}"
