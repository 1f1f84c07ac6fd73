"""Composite workflows end to end through subprocesses: a run killed with SIGKILL in the
middle of a stage and resumed, and a WorkflowSpec YAML run by the ``dd-prefect`` CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from dd_prefect.cli import main as cli_main
from dd_prefect.engine.parquet_io import parquet_files, read_parquet
from tests.integration import workflow_script as script
from tests.integration.progress import finished_row_groups
from tests.integration.workflow_callbacks import topic_question_stage

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _read(directory: Path) -> pd.DataFrame:
    return read_parquet(parquet_files(directory))


def _env(prefect_server) -> dict[str, str]:
    return {**os.environ, **prefect_server.env, "PYTHONPATH": str(ROOT)}


@pytest.mark.e2e
def test_killed_workflow_resumes_by_row_group(prefect_server, mock_llm_factory, tmp_path):
    server = mock_llm_factory(latency=0.05)
    script_cmd = [sys.executable, "-m", "tests.integration.workflow_script"]
    cmd = [*script_cmd, str(tmp_path / "a"), server.url]
    # No global-limit leases: a killed process's lease would hold the mock model's slots
    # for a minute (until Prefect repossesses it) and stall the resumed run that long.
    env = {**_env(prefect_server), "DD_PREFECT_GLOBAL_THROTTLE": "0"}
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True)
    wf = tmp_path / "a" / script.NAME
    stage_dir = wf / "stage-1-dialogs"
    deadline = time.monotonic() + 120
    finished = 0
    while time.monotonic() < deadline and finished < 2 and proc.poll() is None:
        time.sleep(0.1)
        finished = finished_row_groups(stage_dir)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.2)  # let requests already sent reach the mock's counter

    groups = script.DIALOGS // script.BUFFER
    done = finished_row_groups(stage_dir)
    assert 2 <= done < groups, "kill the run while stage 2 is part-way through"
    states = [
        s["status"] for s in json.loads((wf / "workflow-metadata.json").read_text())["stages"]
    ]
    assert states == ["completed", "running"]
    before = server.stats()["requests"]

    resumed = subprocess.run(
        [*cmd, "--resume", "if_possible"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    # Stage 1 and the finished row groups of stage 2 made no request.
    expected = (script.DIALOGS - done * script.BUFFER) * script.DIALOG_LLM_COLUMNS + script.DIALOGS
    assert server.stats()["requests"] - before == expected
    assert f"verdicts completed {script.DIALOGS}" in resumed.stdout
    states = [
        s["status"] for s in json.loads((wf / "workflow-metadata.json").read_text())["stages"]
    ]
    assert states == ["completed"] * 3

    # The same seed, uninterrupted: the same data in every stage.
    clean = script.build(script.designer(tmp_path / "b", server.url)).run()
    for index, stage in enumerate(["people", "dialogs", "verdicts"]):
        out = Path(f"stage-{index}-{stage}") / "parquet-files"
        pd.testing.assert_frame_equal(_read(tmp_path / "b" / script.NAME / out), _read(wf / out))
    assert len(clean.load_dataset()) == script.DIALOGS


def _spec(url: str, *, callback: bool = True, prompt: str = "Answer: {{ question }}") -> dict:
    topics = topic_question_stage("topics", 6)
    if callback:
        topics["on_success"] = "tests.integration.workflow_callbacks:keep_even"
        topics["on_success_version"] = "1"
    answers = {
        "name": "answers",
        "config": {
            "columns": [
                {
                    "name": "answer",
                    "column_type": "llm-text",
                    "model_alias": "fast",
                    "prompt": prompt,
                }
            ]
        },
        "output_processors": [
            {
                "processor_type": "schema_transform",
                "name": "pairs",
                "template": {"q": "{{ question }}", "a": "{{ answer }}"},
            }
        ],
        "output": "processor:pairs",
    }
    return {
        "name": "spec-wf",
        "model_providers": [{"name": "mock", "endpoint": url}],
        "model_configs": [{"alias": "fast", "model": "mock-model", "provider": "mock"}],
        "run_config": {"buffer_size": 5, "seed": 7},
        "stages": [topics, answers],
    }


@pytest.mark.e2e
def test_workflow_spec_runs_from_the_cli_and_resumes(prefect_server, mock_llm, tmp_path):
    spec = tmp_path / "workflow.yaml"
    spec.write_text(yaml.safe_dump(_spec(mock_llm.url), sort_keys=False))
    exe = Path(sys.executable).with_name("dd-prefect")
    cmd = [str(exe), "run", str(spec), "--artifact-path", str(tmp_path / "artifacts")]
    run = {"env": _env(prefect_server), "cwd": ROOT, "capture_output": True, "text": True}

    first = subprocess.run(cmd, timeout=300, **run)
    assert first.returncode == 0, first.stderr
    assert "topics: completed, 3 records" in first.stdout
    assert "answers: completed, 3 records" in first.stdout
    assert mock_llm.stats()["requests"] == 6 + 3
    wf = tmp_path / "artifacts" / "spec-wf"
    topics, answers = json.loads((wf / "workflow-metadata.json").read_text())["stages"]
    assert topics["callback_output_path"] == "stage-0-topics/callback-outputs/keep_even"
    assert answers["output_path"] == "stage-1-answers/output-processors/processors-files/pairs"
    pairs = _read(wf / answers["output_path"])
    assert list(pairs.columns) == ["q", "a"] and len(pairs) == 3

    again = subprocess.run([*cmd, "--resume", "if_possible"], timeout=300, **run)
    assert again.returncode == 0, again.stderr
    assert mock_llm.stats()["requests"] == 6 + 3  # everything reused
    stages = json.loads((wf / "workflow-metadata.json").read_text())["stages"]
    assert [s["status"] for s in stages] == ["completed", "completed"]
    pd.testing.assert_frame_equal(pairs, _read(wf / answers["output_path"]))


def test_cli_rejects_a_bad_workflow_spec_before_running(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PREFECT_LOGGING_LEVEL", "WARNING")
    spec = tmp_path / "workflow.yaml"
    spec.write_text(
        yaml.safe_dump(_spec("http://127.0.0.1:9", callback=False, prompt="A: {{ questoin }}"))
    )
    artifacts = tmp_path / "artifacts"
    assert cli_main(["run", str(spec), "--artifact-path", str(artifacts)]) == 2
    err = capsys.readouterr().err
    assert "stage 'answers'" in err and "unknown column 'questoin'" in err
    assert not artifacts.exists()
