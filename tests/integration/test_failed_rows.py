"""Failed rows on a real Prefect server and the mock LLM over HTTP: a run with 30% broken
JSON records every dropped row; a resume with retry_failed regenerates only those rows,
at their positions, and the dataset then equals a clean seeded run."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from pydantic import BaseModel

import dd_prefect.config as dd
from dd_prefect import DataDesigner, ResumeMode
from tests.integration.create_script import builder

pytestmark = pytest.mark.integration


class Facts(BaseModel):
    name: str
    score: int


def structured_builder() -> dd.DataDesignerConfigBuilder:
    b = builder(8)
    b.add_column(
        name="facts",
        column_type="llm-structured",
        model_alias="fast",
        prompt="Facts about {{ answer }}",
        output_format=Facts,
    )
    b.add_column(name="label", column_type="expression", expr="{{ facts.name }}-{{ n }}")
    return b


def designer(path, server) -> DataDesigner:
    return DataDesigner(
        artifact_path=path,
        model_providers=[dd.ModelProvider(name="mock", endpoint=server.url)],
        run_config=dd.RunConfig(
            buffer_size=10, seed=7, max_conversation_restarts=0, disable_early_shutdown=True
        ),
    )


@pytest.mark.e2e
async def test_failed_rows_are_recorded_and_regenerated_in_place(
    prefect_server, mock_llm_factory, tmp_path
):
    server = mock_llm_factory(broken_json_rate=0.3, seed=5)
    d = designer(tmp_path / "a", server)
    first = await d.acreate(structured_builder(), 50, "facts")
    failed = first.load_failed_rows()
    kept = first.count_records()
    assert 5 <= len(failed) == 50 - kept == first.metadata.dropped_rows
    assert set(failed["column"]) == {"facts"}
    assert set(failed["error_kind"]) == {"invalid_structured_output"}
    assert (failed["attempts"] == 1).all() and failed["dropped"].all()
    assert failed["row_index"].is_unique and failed["row_index"].between(0, 49).all()
    assert list(failed["row_group"]) == list(failed["row_index"] // 10)
    meta = json.loads((tmp_path / "a" / "facts" / "metadata.json").read_text())
    files = [g["files"].get("failed") for g in meta["row_groups"]]
    assert all(f is None or f.startswith("failed-rows/") for f in files)

    server.configure(broken_json_rate=0.0)
    before = server.stats()["requests"]
    again = await d.acreate(
        structured_builder(), 50, "facts", resume=ResumeMode.IF_POSSIBLE, retry_failed=True
    )
    # Only the failed rows were generated again: their three LLM cells each.
    assert server.stats()["requests"] - before == 3 * len(failed)
    assert again.count_records() == 50 and again.load_failed_rows().empty
    assert again.metadata.dropped_rows == 0

    clean = await designer(tmp_path / "b", server).acreate(structured_builder(), 50, "facts")
    pd.testing.assert_frame_equal(again.load_dataset(), clean.load_dataset())


def review_builder() -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(model_configs=builder(8).model_configs)
    b.add_column(
        name="review", column_type="llm-text", model_alias="fast", prompt="Review {{ label }}"
    )
    return b


@pytest.mark.e2e
async def test_workflow_retry_failed_regenerates_a_stages_failed_rows_then_its_descendants(
    prefect_server, mock_llm_factory, tmp_path
):
    server = mock_llm_factory(broken_json_rate=0.3, seed=5)

    def workflow(path):
        return (
            designer(path, server)
            .compose_workflow("wf")
            .add_stage("facts", structured_builder(), num_records=30)
            .add_stage("reviews", review_builder())
        )

    first = await workflow(tmp_path / "a").arun()
    failed = first["facts"].load_failed_rows()
    assert len(failed) > 0 and first.count_stage_output_records("reviews") == 30 - len(failed)

    server.configure(broken_json_rate=0.0)
    before = server.stats()["requests"]
    again = await workflow(tmp_path / "a").arun(ResumeMode.IF_POSSIBLE, retry_failed=True)
    # The failed rows' three cells, then the whole downstream stage (its input changed).
    assert server.stats()["requests"] - before == 3 * len(failed) + 30
    assert again["facts"].load_failed_rows().empty
    clean = await workflow(tmp_path / "b").arun()
    pd.testing.assert_frame_equal(again.load_dataset(), clean.load_dataset())
    # The retried stage's usage adds this attempt to the first; the rerun stage starts over.
    facts = again["facts"].usage
    assert facts.requests == 90 + 3 * len(failed)
    assert facts.last_attempt["mock/mock-model"].requests == 3 * len(failed)
    assert again.usage.requests == facts.requests + 30
