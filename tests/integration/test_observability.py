"""What a create() run shows in Prefect (flow run, task runs, artifacts, logs), and that
the provider's api key shows up nowhere there nor on disk."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterName,
    LogFilter,
    LogFilterFlowRunId,
)

import dd_prefect.config as dd
from dd_prefect import DataDesigner
from tests.integration.create_script import builder

pytestmark = pytest.mark.integration

KEY_ENV = "DD_TEST_API_KEY"
KEY = "sk-secret-value-123"


@pytest.fixture
def run_logs_at_info() -> Iterator[None]:
    """Flow and task run loggers at INFO (the session runs Prefect at WARNING), so the
    run's own log lines reach the API and can be checked too."""
    loggers = [logging.getLogger(n) for n in ("prefect.flow_runs", "prefect.task_runs")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.INFO)
    yield
    for lg, level in zip(loggers, levels, strict=True):
        lg.setLevel(level)


def files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


async def test_create_run_in_prefect_and_no_key_anywhere(
    prefect_server, mock_llm, tmp_path, monkeypatch, run_logs_at_info
):
    from prefect.logging.handlers import APILogHandler

    monkeypatch.setenv(KEY_ENV, KEY)
    name = f"obs-{uuid.uuid4().hex[:8]}"
    designer = DataDesigner(
        artifact_path=tmp_path / "artifacts",
        model_providers=[dd.ModelProvider(name="mock", endpoint=mock_llm.url, api_key=KEY_ENV)],
        run_config=dd.RunConfig(buffer_size=10, seed=5),
    )
    results = await designer.acreate(builder(8), num_records=30, dataset_name=name)
    assert results.count_records() == 30
    await APILogHandler.aflush()

    # The mock got the key on every request (sent as a bearer token).
    stats = mock_llm.stats()
    assert stats["requests"] == 60
    assert stats["auth"] == {hashlib.sha256(KEY.encode()).hexdigest()[:12]: 60}

    async with get_client() as client:
        flow_runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))
        )
        assert len(flow_runs) == 1
        flow_run = flow_runs[0]
        assert flow_run.name == name
        assert flow_run.state is not None and flow_run.state.is_completed()
        assert (await client.read_flow(flow_run.flow_id)).name == "dd-prefect-create"
        assert set(flow_run.parameters) == {
            "dataset_name",
            "num_records",
            "resume",
            "config_fingerprint",
        }  # plain JSON only: the run's objects are bound in process, not passed
        assert flow_run.parameters["dataset_name"] == name
        assert flow_run.parameters["num_records"] == 30

        # One task run per row group, none per cell.
        task_runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id]))
        )
        assert sorted(t.name for t in task_runs) == [f"row-group-{i}" for i in range(3)]
        assert all(t.state is not None and t.state.is_completed() for t in task_runs)

        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]))
        )
        by_key = {a.key: a for a in artifacts}
        progress = by_key[f"{name}-progress"]
        assert progress.type == "progress" and float(progress.data) == 100.0
        summary = by_key[f"{name}-summary"]
        assert summary.type == "table"
        table = json.loads(summary.data) if isinstance(summary.data, str) else summary.data
        rows = {row["item"]: row for row in table}
        for column in ("topic", "n", "question", "answer"):
            assert rows[f"column {column}"]["value"] == 30
        assert rows["records"]["value"] == 30
        usage = rows["LLM mock/mock-model: requests (every attempt)"]
        assert usage["value"] == 60 and usage["detail"].endswith("this attempt 60 requests")

        logs = await client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run.id]))
        )
        assert any(f"dataset '{name}'" in log.message for log in logs)  # logs did arrive

        shown = [flow_run, *task_runs, *artifacts, *logs]
        for item in shown:
            assert KEY not in item.model_dump_json(), item

    # Nor on disk: the dataset, Prefect's result storage, Prefect's database and logs.
    assert files_containing(tmp_path, KEY.encode()) == []
    assert files_containing(prefect_server.home, KEY.encode()) == []


def fail_first_row_group(df, params):  # a full-column function: row group 0 fails at once
    if 0 in set(df["row"]):
        raise RuntimeError("row group 0 broke")
    return [True] * len(df)


async def test_row_groups_stopped_by_a_failed_sibling_read_cancelled(
    prefect_server, mock_llm_factory, tmp_path
):
    import pandas as pd
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterFlowRunId

    from dd_prefect.errors import GenerationError

    slow = mock_llm_factory(latency=2.0)
    name = f"cancel-{uuid.uuid4().hex[:8]}"
    b = dd.DataDesignerConfigBuilder(
        model_configs=[
            dd.ModelConfig(
                alias="fast",
                model="mock-model",
                provider="mock",
                inference_parameters=dd.ChatCompletionInferenceParams(max_parallel_requests=16),
            )
        ]
    )
    b.with_seed_dataset(dd.DataFrameSeedSource(df=pd.DataFrame({"row": range(20)})))
    b.add_column(
        name="checked",
        column_type="custom",
        function=f"{__name__}:fail_first_row_group",
        generation_strategy="full_column",
    )
    b.add_column(name="answer", column_type="llm-text", model_alias="fast", prompt="{{ row }}")
    designer = DataDesigner(
        artifact_path=tmp_path,
        model_providers=[dd.ModelProvider(name="mock", endpoint=slow.url)],
        run_config=dd.RunConfig(buffer_size=5, max_concurrent_row_groups=4),
    )
    with pytest.raises(GenerationError, match="row group 0 broke"):
        await designer.acreate(b, 20, name)
    async with get_client() as client:
        (flow_run,) = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))
        )
        task_runs = await client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[flow_run.id]))
        )
    states = {t.name: t.state.name for t in task_runs if t.state is not None}
    assert states["row-group-0"] == "Failed"
    assert {states[f"row-group-{i}"] for i in (1, 2, 3)} == {"Cancelled"}


async def test_workflow_run_shows_its_stages_and_output_on_the_run(
    prefect_server, mock_llm, tmp_path
):
    from tests.integration.workflow_callbacks import make_designer, three_stage

    name = f"board-{uuid.uuid4().hex[:8]}"
    results = await three_stage(make_designer(tmp_path, mock_llm.url), name).arun()
    async with get_client() as client:
        (flow_run,) = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))
        )
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]))
        )
    by_key = {a.key: a for a in artifacts}
    table = json.loads(by_key[f"{name}-workflow"].data)
    assert [(r["stage"], r["status"], r["upstreams"], r["records"]) for r in table] == [
        ("topics", "completed", "none", 6),
        ("answers", "completed", "topics", 6),
        ("reviews", "completed", "answers", 6),
    ]
    assert all("mock/mock-model: 6 requests" in r["LLM usage (every attempt)"] for r in table)
    assert str(results.get_stage_output_path("reviews")) in by_key[f"{name}-output"].data
