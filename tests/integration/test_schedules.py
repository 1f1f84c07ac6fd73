"""Schedules fire: the server's scheduler creates runs and a process worker executes one.

Issue 11.1: under SQLAlchemy 2.1 Prefect 3.8.8's scheduler failed every loop ("Can't
evaluate bulk DML statement"), so a scheduled deployment never got a run. This test
deploys `flows/run_spec.py:run_workflow_spec` with a short interval schedule onto a real
`prefect server start` whose scheduler loops every second, then waits for the runs the
scheduler creates and for a `prefect worker start` to take one to Completed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any
from uuid import UUID

import pandas as pd
import pytest
import yaml
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort

from dd_prefect.engine.parquet_io import parquet_files, read_parquet
from tests.integration.test_deployments import POOL, ROOT, TERMINAL, DeployedProject
from tests.prefect_server import PrefectServer

pytestmark = pytest.mark.integration

INTERVAL = 10  # seconds between scheduled runs
SCHEDULER_ENV = {
    # Both scheduler loops (all deployments; recently changed ones) run every second.
    "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1",
    "PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "1",
    # A handful of future runs is plenty (the default schedules up to 100).
    "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_RUNS": "2",
    "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS": "3",
}
# What the scheduler logged every loop under SQLAlchemy 2.1.
SCHEDULER_ERRORS = ("Can't evaluate bulk DML", "InvalidRequestError")


def tiny_spec() -> dict[str, Any]:
    """One stage, five rows, the bundled in-process mock LLM: no server, no key."""
    return {
        "name": "scheduled",
        "model_providers": [{"name": "mock", "provider_type": "mock"}],
        "model_configs": [{"alias": "m", "model": "mock-model", "provider": "mock"}],
        "run_config": {"buffer_size": 5, "seed": 7},
        "stages": [
            {
                "name": "notes",
                "num_records": 5,
                "config": {
                    "columns": [
                        {
                            "name": "topic",
                            "column_type": "sampler",
                            "sampler_type": "category",
                            "params": {"values": ["tea", "coffee"]},
                        },
                        {
                            "name": "note",
                            "column_type": "llm-text",
                            "model_alias": "m",
                            "prompt": "One line about {{ topic }}.",
                        },
                    ]
                },
            }
        ],
    }


def prefect_file(tmp_path: Path) -> Path:
    """A prefect.yaml with one deployment of the project's flow on an interval schedule."""
    spec_path = tmp_path / "scheduled.yaml"
    spec_path.write_text(yaml.safe_dump(tiny_spec(), sort_keys=False))
    config = {
        "name": "dd-prefect-schedules-test",
        "prefect-version": "3.8.8",
        "build": None,
        "push": None,
        "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}],
        "deployments": [
            {
                "name": "every-few-seconds",
                "entrypoint": "flows/run_spec.py:run_workflow_spec",
                "parameters": {
                    "spec_path": str(spec_path),
                    "resume": "if_possible",
                    "artifact_path": str(tmp_path / "artifacts"),
                    "dated": True,
                },
                "schedules": [
                    {
                        "interval": INTERVAL,
                        "anchor_date": "2020-01-01T00:00:00Z",
                        "timezone": "UTC",
                        "active": True,
                    }
                ],
                "work_pool": {"name": POOL, "work_queue_name": "default"},
            }
        ],
    }
    path = tmp_path / "prefect.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class ScheduledProject(DeployedProject):
    """A server whose scheduler loops every second, the schedule deployed to it, and a
    process worker taking one flow run at a time."""

    def __init__(self, home: Path, prefect_yaml: Path) -> None:
        super().__init__(home)
        self.server = PrefectServer(home, server_env=SCHEDULER_ENV)
        self.prefect_yaml = prefect_yaml
        self.deployment_id: UUID | None = None
        self.deployed_at = 0.0

    def start(self) -> ScheduledProject:
        self.server.start()
        self.prefect("work-pool", "create", POOL, "--type", "process")
        out = self.prefect(
            "--no-prompt", "deploy", "--all", "--prefect-file", str(self.prefect_yaml)
        )
        assert out.count("successfully created") == 1, out
        self.deployed_at = time.monotonic()
        with SyncPrefectClient(self.server.api_url) as client:
            self.deployment_id = client.read_deployment_by_name(
                "dd-prefect-run-spec/every-few-seconds"
            ).id
        self.start_worker("--limit", "1")
        return self

    def server_log(self) -> str:
        return (self.server.home / "server.log").read_text(errors="replace")

    def runs(self) -> list[FlowRun]:
        with SyncPrefectClient(self.server.api_url) as client:
            return client.read_flow_runs(
                deployment_filter=DeploymentFilter(
                    id=DeploymentFilterId(any_=[self.deployment_id])
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            )

    def wait_for(
        self, what: str, found: Callable[[list[FlowRun]], bool], timeout: float
    ) -> list[FlowRun]:
        """Polls the deployment's runs until `found(runs)` holds."""
        deadline = time.monotonic() + timeout
        while True:
            runs = self.runs()
            if found(runs):
                return runs
            if time.monotonic() > deadline:
                states = [(r.name, r.state_name, r.auto_scheduled) for r in runs]
                pytest.fail(
                    f"{what} within {timeout:.0f}s; runs: {states}\n"
                    f"server log:\n{self.server_log()[-3000:]}\nworker log:\n{self.log_tail()}"
                )
            time.sleep(0.5)


@pytest.fixture
def scheduled(tmp_path: Path) -> Iterator[ScheduledProject]:
    project = ScheduledProject(tmp_path / "prefect-home", prefect_file(tmp_path))
    try:
        yield project.start()
    finally:
        project.stop()


@pytest.mark.e2e
def test_scheduler_creates_runs_and_a_worker_completes_one(
    scheduled: ScheduledProject, tmp_path: Path
):
    started = scheduled.deployed_at

    # The scheduler creates the deployment's next runs on its own: nobody asked for them.
    runs = scheduled.wait_for(
        "the scheduler created no runs",
        lambda runs: sum(1 for r in runs if r.auto_scheduled) >= 2,
        timeout=30 - (time.monotonic() - started),
    )
    scheduled_after = time.monotonic() - started
    auto = [r for r in runs if r.auto_scheduled]
    assert all(r.created_by is not None and r.created_by.type == "SCHEDULE" for r in auto)
    starts = sorted(r.expected_start_time for r in auto)
    assert all((b - a).total_seconds() == INTERVAL for a, b in pairwise(starts))

    # The worker picks up the first one when it is due and runs it to Completed.
    runs = scheduled.wait_for(
        "no scheduled run completed",
        lambda runs: any(r.auto_scheduled and r.state_type in TERMINAL for r in runs),
        timeout=60,
    )
    done = next(r for r in runs if r.auto_scheduled and r.state_type in TERMINAL)
    assert done.state_type is StateType.COMPLETED, scheduled.log_tail()

    # Its output is on disk, in the dated directory of its scheduled date.
    workflow_dir = tmp_path / "artifacts" / f"scheduled-{done.expected_start_time.date()}"
    notes = read_parquet(parquet_files(workflow_dir / "stage-0-notes" / "parquet-files"))
    assert isinstance(notes, pd.DataFrame) and len(notes) == 5
    assert notes["note"].notna().all()

    log = scheduled.server_log()
    assert not [e for e in SCHEDULER_ERRORS if e in log], log[-3000:]
    print(
        f"after the deploy: runs scheduled in {scheduled_after:.1f}s, one "
        f"completed in {time.monotonic() - started:.1f}s"
    )
