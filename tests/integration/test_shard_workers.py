"""Shards on a deployment's workers (issue 14), on real parts: a `prefect server start`
backed by PostgreSQL, this repo's ``dd-prefect-shard/default`` deployment (prefect.yaml)
created with `prefect deploy`, two `prefect worker start` processes on its process pool,
and the mock LLM server over HTTP. The run that owns the dataset runs in this process.

Both workers run in a mount namespace of their own where one directory of the test
(``blind/``) is an empty tmpfs: a worker that does not see the artifact path.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pandas as pd
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.states import Crashed

import dd_prefect.config as dd
from dd_prefect import DataDesigner, ResumeMode
from dd_prefect.errors import DataDesignerBudgetExceededError, GenerationError
from dd_prefect.orchestration.runtime import drain_prefect_workers
from tests.integration.create_script import builder
from tests.integration.processes import descendants
from tests.shard_cluster import DEPLOYMENT, ROOT, ShardCluster

pytestmark = pytest.mark.e2e
LIMIT = 8  # the model's max_parallel_requests: its global limit across every worker


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShardCluster]:
    assert shutil.which("unshare"), "util-linux's unshare is needed for the blind worker"
    cluster = ShardCluster(tmp_path_factory.mktemp("shards"), workers=2)
    try:
        cluster.start()
        with cluster.server.client_settings():
            yield cluster
            drain_prefect_workers()
    finally:
        cluster.stop()


def designer(artifacts: Path, url: str, **options) -> DataDesigner:
    return DataDesigner(
        artifact_path=artifacts,
        model_providers=[dd.ModelProvider(name="mock", endpoint=url)],
        run_config=dd.RunConfig(buffer_size=10, seed=11, max_concurrent_row_groups=2),
        **options,
    )


def answers(parallel: int = LIMIT) -> dd.DataDesignerConfigBuilder:
    model = dd.ModelConfig(
        alias="writer",
        model="shard-model",
        provider="mock",
        inference_parameters=dd.ChatCompletionInferenceParams(max_parallel_requests=parallel),
    )
    b = dd.DataDesignerConfigBuilder(model_configs=[model])
    b.add_column(
        name="n", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 1000}
    )
    b.add_column(
        name="answer",
        column_type="llm-text",
        model_alias="writer",
        prompt="Say something about {{ topic }} and {{ n }}",
    )
    return b


def topics() -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder()
    b.add_column(
        name="topic",
        column_type="sampler",
        sampler_type="category",
        params={"values": ["tea", "coffee", "juice", "water", "milk"]},
    )
    return b


async def test_workflow_stage_sharded_over_two_workers(cluster, mock_llm_factory, tmp_path):
    """Stage 2 of a workflow in 4 shards on two workers: each worker ran shards, the
    output equals an unsharded run's row for row, and the provider never saw more than
    the model's limit in flight."""
    mock = mock_llm_factory(latency=0.05)
    artifacts = tmp_path / "artifacts"

    def workflow(d: DataDesigner, name: str, shards: int):
        w = d.compose_workflow(name)
        w.add_stage("topics", topics(), num_records=20)
        return w.add_stage("answers", answers(), num_records=160, shards=shards)

    sharded = designer(artifacts, mock.url, shard_deployment=DEPLOYMENT)
    results = await workflow(sharded, "sharded", 4).arun()
    assert mock.stats()["requests"] == 160
    assert mock.stats()["max_in_flight"] <= LIMIT
    stage_dir = Path(results["answers"].base_dataset_path)
    meta = json.loads((stage_dir / "metadata.json").read_text())
    shards = meta["shards"]
    assert [(s["first_row_group"], s["last_row_group"]) for s in shards] == [
        (0, 3),
        (4, 7),
        (8, 11),
        (12, 15),
    ]
    assert all(s["status"] == "completed" and s["records"] == 40 for s in shards)
    workers = {w.pid for w in cluster.workers}
    assert {s["parent_pid"] for s in shards} == workers, cluster.logs()  # both ran shards
    assert all(s["pid"] != os.getpid() for s in shards)
    assert meta["llm_usage"]["mock/shard-model"]["requests"] == 160  # reported by shards
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                name=FlowRunFilterName(any_=[f"answers-shard-{k}" for k in range(4)])
            )
        )
    assert len(runs) == 4 and all(r.parent_task_run_id for r in runs)  # under the stage
    names = cluster.database.query("SELECT name FROM flow_run WHERE name LIKE 'answers-shard-%'")
    assert sorted(names.split()) == [f"answers-shard-{k}" for k in range(4)]  # PostgreSQL's

    unsharded = await workflow(designer(artifacts, mock.url), "unsharded", 1).arun()
    pd.testing.assert_frame_equal(
        results["answers"].load_dataset(), unsharded["answers"].load_dataset()
    )


