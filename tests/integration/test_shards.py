"""Sharded datasets in this process (issue 14): shards are subflows of the run, on a real
Prefect server and the mock LLM server over HTTP. The shards on a deployment's workers are
in tests/integration/test_shard_workers.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

import dd_prefect.config as dd
from dd_prefect import DataDesigner, ResumeMode
from dd_prefect.errors import ConfigValidationError, DataDesignerBudgetExceededError
from tests.integration.create_script import builder

pytestmark = pytest.mark.integration


def designer(tmp_path: Path, url: str, **run) -> DataDesigner:
    return DataDesigner(
        artifact_path=tmp_path / "artifacts",
        model_providers=[dd.ModelProvider(name="mock", endpoint=url)],
        run_config=dd.RunConfig(**{"buffer_size": 10, "seed": 7, **run}),
    )


async def test_in_process_shards_write_the_unsharded_dataset(prefect_server, mock_llm, tmp_path):
    d = designer(tmp_path, mock_llm.url)
    one = await d.acreate(builder(8), num_records=35, dataset_name="one")
    three = await d.acreate(builder(8), num_records=35, dataset_name="three", shards=3)
    pd.testing.assert_frame_equal(one.load_dataset(), three.load_dataset())
    assert mock_llm.stats()["requests"] == 2 * 70
    base = tmp_path / "artifacts"
    assert sorted(p.name for p in (base / "three" / "parquet-files").iterdir()) == sorted(
        p.name for p in (base / "one" / "parquet-files").iterdir()
    )
    meta = json.loads((base / "three" / "metadata.json").read_text())
    assert meta["status"] == "completed" and meta["actual_records"] == 35
    assert meta["llm_usage"]["mock/mock-model"]["requests"] == 70
    # 4 row groups over 3 shards: contiguous, the first shard takes the remainder.
    ranges = [(s["first_row_group"], s["last_row_group"]) for s in meta["shards"]]
    assert ranges == [(0, 1), (2, 2), (3, 3)]
    assert [s["status"] for s in meta["shards"]] == ["completed"] * 3
    assert [s["records"] for s in meta["shards"]] == [20, 10, 5]
    async with get_client() as client:
        names = [f"three-shard-{k}" for k in range(3)]
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=names))
        )
    assert sorted(r.name for r in runs) == names
    assert {str(r.id) for r in runs} == {s["flow_run_id"] for s in meta["shards"]}
    assert all(r.parent_task_run_id is not None for r in runs)  # subflows of the run


async def test_budget_stop_then_resume_reruns_only_unfinished_shards(
    prefect_server, mock_llm, tmp_path
):
    """A budget stops the shards; the resume starts only the shards that had not
    completed, each reusing its finished row groups, and asks for nothing twice."""
    d = designer(tmp_path, mock_llm.url, max_requests=70, max_concurrent_row_groups=1)
    with pytest.raises(DataDesignerBudgetExceededError):
        await d.acreate(builder(2), num_records=80, dataset_name="budget", shards=2)
    spent = mock_llm.stats()["requests"]
    meta = json.loads((tmp_path / "artifacts" / "budget" / "metadata.json").read_text())
    assert meta["status"] == "failed" and 0 < meta["actual_records"] < 80
    d = designer(tmp_path, mock_llm.url, max_concurrent_row_groups=1)
    resumed = await d.acreate(
        builder(2), num_records=80, dataset_name="budget", resume=ResumeMode.IF_POSSIBLE, shards=2
    )
    assert resumed.count_records() == 80
    finished_before = meta["actual_records"]
    assert mock_llm.stats()["requests"] - spent == 2 * (80 - finished_before)
    clean = await designer(tmp_path, mock_llm.url).acreate(builder(2), 80, "clean")
    pd.testing.assert_frame_equal(resumed.load_dataset(), clean.load_dataset())


def shout(row: dict) -> dict:
    return {**row, "shout": str(row["topic"]).upper()}


def test_remote_shards_refuse_what_cannot_leave_the_process(tmp_path, monkeypatch):
    """A DataFrame seed, or a function defined in the running script, cannot go to a
    shard deployment's workers: refused before anything runs, naming it."""
    monkeypatch.setattr(sys.modules["__main__"], "shout", shout, raising=False)
    d = DataDesigner(
        artifact_path=tmp_path,
        model_providers=[dd.ModelProvider(name="mock", endpoint="http://127.0.0.1:9/v1")],
        shard_deployment="dd-prefect-shard/default",
    )
    seeded = builder(2).with_seed_dataset(dd.DataFrameSeedSource(df=pd.DataFrame({"x": [1, 2, 3]})))
    with pytest.raises(ConfigValidationError, match="seed is a DataFrame"):
        d.create(seeded, num_records=3, dataset_name="df", shards=2)
    custom = builder(2)
    custom.add_column(
        name="shout",
        column_type="custom",
        generator_function="__main__:shout",
        required_columns=["topic"],
    )
    with pytest.raises(ConfigValidationError, match=r"__main__:shout.*defined in the script"):
        d.create(custom, num_records=3, dataset_name="main", shards=2)
    assert not list(tmp_path.iterdir())  # nothing written
