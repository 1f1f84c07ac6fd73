"""Failed-row records of a row group: the failing column (not the cells held after it),
error kind, attempts, global row index and seed row; and regenerating only those rows."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import BaseModel

import dd_prefect.config as dd
from tests.engine.conftest import model


class Facts(BaseModel):
    name: str


def facts_builder() -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(model_configs=[model(max_parallel_requests=8)])
    b.with_seed_dataset(
        dd.DataFrameSeedSource(df=pd.DataFrame({"id": range(7)})), sampling_strategy="shuffle"
    )
    b.add_column(
        name="facts",
        column_type="llm-structured",
        model_alias="fast",
        prompt="Facts about {{ id }}",
        output_format=Facts,
    )
    b.add_column(name="tag", column_type="expression", expr="{{ facts.name }}!")
    return b


async def test_failed_rows_name_their_cause_position_and_seed_row(mock_llm_factory, make_generator):
    server = mock_llm_factory(broken_json_rate=1.0)
    run = dd.RunConfig(
        seed=3, max_conversation_restarts=1, on_cell_error="null", disable_early_shutdown=True
    )
    gen = make_generator(facts_builder(), server, run)
    result = await gen.generate(2, 10, 5)
    failed = result.failed_rows
    assert list(failed["row_index"]) == [10, 11, 12, 13, 14]
    assert set(failed["row_group"]) == {2} and not failed["dropped"].any()
    assert set(failed["column"]) == {"facts"}  # not "tag", held because facts failed
    assert set(failed["error_kind"]) == {"invalid_structured_output"}
    assert set(failed["attempts"]) == {2}  # one re-ask
    assert list(failed["seed_row_index"]) == list(result.frame["id"])  # id == its seed row
    assert server.stats()["requests"] == 10


async def test_only_the_given_rows_are_generated(mock_llm_factory, make_generator):
    server = mock_llm_factory()
    gen = make_generator(facts_builder(), server, dd.RunConfig(seed=3))
    whole = await gen.generate(0, 0, 6)
    part = await gen.generate(0, 0, 6, only=[1, 4])
    assert server.stats()["requests"] == 6 + 2
    expected = whole.frame.iloc[[1, 4]].reset_index(drop=True)
    pd.testing.assert_frame_equal(part.frame, expected)


def test_retry_failed_needs_a_resume_mode():
    from dd_prefect.errors import ConfigValidationError
    from dd_prefect.workflow.failed_rows import check_retry_failed
    from dd_prefect.workflow.resume import ResumeMode

    with pytest.raises(ConfigValidationError, match="field 'retry_failed': retry_failed needs"):
        check_retry_failed(True, ResumeMode.NEVER)
    check_retry_failed(True, ResumeMode.IF_POSSIBLE)
    check_retry_failed(False, ResumeMode.NEVER)


async def test_retry_of_image_columns_is_refused(mock_llm, make_generator, tmp_path):
    from dd_prefect.config.model_columns import ImageColumnConfig
    from dd_prefect.engine.row_retry import retry_failed_rows
    from dd_prefect.errors import GenerationError

    b = dd.DataDesignerConfigBuilder(
        model_configs=[
            model(),
            dd.ModelConfig(
                alias="dalle",
                model="dall-e-3",
                provider="mock",
                inference_parameters={"generation_type": "image"},
            ),
        ]
    )
    b.add_column(ImageColumnConfig(name="photo", prompt="a fox", model_alias="dalle"))
    gen = make_generator(b, mock_llm)
    with pytest.raises(GenerationError, match="image columns yet \\(column 'photo'\\)"):
        await retry_failed_rows(gen, 0, 0, 3, tmp_path)
    assert mock_llm.stats()["requests"] == 0