async def test_killed_worker_then_resume_regenerates_only_unfinished_row_groups(
    cluster, mock_llm_factory, tmp_path
):
    """SIGKILL one worker (and its flow-run processes) mid-stage; once its shard runs are
    Crashed (what `dd-prefect setup`'s automation does, see test_zombie_runs), the run
    fails naming them after the other shards finish. The resume starts only unfinished
    shards and asks exactly for the row groups whose results were never stored."""
    mock = mock_llm_factory(latency=0.2)
    artifacts = tmp_path / "artifacts"
    d = designer(artifacts, mock.url, shard_deployment=DEPLOYMENT)
    base = artifacts / "killed"
    run = asyncio.create_task(d.acreate(answers_seeded(), 240, "killed", shards=4))
    victim = await _worker_with_progress(base, cluster, mock)
    killed = victim.pid
    for pid in [killed, *descendants(killed)]:
        os.kill(pid, signal.SIGKILL)
    victim.wait(timeout=10)
    await asyncio.sleep(1)
    async with get_client() as client:
        for report in _reports(base):
            if report["parent_pid"] == killed and report["status"] == "running":
                await client.set_flow_run_state(
                    report["flow_run_id"], Crashed(message="worker killed"), force=True
                )
    with pytest.raises(GenerationError, match=r"shard \d .*ended CRASHED"):
        await asyncio.wait_for(run, timeout=180)
    cluster.workers.remove(victim)
    cluster.start_worker(2)

    key = json.loads((base / "metadata.json").read_text())["dataset_key"]
    stored = cluster.server.storage / "dd-prefect" / key
    missing = [i for i in range(24) if not (stored / f"rg-{i}").exists()]
    assert missing, "every row group finished before the kill"
    done = [r["shard"] for r in _reports(base) if r["status"] == "completed"]
    mock.configure(latency=0.02)  # the resume only counts requests
    before = mock.stats()["requests"]
    resumed = await d.acreate(
        answers_seeded(), 240, "killed", resume=ResumeMode.IF_POSSIBLE, shards=4
    )
    assert resumed.count_records() == 240
    assert mock.stats()["requests"] - before == 10 * len(missing)
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                name=FlowRunFilterName(any_=[f"killed-shard-{k}" for k in done])
            )
        )
    assert len(runs) == len(done)  # completed shards were not started again


