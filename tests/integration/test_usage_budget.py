"""Usage, cost and budgets of DataDesigner.create on a real Prefect server and the mock LLM
server over HTTP: recorded usage equals the mock's counters, a budget stops a run cleanly
and a resume with a raised budget completes it without repeating a request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dd_prefect.config as dd
from dd_prefect import DataDesignerBudgetExceededError, ResumeMode
from tests.integration.create_script import builder
from tests.integration.test_create import designer

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
