"""Deployments, the review gate and secret API keys, on a real Prefect server.

The e2e test is the issue's acceptance test: `prefect deploy --all` from the repo root onto
a process work pool, a worker, the demo deployment run to completion; then a stage that
fails on one provider and `prefect flow-run retry`, which redoes only that stage and the
ones after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pandas as pd
import pytest
import yaml
from prefect.blocks.system import Secret
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterName,
    FlowRunFilterState,
    FlowRunFilterStateType,
    LogFilter,
    LogFilterTimestamp,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.flow_runs import aresume_flow_run

import dd_prefect.config as dd
from dd_prefect import DataDesigner
from dd_prefect.config.workflow_spec import WorkflowSpec
from dd_prefect.engine.parquet_io import parquet_files, read_parquet
from dd_prefect.errors import WorkflowError
from dd_prefect.orchestration.deployment_flows import run_workflow_spec
from dd_prefect.orchestration.runtime import drain_prefect_workers
from tests.integration.processes import stop_tree
from tests.integration.workflow_callbacks import (
    answers,
    make_designer,
    topic_question_stage,
    topics,
)
from tests.prefect_server import PrefectServer

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
POOL = "dd-prefect-pool"
TERMINAL = {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}


def rows(path: Path) -> pd.DataFrame:
    return read_parquet(parquet_files(path))


def workflow_metadata(workflow_dir: Path) -> dict[str, Any]:
    return json.loads((workflow_dir / "workflow-metadata.json").read_text())


# -- deployments, end to end -------------------------------------------------------------


class DeployedProject:
    """A dedicated `prefect server start`, this repo's prefect.yaml deployed to it, and a
    process worker on its pool. `stop()` ends every process it started."""

    def __init__(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.server = PrefectServer(home)
        self.worker: subprocess.Popen | None = None
        self.worker_log = home / "worker.log"

    @property
    def env(self) -> dict[str, str]:
        return self.server.worker_env

    def start(self) -> DeployedProject:
        self.server.start()
        self.prefect("work-pool", "create", POOL, "--type", "process")
        # The worker starts while the deployments are being created.
        self.start_worker()
        out = self.prefect("--no-prompt", "deploy", "--all")
        deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
        assert out.count("successfully created") == len(deployments), out
        return self

    def start_worker(self, *options: str) -> subprocess.Popen:
        """A `prefect worker start` on the pool (in a session of its own; `options` such
        as ``--limit 1`` added), logging to `worker_log` (appended to: a later worker's
        lines follow an earlier one's)."""
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, *options],
            env=self.env,
            cwd=ROOT,
            stdout=open(self.worker_log, "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self.worker

    def stop(self) -> None:
        if self.worker is not None:
            stop_tree(self.worker)
        self.server.stop()

    def prefect(self, *args: str, timeout: float = 120) -> str:
        return self.server.cli(*args, cwd=ROOT, timeout=timeout)

    def run_deployment(self, name: str, **params: str) -> UUID:
        args = [f"--param={key}={value}" for key, value in params.items()]
        out = self.prefect("deployment", "run", name, *args)
        match = re.search(r"UUID: ([0-9a-f-]{36})", out)
        assert match, out
        return UUID(match.group(1))

    def wait(self, run_id: UUID, timeout: float = 120) -> FlowRun:
        """The flow run once it reached a terminal state."""
        deadline = time.monotonic() + timeout
        with SyncPrefectClient(self.server.api_url) as client:
            while True:
                run = client.read_flow_run(run_id)
                if run.state is not None and run.state.type in TERMINAL:
                    return run
                if time.monotonic() > deadline:
                    pytest.fail(f"flow run {run_id} is still {run.state}:\n{self.log_tail()}")
                time.sleep(0.5)

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.worker_log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[DeployedProject]:
    project = DeployedProject(tmp_path / "prefect-home")
    try:
        yield project.start()
    finally:
        project.stop()


def chain_spec(name: str, url_a: str, url_b: str) -> dict[str, Any]:
    """topics (provider A) -> drafts (provider B, 2 LLM columns) -> final (provider A).

    Each stage has its own model name, so the mocks' by_model counts tell stages apart.
    """

    def llm(column: str, alias: str, prompt: str) -> dict[str, Any]:
        return {"name": column, "column_type": "llm-text", "model_alias": alias, "prompt": prompt}

    return {
        "name": name,
        "model_providers": [
            {"name": "prov-a", "endpoint": url_a},
            {"name": "prov-b", "endpoint": url_b},
        ],
        "model_configs": [
            {"alias": "s1", "model": "model-s1", "provider": "prov-a"},
            {"alias": "s2", "model": "model-s2", "provider": "prov-b"},
            {"alias": "s3", "model": "model-s3", "provider": "prov-a"},
        ],
        "run_config": {"buffer_size": 10, "seed": 3, "max_llm_retries": 0},
        "stages": [
            {
                "name": "topics",
                "num_records": 20,
                "config": {
                    "columns": [
                        {
                            "name": "topic",
                            "column_type": "sampler",
                            "sampler_type": "category",
                            "params": {"values": ["tea", "coffee", "juice"]},
                        },
                        llm("question", "s1", "Ask about {{ topic }}"),
                    ]
                },
            },
            {
                "name": "drafts",
                "config": {
                    "columns": [
                        llm("draft", "s2", "Draft an answer: {{ question }}"),
                        llm("critique", "s2", "Critique: {{ draft }}"),
                    ]
                },
            },
            {
                "name": "final",
                "config": {
                    "columns": [llm("answer", "s3", "Improve {{ draft }} per {{ critique }}")]
                },
            },
        ],
    }


@pytest.mark.e2e
def test_deploy_all_run_demo_and_retry_only_the_failed_stage(
    deployed: DeployedProject, mock_llm_factory, tmp_path
):
    a = mock_llm_factory()
    b = mock_llm_factory(rate_500=1.0)
    spec_path = tmp_path / "chain.yaml"
    spec_path.write_text(yaml.safe_dump(chain_spec("chain", a.url, b.url), sort_keys=False))
    artifacts = tmp_path / "artifacts"

    # Both runs are queued at once; the worker runs them side by side.
    demo = deployed.run_deployment("dd-prefect-run-spec/demo", artifact_path=str(artifacts))
    chain = deployed.run_deployment(
        "dd-prefect-run-spec/demo", spec_path=str(spec_path), artifact_path=str(artifacts)
    )

    run = deployed.wait(demo)
    assert run.state.type is StateType.COMPLETED, deployed.log_tail()
    assert run.parameters["spec_path"] == "deployments/demo.yaml"  # the deployment's default
    demo_dir = artifacts / "demo-reviews"
    meta = workflow_metadata(demo_dir)
    assert [(s["name"], s["status"]) for s in meta["stages"]] == [
        ("customers", "completed"),
        ("reviews", "completed"),
        ("judged", "completed"),
    ]
    assert [s["actual_records"] for s in meta["stages"]] == [50, 100, 100]
    judged = rows(demo_dir / meta["stages"][2]["stage_dir"] / "parquet-files")
    assert len(judged) == 100 and judged["review"].notna().all()
    assert {"customer", "product", "stars", "review", "quality"} <= set(judged.columns)

    # Provider B answers every request with a 500: stage 2 fails, and so does the run.
    run = deployed.wait(chain)
    assert run.state.type is StateType.FAILED, deployed.log_tail()
    chain_dir = artifacts / "chain"
    meta = workflow_metadata(chain_dir)
    assert [(s["name"], s["status"]) for s in meta["stages"]] == [
        ("topics", "completed"),
        ("drafts", "failed"),
    ]
    assert a.stats()["by_model"] == {"model-s1": 20}
    b_before = b.stats()["by_model"]["model-s2"]

    # Heal B and retry the failed run: topics is reused, drafts and final are made.
    b.configure(rate_500=0.0)
    out = deployed.prefect("flow-run", "retry", str(chain))
    assert "scheduled for retry" in out, out
    run = deployed.wait(chain)
    assert run.state.type is StateType.COMPLETED, deployed.log_tail()
    assert run.run_count == 2
    assert a.stats()["by_model"] == {"model-s1": 20, "model-s3": 20}
    assert b.stats()["by_model"]["model-s2"] - b_before == 20 * 2  # rows x LLM columns
    meta = workflow_metadata(chain_dir)
    assert [(s["status"], s["actual_records"]) for s in meta["stages"]] == [
        ("completed", 20),
        ("completed", 20),
        ("completed", 20),
    ]
    final = rows(chain_dir / meta["stages"][2]["stage_dir"] / "parquet-files")
    assert final[["question", "draft", "critique", "answer"]].notna().all().all()
    assert len(final) == 20
    # Every flow run's log is free of Prefect's retry_delay serializer warning.
    assert "Pydantic serializer warnings" not in deployed.worker_log.read_text()


# -- the review gate ---------------------------------------------------------------------


@pytest.fixture
async def start_run(monkeypatch) -> AsyncIterator[Callable[[Coroutine], asyncio.Task]]:
    """Starts a workflow run as a task (polling for review every second); one still running
    at teardown is cancelled, so a failed test leaves no paused run holding its leases."""
    monkeypatch.setenv("DD_PREFECT_REVIEW_POLL_SECONDS", "1")
    tasks: list[asyncio.Task] = []

    def start(run: Coroutine) -> asyncio.Task:
        tasks.append(asyncio.create_task(run))
        return tasks[-1]

    yield start
    for task in tasks:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


async def paused_run(name: str, running: asyncio.Task, timeout: float = 60) -> FlowRun:
    """The workflow flow run named `name` once it is paused for review."""
    deadline = time.monotonic() + timeout
    only_paused = FlowRunFilter(
        name=FlowRunFilterName(any_=[name]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])),
    )
    async with get_client() as client:
        while time.monotonic() < deadline:
            if running.done():
                running.result()  # raises what the run raised
                pytest.fail(f"workflow '{name}' finished without pausing for review")
            found = await client.read_flow_runs(flow_run_filter=only_paused)
            if found:
                return found[0]
            await asyncio.sleep(0.2)
    pytest.fail(f"workflow '{name}' did not pause for review in {timeout}s")