async def test_killed_parent_then_resume_stops_its_orphaned_shards(
    cluster, mock_llm_factory, tmp_path
):
    """kill -9 of the run that owns a dataset leaves its shard flow runs going on the
    workers. A resume asks them to cancel (their workers kill them) and waits for them to
    end before it starts the shards again, so no row is generated twice beyond what was in
    flight (an orphan that finishes first is simply reused)."""
    mock = mock_llm_factory(latency=0.2)
    options = ["--shards", "2", "--shard-deployment", DEPLOYMENT, "--row-groups", "1"]
    command = [sys.executable, "-m", "tests.integration.create_script", str(tmp_path)]
    command += ["orphan", mock.url, "160", "10", *options]
    env = {**cluster.server.worker_env, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True)
    base = tmp_path / "orphan"
    for _ in range(600):
        reports = _reports(base)
        if len(reports) == 2 and all(r["row_groups"] for r in reports):
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail(f"the shards made no progress:\n{cluster.logs()}")
    os.killpg(parent.pid, signal.SIGKILL)
    parent.wait(timeout=10)
    orphans = [r["flow_run_id"] for r in reports]

    d = DataDesigner(
        artifact_path=tmp_path,
        model_providers=[dd.ModelProvider(name="mock", endpoint=mock.url)],
        run_config=dd.RunConfig(buffer_size=10, seed=7, max_concurrent_row_groups=1),
        shard_deployment=DEPLOYMENT,
    )
    resumed = await asyncio.wait_for(
        d.acreate(builder(8), 160, "orphan", resume=ResumeMode.IF_POSSIBLE, shards=2), 180
    )
    assert resumed.count_records() == 160
    async with get_client() as client:
        states = [(await client.read_flow_run(UUID(i))).state for i in orphans]
    assert all(s is not None and s.is_final() for s in states), states
    assert any(s is not None and s.is_cancelled() for s in states), states
    # At most the row group each orphan had in flight (10 rows, 2 columns) is asked again.
    assert mock.stats()["repeated_prompts"] <= 2 * 10 * 2


async def test_remote_shards_share_the_budget(cluster, mock_llm_factory, tmp_path):
    """max_requests=20 over two remote shards: each may spend 10, so each runs one row
    group (10 requests) and stops; the parent raises the budget error with the sum."""
    mock = mock_llm_factory()
    d = designer(tmp_path, mock.url, shard_deployment=DEPLOYMENT)
    one_at_a_time = {"max_requests": 20, "max_concurrent_row_groups": 1}
    d.set_run_config(d.run_config.model_copy(update=one_at_a_time))
    with pytest.raises(DataDesignerBudgetExceededError, match="max_requests=20"):
        await asyncio.wait_for(d.acreate(answers_seeded(), 80, "budget", shards=2), 120)
    assert mock.stats()["requests"] == 20
    meta = json.loads((tmp_path / "budget" / "metadata.json").read_text())
    assert meta["llm_usage"]["mock/shard-model"]["requests"] == 20
    assert meta["actual_records"] == 20


async def test_worker_that_cannot_see_the_artifact_path(cluster, mock_llm_factory):
    mock = mock_llm_factory()
    d = designer(cluster.blind, mock.url, shard_deployment=DEPLOYMENT)
    with pytest.raises(GenerationError, match=r"cannot use dataset directory .*blind/hidden"):
        await asyncio.wait_for(d.acreate(answers_seeded(), 40, "hidden", shards=2), 120)
    assert mock.stats()["requests"] == 0


def answers_seeded() -> dd.DataDesignerConfigBuilder:
    """`answers` with its topic sampled in the same config (a dataset of its own)."""
    b = answers()
    b.add_column(
        name="topic",
        column_type="sampler",
        sampler_type="category",
        params={"values": ["tea", "coffee", "juice"]},
    )
    return b


def _reports(base: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((base / "shards").glob("shard-*.json"))]


async def _worker_with_progress(base: Path, cluster: ShardCluster, mock) -> subprocess.Popen:
    """The worker running a shard that has finished a row group, once every shard runs
    and the mock has answered a third of the requests."""
    workers = {w.pid: w for w in cluster.workers}
    for _ in range(600):
        reports = _reports(base)
        if len(reports) == 4 and mock.stats()["requests"] >= 80:
            for report in reports:
                if report["row_groups"] and report["status"] == "running":
                    return workers[report["parent_pid"]]
        await asyncio.sleep(0.1)
    pytest.fail(f"no shard made progress:\n{cluster.logs()}")
