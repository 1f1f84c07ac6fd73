"""A stage DAG from a spec file (``depends_on:``, ``join:``, ``max_parallel_stages``),
checked and run by the ``dd-prefect`` command line against the real Prefect server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_cli import cli, server_env, write_spec  # noqa: F401 (fixture)
from tests.integration.workflow_callbacks import topic_question_stage

pytestmark = pytest.mark.integration


def llm_stage(name: str, column: str, prompt: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "config": {
            "columns": [
                {"name": column, "column_type": "llm-text", "model_alias": "fast", "prompt": prompt}
            ]
        },
        **extra,
    }


def diamond_spec(mock_url: str, **judged: Any) -> dict[str, Any]:
    return {
        "name": "cli-diamond",
        "model_providers": [{"name": "mock", "endpoint": mock_url}],
        "model_configs": [{"alias": "fast", "model": "mock-model", "provider": "mock"}],
        "run_config": {"buffer_size": 5, "seed": 3, "max_parallel_stages": 2},
        "stages": [
            topic_question_stage("topics", 5),
            llm_stage("easy", "answer", "Simply: {{ question }}", depends_on=["topics"]),
            llm_stage("hard", "answer", "In detail: {{ question }}", depends_on=["topics"]),
            llm_stage(
                "judged",
                "verdict",
                "Judge: {{ answer }} ({{ _stage }})",
                **{
                    "depends_on": ["easy", "hard"],
                    "join": {"mode": "concat", "source_column": "_stage"},
                    **judged,
                },
            ),
        ],
    }


def test_spec_with_depends_on_runs_from_the_cli(server_env, mock_llm, tmp_path):  # noqa: F811
    spec = write_spec(tmp_path / "diamond.yaml", diamond_spec(mock_llm.url))
    checked = cli("validate", spec, env=server_env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    art = tmp_path / "art"
    result = cli("run", spec, "--artifact-path", art, env=server_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "  judged: completed, 10 records" in result.stdout
    assert mock_llm.stats()["requests"] == 5 + 5 + 5 + 10
    meta = json.loads((art / "cli-diamond" / "workflow-metadata.json").read_text())
    judged = next(s for s in meta["stages"] if s["name"] == "judged")
    assert judged["depends_on"] == ["easy", "hard"] and judged["join"]["mode"] == "concat"


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ({"depends_on": ["easy", "nope"]}, ["stage 'judged'", "unknown stage 'nope'"]),
        ({"join": None}, ["stage 'judged'", "needs join"]),
        ({"join": "outer"}, ["stage 'judged'", "join must be"]),
    ],
)
def test_bad_depends_on_in_a_spec_is_exit_2(
    server_env,  # noqa: F811
    mock_llm,
    tmp_path: Path,
    change: dict[str, Any],
    fragments: list[str],
):
    spec = write_spec(tmp_path / "bad.yaml", diamond_spec(mock_llm.url, **change))
    result = cli("validate", spec, env=server_env, cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    for fragment in fragments:
        assert fragment in result.stderr
    assert mock_llm.stats()["requests"] == 0
