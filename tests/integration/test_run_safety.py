"""Runs that hold up under real use: two runs into one directory, a dead holder, empty
datasets, failed stages resumed after the fault is fixed, warnings users must see.

Real parts: a real Prefect server, the mock LLM through the openai client, the CLI as a
subprocess where what the user sees (exit codes, stderr lines) is the point.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import dd_prefect.config as dd
from dd_prefect import DataDesigner, ResumeMode
from dd_prefect.errors import GenerationError, RunLockedError, WorkflowError
from dd_prefect.workflow.lock import lock_paths, run_lock
from tests.integration.processes import stop_tree
from tests.integration.workflow_callbacks import (
    answers,
    make_designer,
    three_stage,
    topic_question_stage,
    topics,
)

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "dd_prefect.cli"]
ROOT = Path(__file__).resolve().parents[2]


def workflow_spec(mock_url: str, name: str = "locked", records: int = 20) -> dict[str, Any]:
    return {
        "name": name,
        "model_providers": [{"name": "mock", "endpoint": mock_url}],
        "model_configs": [{"alias": "fast", "model": "mock-model", "provider": "mock"}],
        "run_config": {"buffer_size": 5, "seed": 3},
        "stages": [topic_question_stage("questions", records)],
    }


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def cli(*args: Any, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, args)], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def server_env(prefect_server) -> dict[str, str]:
    return {**os.environ, **prefect_server.env, "PYTHONPATH": str(ROOT)}


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)


# --- one run per directory ----------------------------------------------------------------


@pytest.mark.e2e
def test_second_run_into_the_same_directory_fails_naming_the_holder_or_waits(
    server_env, mock_llm_factory, tmp_path
):
    slow = mock_llm_factory(latency=1.0)  # about 10 s: 40 requests, 4 at a time
    spec = write(tmp_path / "wf.yaml", workflow_spec(slow.url, records=40))
    art = tmp_path / "art"
    first = subprocess.Popen(
        [*CLI, "run", str(spec), "--artifact-path", str(art)],
        env=server_env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, info = lock_paths(art / "locked")
        wait_for(lambda: info.exists() or first.poll() is not None)
        assert first.poll() is None, first.communicate()
        holder = json.loads(info.read_text())
        assert holder["pid"] == first.pid

        second = cli("run", spec, "--artifact-path", art, env=server_env, cwd=tmp_path)
        assert second.returncode == 2, second.stderr
        (line,) = second.stderr.strip().splitlines()
        assert line.startswith("dd-prefect: error: ")
        assert f"in use by another run (pid {first.pid} on " in line

        waited = cli(
            "run", spec, "--artifact-path", art, "--resume", "if_possible", "--wait",
            env=server_env, cwd=tmp_path,
        )  # fmt: skip
        assert waited.returncode == 0, waited.stderr
        assert "waiting for it" in waited.stderr
        assert first.wait(timeout=120) == 0
        assert "questions: completed, 40 records" in waited.stdout
    finally:
        stop_tree(first)
    assert slow.stats()["requests"] == 40  # the waiting run reused what the first made
    assert not info.exists()  # released


async def test_two_runs_in_one_process_do_not_share_a_directory(
    prefect_server, mock_llm_factory, tmp_path
):
    slow = mock_llm_factory(latency=0.3)
    d = make_designer(tmp_path / "art", slow.url)
    first = asyncio.create_task(three_stage(d, "wf").arun())
    _, info = lock_paths(tmp_path / "art" / "wf")
    while not info.exists():
        await asyncio.sleep(0.05)
    with pytest.raises(RunLockedError, match=f"in use by another run \\(pid {os.getpid()} "):
        await three_stage(d, "wf").arun()
    results = await first  # untouched by the refused run
    assert results["reviews"].status == "completed"
    # a dataset of the same name is the same directory
    with run_lock(tmp_path / "art" / "wf"), pytest.raises(RunLockedError):
        await d.acreate(topics(), 5, "wf")


def test_lock_of_a_dead_run_is_taken_over_with_a_warning(
    prefect_server, mock_llm, tmp_path, caplog
):
    art = tmp_path / "art"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    art.mkdir()
    _, info = lock_paths(art / "wf")
    info.write_text(json.dumps({"host": "here", "pid": int(dead.stdout), "started_at": 0}))
    d = make_designer(art, mock_llm.url)
    with caplog.at_level(logging.WARNING, logger="dd_prefect"):
        results = three_stage(d, "wf").run()
    assert results["reviews"].status == "completed"
    assert not info.exists()
    assert f"taking over from a run that did not finish (pid {int(dead.stdout)} on here" in (
        caplog.text
    )


# --- empty datasets and failed stages ------------------------------------------------------


def failing_designer(tmp_path: Path, url: str, **run: Any) -> DataDesigner:
    return make_designer(tmp_path / "art", url, max_llm_retries=0, **run)


async def test_dataset_whose_every_row_is_dropped_fails_naming_the_errors(
    prefect_server, mock_llm_factory, tmp_path
):
    down = mock_llm_factory(rate_500=1.0)
    d = failing_designer(tmp_path, down.url, disable_early_shutdown=True)
    builder = answers().with_seed_dataset(
        dd.DataFrameSeedSource(df=pd.DataFrame({"question": ["a", "b", "c"]}))
    )
    with pytest.raises(GenerationError, match=r"produced no records.*http_500: 3"):
        await d.acreate(builder, 3, "empty")
    meta = json.loads((tmp_path / "art" / "empty" / "metadata.json").read_text())
    assert meta["status"] == "failed" and meta["actual_records"] == 0
    allowed = await d.acreate(builder, 3, "empty", allow_empty=True)
    assert allowed.count_records() == 0


async def test_failed_stage_resumes_into_success_once_the_provider_is_back(
    prefect_server, mock_llm_factory, tmp_path
):
    mock = mock_llm_factory()
    d = failing_designer(tmp_path, mock.url, disable_early_shutdown=True)
    await d.compose_workflow("wf").add_stage("topics", topics(), num_records=6).arun()
    mock.configure(rate_500=1.0)  # the provider goes down for the second stage
    workflow = (
        d.compose_workflow("wf")
        .add_stage("topics", topics(), num_records=6)
        .add_stage("answers", answers())
    )
    with pytest.raises(WorkflowError, match="stage 'answers' produced an empty output"):
        await workflow.arun(resume=ResumeMode.IF_POSSIBLE)
    mock.configure(rate_500=0.0)
    mock.reset()
    results = await workflow.arun(resume=ResumeMode.IF_POSSIBLE)
    assert results.count_stage_output_records("answers") == 6
    assert mock.stats()["requests"] == 6  # the row groups lost to errors, regenerated


async def test_early_shutdown_names_the_stage(prefect_server, mock_llm_factory, tmp_path):
    down = mock_llm_factory(rate_500=1.0)
    d = failing_designer(tmp_path, down.url)
    workflow = d.compose_workflow("wf").add_stage("topics", topics(), num_records=12)
    with pytest.raises(GenerationError, match=r"^stage 'topics': early shutdown"):
        await workflow.arun()


# --- warnings users see ---------------------------------------------------------------------


def test_unreadable_workflow_metadata_warns_on_the_console_and_in_the_run_log(
    server_env, prefect_server, mock_llm, tmp_path
):
    spec = write(tmp_path / "wf.yaml", workflow_spec(mock_llm.url, records=5))
    art = tmp_path / "art"
    assert cli("run", spec, "--artifact-path", art, env=server_env, cwd=tmp_path).returncode == 0
    (art / "locked" / "workflow-metadata.json").write_text("{garbled")
    again = cli(
        "run", spec, "--artifact-path", art, "--resume", "if_possible",
        env=server_env, cwd=tmp_path,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    warnings = [line for line in again.stderr.splitlines() if "warning" in line]
    assert warnings == [
        "dd-prefect: warning: workflow 'locked': workflow-metadata.json is unreadable "
        "(ValidationError); starting fresh"
    ]
    assert "Traceback" not in again.stderr

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterLevel

    async def logged() -> list[str]:
        async with get_client() as client:
            logs = await client.read_logs(LogFilter(level=LogFilterLevel(ge_=30)))
        return [log.message for log in logs]

    from dd_prefect.orchestration.runtime import run_sync

    assert any("starting fresh" in m for m in run_sync(asyncio.wait_for(logged(), 30)))