def review_workflow(tmp_path: Path, mock_url: str, name: str):
    designer = make_designer(tmp_path / "artifacts", mock_url)
    return (
        designer.compose_workflow(name)
        .add_stage("topics", topics(), num_records=6, review=True)
        .add_stage("answers", answers())
    )


async def test_review_gate_pauses_until_approved(prefect_server, mock_llm, start_run, tmp_path):
    workflow = review_workflow(tmp_path, mock_llm.url, "review-approve")
    running = start_run(workflow.arun())
    paused = await paused_run("review-approve", running)
    assert paused.state.state_details.pause_key == "review-topics"
    assert mock_llm.stats()["requests"] == 6  # stage 2 waits for the reviewer
    await aresume_flow_run(paused.id, run_input={"approve": True, "note": "looks fine"})
    results = await asyncio.wait_for(running, 60)
    assert len(results["answers"].load_dataset()) == 6
    assert mock_llm.stats()["requests"] == 12
    review = workflow_metadata(results.workflow_dir)["stages"][0]["review"]
    assert review == {"approve": True, "override_path": None, "note": "looks fine"}

    # A resumed run reuses the stage and its recorded decision: no second pause.
    again = await asyncio.wait_for(workflow.arun(resume="if_possible"), 60)
    assert again["answers"].status == "completed" and mock_llm.stats()["requests"] == 12


