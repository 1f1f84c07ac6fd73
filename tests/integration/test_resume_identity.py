"""What makes a dataset or stage 'the same' for resume: run settings, seed files, names."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

import dd_prefect.config as dd
from dd_prefect import ResumeMode
from dd_prefect.errors import GenerationError
from tests.integration.workflow_callbacks import make_designer, model_config, topics

pytestmark = pytest.mark.integration


def requests(server) -> int:
    return server.stats()["requests"]


async def test_changed_seed_or_cell_policy_reruns_a_completed_stage(
    prefect_server, mock_llm, tmp_path
):
    def run(**settings):
        d = make_designer(tmp_path / "a", mock_llm.url, **settings)
        return (
            d.compose_workflow("wf")
            .add_stage("topics", topics(), num_records=10)
            .arun(resume=ResumeMode.IF_POSSIBLE)
        )

    await run(seed=1)
    before = requests(mock_llm)
    await run(seed=1)
    assert requests(mock_llm) == before  # same settings: reused
    await run(seed=2)
    assert requests(mock_llm) == before + 10  # another seed: other rows
    results = await run(seed=2, on_cell_error="null")
    assert requests(mock_llm) == before + 20
    assert "question__error" in results.load_dataset().columns


async def test_partial_stage_keeps_row_groups_when_only_operational_knobs_change(
    prefect_server, mock_llm, tmp_path
):
    d = make_designer(tmp_path / "a", mock_llm.url)
    first = await d.compose_workflow("wf").add_stage("topics", topics(4), num_records=10).arun()
    meta = tmp_path / "a" / "wf" / "workflow-metadata.json"
    meta.write_text(meta.read_text().replace('"completed"', '"failed"'))
    before = requests(mock_llm)
    again = (
        await d.compose_workflow("wf")
        .add_stage("topics", topics(8), num_records=10)  # max_parallel_requests 4 -> 8
        .arun(resume=ResumeMode.ALWAYS)
    )
    assert requests(mock_llm) == before  # every row group came back from the cache
    pd.testing.assert_frame_equal(first.load_dataset(), again.load_dataset())


async def test_missing_key_fails_before_an_earlier_run_is_removed(
    prefect_server, mock_llm, tmp_path, monkeypatch
):
    d = make_designer(tmp_path / "a", mock_llm.url)
    await d.compose_workflow("wf").add_stage("topics", topics(), num_records=5).arun()
    keep = tmp_path / "a" / "wf" / "stage-0-topics" / "parquet-files"
    assert any(keep.iterdir())
    monkeypatch.delenv("DD_MISSING_API_KEY", raising=False)
    d.runtime.providers = [
        dd.ModelProvider(name="mock", endpoint=mock_llm.url, api_key="DD_MISSING_API_KEY")
    ]
    with pytest.raises(GenerationError, match="DD_MISSING_API_KEY"):
        await d.compose_workflow("wf").add_stage("topics", topics(), num_records=5).arun()
    assert any(keep.iterdir())  # the earlier output is still there


async def test_seed_file_edited_in_place_is_noticed(prefect_server, mock_llm, tmp_path):
    seed = tmp_path / "seed.parquet"
    pd.DataFrame({"topic": ["tea", "coffee"]}).to_parquet(seed)
    b = dd.DataDesignerConfigBuilder(model_configs=[model_config()])
    b.with_seed_dataset(dd.LocalFileSeedSource(path=str(seed)))
    b.add_column(name="q", column_type="llm-text", model_alias="fast", prompt="On {{ topic }}")
    d = make_designer(tmp_path / "a", mock_llm.url)
    await d.acreate(b, dataset_name="ds")
    before = requests(mock_llm)
    await d.acreate(b, dataset_name="ds", resume=ResumeMode.IF_POSSIBLE)
    assert requests(mock_llm) == before
    pd.DataFrame({"topic": ["milk", "cocoa"]}).to_parquet(seed)  # same shape, new content
    os.utime(seed, ns=(1, 2))  # a different modification time, whatever the clock says
    edited = await d.acreate(b, dataset_name="ds", resume=ResumeMode.IF_POSSIBLE)
    assert requests(mock_llm) == before + 2
    assert list(edited.load_dataset()["topic"]) == ["milk", "cocoa"]


async def test_two_datasets_of_one_config_do_not_share_row_groups(
    prefect_server, mock_llm, tmp_path
):
    d = make_designer(tmp_path / "a", mock_llm.url)
    await d.acreate(topics(), num_records=5, dataset_name="one")
    before = requests(mock_llm)
    other = await d.acreate(topics(), num_records=5, dataset_name="two", resume="if_possible")
    assert requests(mock_llm) == before + 5  # generated for itself, not borrowed
    assert other.metadata.llm_usage["mock/mock-model"]["requests"] == 5


async def test_final_stage_override_is_what_the_results_hold(prefect_server, mock_llm, tmp_path):
    reviewed = tmp_path / "reviewed.parquet"
    pd.DataFrame({"topic": ["edited"], "question": ["by hand"]}).to_parquet(reviewed)
    d = make_designer(tmp_path / "a", mock_llm.url)
    wf = d.compose_workflow("wf").add_stage("topics", topics(), num_records=3)
    await wf.arun()
    results = await wf.arun(
        resume=ResumeMode.IF_POSSIBLE, stage_output_overrides={"topics": reviewed}
    )
    assert list(results.load_dataset()["question"]) == ["by hand"]
    assert Path(results.get_stage_output_path("topics")) == reviewed.resolve()


async def test_unseeded_shuffle_resumes_with_the_same_permutation(
    prefect_server, mock_llm, tmp_path
):
    seed = tmp_path / "rows.parquet"
    pd.DataFrame({"row": range(40)}).to_parquet(seed)
    b = dd.DataDesignerConfigBuilder()
    b.with_seed_dataset(
        dd.LocalFileSeedSource(path=str(seed)), sampling_strategy=dd.SamplingStrategy.SHUFFLE
    )
    b.add_column(name="copy", column_type="expression", expr="{{ row }}", dtype="int")
    first = make_designer(tmp_path / "a", mock_llm.url, seed=None)
    done = await first.acreate(b, dataset_name="ds")
    assert sorted(done.load_dataset()["row"]) == list(range(40))  # one epoch, each row once
    files = sorted((tmp_path / "a" / "ds" / "parquet-files").iterdir())
    for lost in files[4:]:  # the second half of the row groups is gone
        lost.unlink()
    again = make_designer(tmp_path / "a", mock_llm.url, seed=None)  # a new reader
    resumed = await again.acreate(b, dataset_name="ds", resume=ResumeMode.IF_POSSIBLE)
    assert sorted(resumed.load_dataset()["row"]) == list(range(40))
