"""DataDesigner.create / preview on a real Prefect server and the mock LLM server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from prefect.client.orchestration import get_client

import dd_prefect.config as dd
from dd_prefect import DataDesigner, ResumeMode
from dd_prefect.errors import ResumeError
from dd_prefect.orchestration.throttle import limit_name
from tests.integration.create_script import builder
from tests.integration.progress import finished_row_groups
from tests.integration.test_throttle_lease import reset_limit

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def designer(tmp_path: Path, server, **run) -> DataDesigner:
    return DataDesigner(
        artifact_path=tmp_path / "artifacts",
        model_providers=[dd.ModelProvider(name="mock", endpoint=server.url)],
        run_config=dd.RunConfig(**{"buffer_size": 10, "seed": 7, **run}),
    )


async def test_create_load_export(prefect_server, mock_llm, tmp_path):
    d = designer(tmp_path, mock_llm)
    results = await d.acreate(builder(8), num_records=35, dataset_name="drinks")
    df = results.load_dataset()
    assert results.count_records() == 35 == len(df)
    assert list(df.columns) == ["topic", "n", "question", "answer"]
    assert mock_llm.stats()["requests"] == 70
    base = tmp_path / "artifacts" / "drinks"
    assert sorted(p.name for p in (base / "parquet-files").iterdir()) == [
        f"batch_0000{i}.parquet" for i in range(4)
    ]
    meta = json.loads((base / "metadata.json").read_text())
    assert meta["status"] == "completed" and meta["actual_records"] == 35
    assert meta["target_records"] == 35 and meta["buffer_size"] == 10
    assert meta["num_batches"] == 4 and meta["config_fingerprint"]
    assert meta["column_stats"]["answer"] == {"nulls": 0, "non_null": 35}
    assert meta["llm_usage"]["mock/mock-model"]["requests"] == 70
    assert dd.DataDesignerConfig.from_file(base / "config.yaml").fingerprint() == (
        builder(8).build().fingerprint()
    )
    for fmt in ("jsonl", "csv", "parquet"):
        out = results.export(tmp_path / f"out.{fmt}")
        back = {
            "jsonl": lambda p: pd.read_json(p, lines=True),
            "csv": pd.read_csv,
            "parquet": pd.read_parquet,
        }[fmt](out)
        assert len(back) == 35 and list(back["answer"]) == list(df["answer"])
    assert not list(tmp_path.glob(".*.tmp"))


async def test_preview_writes_nothing(prefect_server, mock_llm, tmp_path):
    preview = await designer(tmp_path, mock_llm).apreview(builder(8), num_records=5)
    assert preview.count_records() == 5
    assert preview.dataset["answer"].str.startswith("Mock answer").all()
    assert not (tmp_path / "artifacts").exists()


async def test_rerun_with_resume_reuses_row_groups(prefect_server, mock_llm, tmp_path):
    d = designer(tmp_path, mock_llm)
    first = (await d.acreate(builder(8), 30, "reuse")).load_dataset()
    requests = mock_llm.stats()["requests"]
    second = await d.acreate(builder(8), 30, "reuse", resume=ResumeMode.IF_POSSIBLE)
    assert mock_llm.stats()["requests"] == requests  # every row group came from the cache
    pd.testing.assert_frame_equal(first, second.load_dataset())

    # A cached result whose file is gone is not trusted: that row group alone is redone.
    (tmp_path / "artifacts" / "reuse" / "parquet-files" / "batch_00001.parquet").unlink()
    third = await d.acreate(builder(8), 30, "reuse", resume="if_possible")
    assert mock_llm.stats()["requests"] == requests + 20
    pd.testing.assert_frame_equal(first, third.load_dataset())

    # NEVER starts clean and regenerates everything.
    await d.acreate(builder(8), 30, "reuse", resume=ResumeMode.NEVER)
    assert mock_llm.stats()["requests"] == requests + 20 + 60


async def test_resume_always_needs_something_compatible(prefect_server, mock_llm, tmp_path):
    d = designer(tmp_path, mock_llm)
    with pytest.raises(ResumeError, match=r"no metadata\.json"):
        await d.acreate(builder(8), 10, "always", resume=ResumeMode.ALWAYS)
    assert mock_llm.stats()["requests"] == 0
    await d.acreate(builder(8), 10, "always")
    with pytest.raises(ResumeError, match="different config"):
        await d.acreate(builder(8), 20, "always", resume=ResumeMode.ALWAYS)
    await d.acreate(builder(8), 10, "always", resume=ResumeMode.ALWAYS)
    assert mock_llm.stats()["requests"] == 20


FAIL_FLAG = "DD_TEST_FAIL_ONCE"


def fail_once(df: pd.DataFrame, params: dict) -> list:
    """Fails the first time it sees row 20 while the flag file exists."""
    flag = Path(os.environ[FAIL_FLAG])
    if 20 in set(df["row"]) and flag.exists():
        flag.unlink()
        raise RuntimeError("transient failure")
    return list(df["row"])


async def test_prefect_retry_reuses_finished_row_groups(
    prefect_server, mock_llm, tmp_path, monkeypatch
):
    flag = tmp_path / "fail-once"
    flag.write_text("x")
    monkeypatch.setenv(FAIL_FLAG, str(flag))
    b = builder(8)
    b.with_seed_dataset(dd.DataFrameSeedSource(df=pd.DataFrame({"row": range(30)})))
    b.add_column(
        name="check",
        column_type="custom",
        function=f"{__name__}:fail_once",
        generation_strategy="full_column",
        required_columns=["answer"],
    )
    d = designer(tmp_path, mock_llm, max_concurrent_row_groups=1)
    d.runtime.flow_retries = 1
    results = await d.acreate(b, 30, "retry")
    assert results.count_records() == 30 and not flag.exists()
    # Row groups 0 and 1 finished before the failure and were reused by the retry;
    # row group 2 was generated twice.
    assert mock_llm.stats()["requests"] == 60 + 20
    # Usage: this attempt's spend, and every attempt's (nothing reused is counted twice).
    ((key, this_attempt),) = results.metadata.llm_usage.items()
    assert this_attempt["requests"] == 20
    assert results.metadata.llm_usage_total[key]["requests"] == 60 + 20


@pytest.mark.e2e
def test_killed_run_resumes_without_repeating_finished_row_groups(
    prefect_server, mock_llm_factory, tmp_path
):
    server = mock_llm_factory(latency=0.05)
    # No global-limit leases: the killed process's would hold the slots up to a minute.
    env = {
        **os.environ,
        **prefect_server.env,
        "PYTHONPATH": str(ROOT),
        "DD_PREFECT_GLOBAL_THROTTLE": "0",
    }
    cmd = [
        sys.executable,
        "-m",
        "tests.integration.create_script",
        str(tmp_path / "a"),
        "crash",
        server.url,
        "200",
        "20",
        "--row-groups",
        "1",
        "--parallel",
        "4",
    ]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True)
    dataset_dir = tmp_path / "a" / "crash"
    deadline = time.monotonic() + 120
    finished = 0
    while time.monotonic() < deadline and finished < 3:
        time.sleep(0.2)
        finished = finished_row_groups(dataset_dir)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 3 <= finished < 10
    done_rows = finished_row_groups(dataset_dir) * 20
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
    assert server.stats()["requests"] - before == (200 - done_rows) * 2

    clean = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.integration.create_script",
            str(tmp_path / "b"),
            "crash",
            server.url,
            "200",
            "20",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert clean.returncode == 0, clean.stderr
    from dd_prefect.workflow.results import DatasetCreationResults

    pd.testing.assert_frame_equal(
        DatasetCreationResults(tmp_path / "a" / "crash").load_dataset(),
        DatasetCreationResults(tmp_path / "b" / "crash").load_dataset(),
    )


@pytest.mark.e2e
def test_two_processes_share_the_global_limit(prefect_server, mock_llm_factory, tmp_path):
    server = mock_llm_factory(latency=0.1)

    async def fresh_limit() -> None:
        """An earlier test on this session's server may have left the limit at another
        size (an existing limit is respected): the processes create it with 6."""
        async with get_client() as client:
            await reset_limit(client, limit_name("mock/mock-model"), None)

    asyncio.run(fresh_limit())
    env = {**os.environ, **prefect_server.env, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.create_script",
                str(tmp_path / f"p{i}"),
                "shared",
                server.url,
                "60",
                "30",
                "--parallel",
                "6",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    stats = server.stats()
    assert stats["requests"] == 2 * 60 * 2
    assert stats["max_in_flight"] <= 6  # each alone would use 6; together still 6