async def test_a_deployment_run_points_to_its_paused_review(
    prefect_server, mock_llm, start_run, tmp_path
):
    """A workflow inside a parent run (as a deployment runs it): the run the user opened
    shows Running, so an artifact on it links to the paused workflow run to resume."""
    from prefect import flow
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    workflow = review_workflow(tmp_path, mock_llm.url, "review-nested")

    @flow(name="dd-prefect-test-parent", flow_run_name="parent-of-review")
    async def parent() -> None:
        await workflow.arun()

    running = start_run(parent())
    paused = await paused_run("review-nested", running)
    async with get_client() as client:
        (root,) = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["parent-of-review"]))
        )
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[root.id]))
        )
    (pointer,) = [a for a in artifacts if a.key == "review-topics-waiting"]
    assert str(paused.id) in pointer.data and "Resume" in pointer.data
    await aresume_flow_run(paused.id, run_input={"approve": True})
    await asyncio.wait_for(running, 60)


async def test_review_override_seeds_the_next_stage(prefect_server, mock_llm, start_run, tmp_path):
    override = tmp_path / "reviewed.parquet"
    pd.DataFrame({"topic": ["tea", "juice", "tea"], "question": ["q1", "q2", "q3"]}).to_parquet(
        override
    )
    workflow = review_workflow(tmp_path, mock_llm.url, "review-override")
    running = start_run(workflow.arun())
    paused = await paused_run("review-override", running)
    await aresume_flow_run(paused.id, run_input={"approve": True, "override_path": str(override)})
    results = await asyncio.wait_for(running, 60)
    df = results["answers"].load_dataset()
    assert list(df["question"]) == ["q1", "q2", "q3"] and df["answer"].notna().all()
    assert mock_llm.stats()["requests"] == 6 + 3
    stage = workflow_metadata(results.workflow_dir)["stages"][0]
    assert stage["review"]["override_path"] == str(override)
    assert stage["override_path"].endswith("reviewed.parquet")


