"""``dd-prefect run``: usage lines with cost, a budget stop (exit 1, one line) and its
resume, and ``--retry-failed`` against the mock LLM server over HTTP."""

from __future__ import annotations

import pytest

from dd_prefect.workflow.results import DatasetCreationResults
from tests.integration.test_cli import NAME, cli, server_env, spec_data, write_spec

pytestmark = pytest.mark.integration
__all__ = ["server_env"]  # the fixture, used by name


def structured_spec(url: str, **run: object) -> dict:
    data = spec_data(url)
    model = data["config"]["model_configs"][0]
    model["input_price_per_million_tokens"] = 1.0
    model["output_price_per_million_tokens"] = 2.0
    data["run_config"].update({"max_conversation_restarts": 0, "disable_early_shutdown": True})
    data["run_config"].update(run)
    data["config"]["columns"].append(
        {
            "name": "facts",
            "column_type": "llm-structured",
            "model_alias": "fast",
            "prompt": "Facts: {{ answer }}",
            "output_format": {
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
            },
        }
    )
    return data


def test_budget_stop_then_retry_failed_from_the_cli(server_env, mock_llm_factory, tmp_path):
    server = mock_llm_factory(broken_json_rate=0.3, seed=2)
    art = tmp_path / "art"
    capped = write_spec(
        tmp_path / "capped.yaml",
        structured_spec(server.url, max_requests=50, max_concurrent_row_groups=1),
    )
    stopped = cli("run", capped, "--artifact-path", art, env=server_env, cwd=tmp_path)
    assert stopped.returncode == 1
    (line,) = stopped.stderr.strip().splitlines()[-1:]
    assert "DataDesignerBudgetExceededError" in line and "max_requests=50" in line

    spec = write_spec(tmp_path / "spec.yaml", structured_spec(server.url))
    run = ["run", spec, "--artifact-path", art, "--resume", "if_possible"]
    done = cli(*run, env=server_env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "mock/mock-model: 90 requests" in done.stdout and "cost " in done.stdout
    failed = DatasetCreationResults(art / NAME).load_failed_rows()
    assert len(failed) > 0

    server.configure(broken_json_rate=0.0)
    before = server.stats()["requests"]
    retried = cli(*run, "--retry-failed", env=server_env, cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr
    assert f"dataset '{NAME}': 30 of 30 records" in retried.stdout
    assert server.stats()["requests"] - before == 3 * len(failed)
