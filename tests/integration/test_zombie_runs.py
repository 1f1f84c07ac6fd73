"""A dead worker's run is marked Crashed, then retried to Completed (issue 11, item 2).

End to end on real parts: `prefect server start` (its triggers service evaluates the
automation), `dd-prefect setup` as a subprocess (creates the automation, idempotently), this
repo's prefect.yaml deployed with `prefect deploy --all` (its deployments give flow-run
processes `PREFECT_FLOWS_HEARTBEAT_FREQUENCY=30`, Prefect's minimum), a `prefect worker
start` on a process pool, and the mock LLM server with latency, so a stage is slow enough to
kill. Mid-way through the second stage the worker and its flow-run process get SIGKILL.
Nothing reports the death: only the missing heartbeats do, and the automation marks the run
Crashed. `prefect flow-run retry` and a new worker then complete it, reusing the finished
first stage and the second stage's finished row groups (exact request counts at the mock).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import yaml
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

from dd_prefect.orchestration.automations import AUTOMATION_NAME, crash_message
from tests.integration.processes import descendants
from tests.integration.test_deployments import ROOT, DeployedProject, rows, workflow_metadata

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

WITHIN = 60  # seconds without a heartbeat before a run is marked Crashed (2 heartbeats)
RECORDS, BUFFER = 30, 5  # 6 row groups per stage
LATENCY = 1.5  # per request: a row group of stage 2 takes ~2 x LATENCY
DD_PREFECT = str(Path(sys.executable).with_name("dd-prefect"))


def slow_spec(mock_url: str) -> dict[str, Any]:
    """topics (model-s1) -> answers (model-s2), one row group at a time."""
    return {
        "name": "zombie",
        "model_providers": [{"name": "mock", "endpoint": mock_url}],
        "model_configs": [
            {"alias": "s1", "model": "model-s1", "provider": "mock"},
            {"alias": "s2", "model": "model-s2", "provider": "mock"},
        ],
        "run_config": {
            "buffer_size": BUFFER,
            "seed": 5,
            "max_llm_retries": 0,
            "max_concurrent_row_groups": 1,
        },
        "stages": [
            {
                "name": "topics",
                "num_records": RECORDS,
                "config": {
                    "columns": [
                        {
                            "name": "topic",
                            "column_type": "sampler",
                            "sampler_type": "category",
                            "params": {"values": ["tea", "coffee", "juice"]},
                        },
                        {
                            "name": "question",
                            "column_type": "llm-text",
                            "model_alias": "s1",
                            "prompt": "Ask about {{ topic }}",
                        },
                    ]
                },
            },
            {
                "name": "answers",
                "config": {
                    "columns": [
                        {
                            "name": "answer",
                            "column_type": "llm-text",
                            "model_alias": "s2",
                            "prompt": "Answer: {{ question }}",
                        }
                    ]
                },
            },
        ],
    }


@pytest.fixture
def project(tmp_path: Path) -> Iterator[DeployedProject]:
    deployed = DeployedProject(tmp_path / "prefect-home")
    try:
        yield deployed.start()
    finally:
        deployed.stop()


@pytest.fixture
def client(project: DeployedProject) -> Iterator[SyncPrefectClient]:
    with SyncPrefectClient(project.server.api_url) as client:
        yield client


def setup(project: DeployedProject, *args: str) -> str:
    """`dd-prefect setup` as a user runs it, against the project's server."""
    done = subprocess.run(
        [DD_PREFECT, "setup", *args],
        env=project.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def persisted_row_groups(storage: Path, stage_dir: Path) -> set[int]:
    """Row groups of the stage whose task results Prefect persisted (what a retry reuses)."""
    metadata = stage_dir / "metadata.json"
    if not metadata.exists():
        return set()
    key = json.loads(metadata.read_text())["dataset_key"]
    return {int(path.name.removeprefix("rg-")) for path in storage.glob(f"dd-prefect/{key}/rg-*")}


def wait_for(what: str, check, timeout: float, project: DeployedProject, poll: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout}s\n{project.log_tail()}")
        time.sleep(poll)


def kill_worker_and_runs(worker: subprocess.Popen) -> list[int]:
    """SIGKILL the worker and everything below it (its flow-run processes): nothing gets
    to report anything to the server."""
    below = descendants(worker.pid)
    for pid in [worker.pid, *below]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.wait(timeout=10)
    return below


def flow_runs(client: SyncPrefectClient) -> list[FlowRun]:
    return client.read_flow_runs(limit=200)


def heartbeats(client: SyncPrefectClient, run_id: UUID) -> list[datetime]:
    """When the server got the run's `prefect.flow-run.heartbeat` events."""
    page = client.read_events(
        EventFilter(
            event=EventNameFilter(name=["prefect.flow-run.heartbeat"]),
            resource=EventResourceFilter(id=[f"prefect.flow-run.{run_id}"]),
        ),
        limit=50,  # the API's most; a few minutes of 30 s heartbeats are fewer
    )
    return sorted(event.occurred for event in page.events)


def test_killed_worker_run_is_crashed_then_retried_to_completed(
    project: DeployedProject, client: SyncPrefectClient, mock_llm_factory, tmp_path
):
    # Created once, updated in place, left alone when already right: always one.
    assert setup(project).startswith("created automation")
    assert setup(project, "--within", str(WITHIN)).startswith("updated automation")
    assert setup(project, "--within", str(WITHIN)).startswith("unchanged automation")
    automations = client.read_automations_by_name(AUTOMATION_NAME)
    assert len(automations) == 1
    assert automations[0].trigger.within.total_seconds() == WITHIN

    # The deployments give their flow-run processes Prefect's shortest heartbeat period.
    demo = client.read_deployment_by_name("dd-prefect-run-spec/demo")
    assert demo.job_variables["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"

    mock = mock_llm_factory(latency=LATENCY)
    spec_path = tmp_path / "zombie.yaml"
    spec_path.write_text(yaml.safe_dump(slow_spec(mock.url), sort_keys=False))
    artifacts = tmp_path / "artifacts"
    answers_dir = artifacts / "zombie" / "stage-1-answers"
    run_id = project.run_deployment(
        "dd-prefect-run-spec/demo", spec_path=str(spec_path), artifact_path=str(artifacts)
    )

    # Kill mid-stage: once 2 of stage 2's 6 row groups are persisted (the 3rd is in flight).
    storage = project.server.storage
    wait_for(
        "2 row groups of stage 2 persisted",
        lambda: len(persisted_row_groups(storage, answers_dir)) >= 2,
        timeout=180,
        project=project,
    )
    assert project.worker is not None
    killed = kill_worker_and_runs(project.worker)
    killed_at, killed_wall = time.monotonic(), datetime.now(UTC)
    assert killed, "the worker had no flow-run process to kill"
    finished = persisted_row_groups(storage, answers_dir)
    assert 2 <= len(finished) < RECORDS // BUFFER
    at_kill = mock.stats()["by_model"]
    assert at_kill["model-s1"] == RECORDS  # stage 1 finished

    # Nobody is left to report the death: the run stays Running, and can't be retried yet.
    assert client.read_flow_run(run_id).state.type is StateType.RUNNING
    refused = subprocess.run(
        [sys.executable, "-m", "prefect", "flow-run", "retry", str(run_id)],
        env=project.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0 and "cannot be retried" in refused.stdout + refused.stderr

    # The heartbeats stopped; within WITHIN s of the last one (+ the trigger service's 5 s
    # loop) the automation marks the run, and its workflow and stage subflows, Crashed.
    crashed = wait_for(
        "the run marked Crashed",
        lambda: (run := client.read_flow_run(run_id)).state.type is StateType.CRASHED and run,
        timeout=WITHIN + 60,
        project=project,
    )
    crashed_after = time.monotonic() - killed_at
    assert crashed.state.message == crash_message(WITHIN)
    beats = heartbeats(client, run_id)
    assert beats and beats[-1] < killed_wall  # it heartbeat while it lived, and not since
    assert (crashed.state.timestamp - beats[-1]).total_seconds() >= WITHIN
    wait_for(
        "no run left Running",
        lambda: not [r for r in flow_runs(client) if r.state.type is StateType.RUNNING],
        timeout=WITHIN + 60,
        project=project,
    )
    all_crashed = [r.name for r in flow_runs(client) if r.state.type is StateType.CRASHED]
    assert sorted(all_crashed) == sorted([crashed.name, "zombie", "answers"])
    all_crashed_after = time.monotonic() - killed_at

    # A new worker and `prefect flow-run retry` finish it (the mock answers fast now: what
    # is checked below are counts).
    mock.configure(latency=0.05)
    project.start_worker()
    out = project.prefect("flow-run", "retry", str(run_id))
    assert "scheduled for retry" in out, out
    retried_at = time.monotonic()
    run = project.wait(run_id, timeout=180)
    assert run.state.type is StateType.COMPLETED, project.log_tail()
    completed_after = time.monotonic() - killed_at
    print(
        f"\nSIGKILL -> run Crashed: {crashed_after:.0f}s; all its runs Crashed: "
        f"{all_crashed_after:.0f}s; retry -> Completed: {time.monotonic() - retried_at:.0f}s; "
        f"SIGKILL -> Completed: {completed_after:.0f}s; row groups persisted at kill: "
        f"{sorted(finished)}; requests at kill {at_kill}, after {mock.stats()['by_model']}"
    )

    # Stage 1 was reused whole; stage 2 asked only for its unfinished row groups' rows.
    after = mock.stats()["by_model"]
    assert after["model-s1"] == RECORDS
    unfinished_rows = RECORDS - BUFFER * len(finished)
    assert after["model-s2"] - at_kill["model-s2"] == unfinished_rows
    meta = workflow_metadata(artifacts / "zombie")
    assert [(s["name"], s["status"]) for s in meta["stages"]] == [
        ("topics", "completed"),
        ("answers", "completed"),
    ]
    final = rows(answers_dir / "parquet-files")
    assert len(final) == RECORDS and final["answer"].notna().all()