async def test_review_rejection_fails_the_run(prefect_server, mock_llm, start_run, tmp_path):
    workflow = review_workflow(tmp_path, mock_llm.url, "review-reject")
    running = start_run(workflow.arun())
    paused = await paused_run("review-reject", running)
    await aresume_flow_run(paused.id, run_input={"approve": False, "note": "off topic"})
    with pytest.raises(WorkflowError, match="stage 'topics' was rejected in review: off topic"):
        await asyncio.wait_for(running, 60)
    assert mock_llm.stats()["requests"] == 6  # stage 2 never ran
    assert not (tmp_path / "artifacts" / "review-reject" / "stage-1-answers").exists()


# -- API keys from Prefect Secret blocks and environment variables ------------------------


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


async def read_all(read: Callable[..., Awaitable[list[Any]]], **filters: Any) -> list[Any]:
    found: list[Any] = []
    while True:
        page = await read(**filters, limit=200, offset=len(found))
        found += page
        if len(page) < 200:
            return found


async def assert_key_nowhere(key: str, since: datetime, *dirs: Path) -> list[str]:
    """The key is in no flow run's parameters, no log since `since`, no artifact and no
    file under `dirs`; returns the messages of the logs checked."""
    await asyncio.to_thread(drain_prefect_workers)  # off the loop: its sync drain waits
    async with get_client() as client:
        runs = await read_all(client.read_flow_runs)
        logs = await read_all(
            client.read_logs, log_filter=LogFilter(timestamp=LogFilterTimestamp(after_=since))
        )
        artifacts = await read_all(client.read_artifacts)
    assert not [r.name for r in runs if key in json.dumps(r.parameters, default=str)]
    assert not [log.message for log in logs if key in log.message]
    assert not [a.key for a in artifacts if key in json.dumps(a.data, default=str)]
    files = [p for d in dirs for p in d.rglob("*") if p.is_file()]
    assert files
    assert not [p for p in files if key.encode() in p.read_bytes()]
    return [log.message for log in logs]


@pytest.fixture
def info_logs() -> Iterator[None]:
    """Flow and task run INFO logs reach the API (the session may run at WARNING)."""
    loggers = [logging.getLogger(n) for n in ("prefect", "prefect.flow_runs", "prefect.task_runs")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.INFO)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def one_stage_spec(name: str, mock_url: str, api_key: str) -> WorkflowSpec:
    return WorkflowSpec.model_validate(
        {
            "name": name,
            "model_providers": [{"name": "keyed", "endpoint": mock_url, "api_key": api_key}],
            "model_configs": [{"alias": "m", "model": "mock-model", "provider": "keyed"}],
            "run_config": {"buffer_size": 5, "seed": 1},
            "stages": [topic_question_stage("topics", 10, alias="m")],
        }
    )


async def test_secret_block_key_is_used_and_never_stored(
    prefect_server, mock_llm, info_logs, tmp_path
):
    secret = "sk-test-secret-987"
    await Secret(value=secret).asave("dd-test-key", overwrite=True)
    since = datetime.now(UTC)
    spec = one_stage_spec("secret-keyed", mock_llm.url, "secret:dd-test-key")
    artifacts = tmp_path / "artifacts"
    out = await run_workflow_spec(spec=spec, artifact_path=str(artifacts))
    assert out["records"] == 10
    assert mock_llm.stats()["auth"] == {key_hash(secret): 10}
    logs = await assert_key_nowhere(secret, since, artifacts, prefect_server.storage)
    assert any("running 'secret-keyed'" in message for message in logs)  # logs were sent

    # Through DataDesigner.create too (a dataset flow, not a workflow).
    d = DataDesigner(
        artifact_path=artifacts,
        model_providers=[
            dd.ModelProvider(name="mock", endpoint=mock_llm.url, api_key="secret:dd-test-key")
        ],
        run_config=dd.RunConfig(buffer_size=5),
    )
    created = await d.acreate(topics(), num_records=5, dataset_name="secret-create")
    assert created.count_records() == 5
    assert mock_llm.stats()["auth"] == {key_hash(secret): 15}
    await assert_key_nowhere(secret, since, artifacts)


async def test_env_var_key_is_used_and_never_stored(
    prefect_server, mock_llm, info_logs, monkeypatch, tmp_path
):
    key = "sk-env-key-4242"
    monkeypatch.setenv("DD_E2E_API_KEY", key)
    since = datetime.now(UTC)
    spec = one_stage_spec("env-keyed", mock_llm.url, "DD_E2E_API_KEY")
    artifacts = tmp_path / "artifacts"
    out = await run_workflow_spec(spec=spec, artifact_path=str(artifacts))
    assert out["records"] == 10
    assert mock_llm.stats()["auth"] == {key_hash(key): 10}
    await assert_key_nowhere(key, since, artifacts)
