"""Usage, cost and budgets of DataDesigner.create on a real Prefect server and the mock LLM
server over HTTP: recorded usage equals the mock's counters, a budget stops a run cleanly
and a resume with a raised budget completes it without repeating a request."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import dd_prefect.config as dd
from dd_prefect import DataDesignerBudgetExceededError, ResumeMode
from tests.integration.create_script import builder
from tests.integration.progress import finished_row_groups
from tests.integration.test_create import ROOT, designer

pytestmark = pytest.mark.integration


def priced(b: dd.DataDesignerConfigBuilder) -> dd.DataDesignerConfigBuilder:
    for m in b.model_configs:
        m.input_price_per_million_tokens = 1.0
        m.output_price_per_million_tokens = 4.0
    return b


async def test_usage_and_cost_equal_the_mocks_counters(prefect_server, mock_llm, tmp_path):
    d = designer(tmp_path, mock_llm)
    results = await d.acreate(priced(builder(8)), num_records=25, dataset_name="spend")
    stats = mock_llm.stats()
    usage = results.usage
    (m,) = usage.models.values()
    assert m.requests == m.successes == stats["requests"] == 50
    assert m.prompt_tokens == stats["prompt_tokens"]
    assert m.completion_tokens == stats["completion_tokens"]
    expected = (stats["prompt_tokens"] * 1.0 + stats["completion_tokens"] * 4.0) / 1e6
    assert usage.cost == pytest.approx(expected)
    assert usage.last_attempt == usage.models


async def test_budget_stop_then_resume_repeats_no_request(prefect_server, mock_llm, tmp_path):
    d = designer(tmp_path, mock_llm, max_concurrent_row_groups=1, max_requests=30)
    b = builder(8)  # two LLM columns: 20 requests per row group of 10
    with pytest.raises(DataDesignerBudgetExceededError, match=r"max_requests=30.*40 requests"):
        await d.acreate(b, num_records=55, dataset_name="capped")
    base: Path = tmp_path / "artifacts" / "capped"
    meta = json.loads((base / "metadata.json").read_text())
    assert meta["status"] == "failed" and "max_requests=30" in meta["error"]
    assert len(meta["row_groups"]) == 2 and meta["actual_records"] == 20
    assert sorted(p.name for p in (base / "parquet-files").iterdir()) == [
        "batch_00000.parquet",
        "batch_00001.parquet",
    ]
    assert meta["llm_usage_total"]["mock/mock-model"]["requests"] == 40
    assert mock_llm.stats()["requests"] == 40

    d.set_run_config(d.runtime.run_config.model_copy(update={"max_requests": 200}))
    results = await d.acreate(b, 55, "capped", resume=ResumeMode.IF_POSSIBLE)
    assert results.count_records() == 55
    assert mock_llm.stats()["requests"] == 110  # a clean run's: nothing asked twice
    usage = results.usage
    assert usage.requests == 110 and usage.last_attempt["mock/mock-model"].requests == 70
    assert [a["mock/mock-model"].requests for a in usage.attempts] == [40, 70]

    # Reusing finished row groups costs nothing: a spent budget does not stop that.
    d.set_run_config(d.runtime.run_config.model_copy(update={"max_requests": 10}))
    again = await d.acreate(b, 55, "capped", resume=ResumeMode.IF_POSSIBLE)
    assert again.count_records() == 55 and mock_llm.stats()["requests"] == 110


@pytest.mark.e2e
def test_usage_equals_the_mocks_counters_across_a_kill_and_a_resume(
    prefect_server, mock_llm_factory, tmp_path
):
    """A killed run's spend stays recorded up to its last flush (every second): at most a
    second of requests plus those in flight are unrecorded."""
    server = mock_llm_factory(latency=0.2)
    # No global-limit leases: the killed process's would hold the slots up to a minute.
    env = {
        **os.environ,
        **prefect_server.env,
        "PYTHONPATH": str(ROOT),
        "DD_PREFECT_GLOBAL_THROTTLE": "0",
    }
    cmd = [sys.executable, "-m", "tests.integration.create_script", str(tmp_path), "k"]
    cmd += [server.url, "100", "10", "--row-groups", "1", "--parallel", "2"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True)
    meta_path = tmp_path / "k" / "metadata.json"
    deadline, finished = time.monotonic() + 120, 0
    while time.monotonic() < deadline and finished < 3:
        time.sleep(0.1)
        finished = finished_row_groups(meta_path.parent)
    time.sleep(0.5)  # part-way through the next row group
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = json.loads(meta_path.read_text())["llm_usage_total"]["mock/mock-model"]
    time.sleep(0.5)  # the mock finishes (and counts the tokens of) what was in flight
    asked = server.stats()
    server.configure(latency=0.02)  # the resume only counts
    lost = asked["requests"] - killed["requests"]
    assert 0 <= lost <= 2 + 10  # in flight, plus one second at 2 x 1 / 0.2 s
    assert killed["prompt_tokens"] <= asked["prompt_tokens"]

    resumed = subprocess.run(
        [*cmd, "--resume", "if_possible"], env=env, cwd=ROOT, capture_output=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    total = json.loads(meta_path.read_text())["llm_usage_total"]["mock/mock-model"]
    now = server.stats()
    assert total["requests"] == now["requests"] - lost
    assert total["completion_tokens"] <= now["completion_tokens"]
    last = json.loads(meta_path.read_text())["llm_usage"]["mock/mock-model"]
    assert last["requests"] == now["requests"] - asked["requests"]  # the resume's, exactly
    assert last["prompt_tokens"] == now["prompt_tokens"] - asked["prompt_tokens"]


async def test_a_workflows_budget_counts_every_stage(prefect_server, mock_llm, tmp_path):
    d = designer(tmp_path, mock_llm, max_concurrent_row_groups=1, max_requests=50)
    more = dd.DataDesignerConfigBuilder(model_configs=builder(8).model_configs)
    more.add_column(name="more", column_type="llm-text", model_alias="fast", prompt="{{ answer }}")

    def workflow():
        return (
            d.compose_workflow("budgeted")
            .add_stage("qa", builder(8), num_records=20)
            .add_stage("more", more)
        )

    with pytest.raises(DataDesignerBudgetExceededError, match=r"max_requests=50.*50 requests"):
        await workflow().arun()
    assert mock_llm.stats()["requests"] == 40 + 10  # the second stage's first row group
    d.set_run_config(d.runtime.run_config.model_copy(update={"max_requests": 1000}))
    results = await workflow().arun(ResumeMode.IF_POSSIBLE)
    assert results.count_stage_output_records("more") == 20
    assert mock_llm.stats()["requests"] == 60  # a clean run's: 40 + 20
    assert results.usage.requests == 60
