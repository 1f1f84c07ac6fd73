"""Each column type through the engine, the real openai client and the mock LLM server."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from pydantic import BaseModel

import dd_prefect.config as dd
from tests.engine.conftest import model


class Review(BaseModel):
    title: str
    stars: int
    tags: list[str]


def base_builder() -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(model_configs=[model(max_parallel_requests=32)])
    b.add_column(
        name="topic",
        column_type="sampler",
        sampler_type="category",
        params={"values": ["cats", "dogs", "birds"]},
    )
    return b


async def test_text_code_structured_judge_expression(mock_llm, make_generator):
    b = base_builder()
    b.add_column(
        name="question",
        column_type="llm_text",
        model_alias="fast",
        prompt="Ask about {{ topic }}",
        system_prompt="You are {{ topic }} expert",
    )
    b.add_column(
        name="snippet",
        column_type="llm-code",
        model_alias="fast",
        prompt="Write code about {{ topic }}",
        code_lang="python",
    )
    b.add_column(
        name="review",
        column_type="llm-structured",
        model_alias="fast",
        prompt="Review {{ question }}",
        output_format=Review,
    )
    b.add_column(
        name="verdict",
        column_type="llm-judge",
        model_alias="fast",
        prompt="Judge {{ question }}",
        scores=[dd.Score(name="clarity", description="Is it clear?", options={1: "no", 2: "yes"})],
    )
    b.add_column(name="label", column_type="expression", expr="{{ topic | upper }}-{{ 2 + 3 }}")
    b.add_column(name="n", column_type="expression", expr="{{ 2 * 21 }}", dtype="int")
    gen = make_generator(b, mock_llm)
    result = await gen.generate(0, 0, 12)
    df = result.frame
    assert len(df) == 12 and result.dropped_rows == 0
    assert all(q.startswith("Mock answer") for q in df["question"])
    assert all(t in q for q, t in zip(df["question"], df["topic"], strict=True))
    assert all("```" not in s and "def f_" in s for s in df["snippet"])
    for review in df["review"]:
        Review.model_validate(review)
    for verdict in df["verdict"]:
        assert verdict["clarity"]["score"] in (1, 2)
    assert list(df["label"]) == [f"{t.upper()}-5" for t in df["topic"]]
    assert df["n"].tolist() == [42] * 12 and str(df["n"].dtype) == "Int64"
    assert mock_llm.stats()["requests"] == 4 * 12


async def test_independent_llm_columns_of_a_row_run_at_once(mock_llm_factory, make_generator):
    server = mock_llm_factory(latency=0.3)
    b = base_builder()
    b.add_column(name="a", column_type="llm-text", model_alias="fast", prompt="A {{ topic }}")
    b.add_column(name="b", column_type="llm-text", model_alias="fast", prompt="B {{ topic }}")
    await make_generator(b, server).generate(0, 0, 10)
    assert server.stats()["max_in_flight"] == 20


STARTS: dict[str, float] = {}


async def slow_a(row: dict, params: dict) -> int:
    await asyncio.sleep(0.1 * row["i"])
    STARTS[f"a_end_{row['i']}"] = time.monotonic()
    return row["i"]


async def record_b(row: dict, params: dict) -> int:
    STARTS[f"b_start_{row['a']}"] = time.monotonic()
    return row["a"] * 10


def double(row: dict, params: dict) -> int:
    return row["i"] * params["factor"]


def column_total(df, params: dict) -> list[int]:
    return [int(df["i"].sum())] * len(df)


async def test_dependent_cell_starts_when_its_row_inputs_are_done(mock_llm, make_generator):
    b = dd.DataDesignerConfigBuilder()
    b.with_seed_dataset(dd.DataFrameSeedSource(df=__import__("pandas").DataFrame({"i": range(5)})))
    b.add_column(
        name="a", column_type="custom", function=f"{__name__}:slow_a", required_columns=["i"]
    )
    b.add_column(
        name="b", column_type="custom", function=f"{__name__}:record_b", required_columns=["a"]
    )
    b.add_column(
        name="c",
        column_type="custom",
        function=f"{__name__}:double",
        params={"factor": 3},
        required_columns=["i"],
    )
    b.add_column(
        name="total",
        column_type="custom",
        function=f"{__name__}:column_total",
        generation_strategy="full_column",
        required_columns=["b"],
    )
    result = await make_generator(b, mock_llm).generate(0, 0, 5)
    assert result.frame["b"].tolist() == [0, 10, 20, 30, 40]
    assert result.frame["c"].tolist() == [0, 3, 6, 9, 12]
    assert result.frame["total"].tolist() == [10] * 5
    # Row 0's dependent cell started long before row 4's input finished.
    assert STARTS["b_start_0"] < STARTS["a_end_4"] - 0.2


async def test_sandbox_blocks_python_internals(mock_llm, make_generator):
    b = base_builder()
    b.add_column(name="evil", column_type="expression", expr="{{ ''.__class__.__mro__ }}")
    gen = make_generator(b, mock_llm, dd.RunConfig(on_cell_error="null"))
    result = await gen.generate(0, 0, 3)
    assert result.frame["evil"].isna().all()
    assert "sandbox" in result.frame["evil__error"][0]
    assert result.errors == {"sandbox": 3}


async def test_failed_cast_names_column_and_row(mock_llm, make_generator):
    b = base_builder()
    b.add_column(name="num", column_type="expression", expr="{{ topic }}", dtype="int")
    gen = make_generator(b, mock_llm, dd.RunConfig(on_cell_error="null"))
    result = await gen.generate(0, 100, 2)
    assert "column 'num', row 100: cannot cast" in result.frame["num__error"][0]


async def test_structured_restarts_on_broken_json(mock_llm_factory, make_generator):
    server = mock_llm_factory(broken_json_rate=0.5, seed=3)
    b = base_builder()
    b.add_column(
        name="review",
        column_type="llm-structured",
        model_alias="fast",
        prompt="Review {{ topic }}",
        output_format=Review,
    )
    result = await make_generator(b, server).generate(0, 0, 20)
    assert len(result.frame) == 20
    assert server.stats()["requests"] > 20  # some answers were broken and re-asked


async def test_structured_gives_up_after_max_restarts(mock_llm_factory, make_generator):
    server = mock_llm_factory(broken_json_rate=1.0)
    b = base_builder()
    b.add_column(
        name="review",
        column_type="llm-structured",
        model_alias="fast",
        prompt="Review {{ topic }}",
        output_format=Review,
    )
    run = dd.RunConfig(
        max_conversation_restarts=2, on_cell_error="null", disable_early_shutdown=True
    )
    result = await make_generator(b, server, run).generate(0, 0, 4)
    assert server.stats()["requests"] == 4 * 3
    assert result.errors == {"invalid_structured_output": 4}
    assert "not valid JSON" in result.frame["review__error"][0]


def test_schema_of_judge_is_valid_json_schema():
    from dd_prefect.engine.cells import judge_schema

    col = dd.LLMJudgeColumnConfig(
        name="j",
        prompt="p",
        model_alias="m",
        scores=[dd.Score(name="s", description="d", options={"good": "g", "bad": "b"})],
    )
    schema = judge_schema(col)
    assert json.loads(json.dumps(schema))["properties"]["s"]["properties"]["score"]["enum"] == [
        "good",
        "bad",
    ]


@pytest.mark.parametrize("lang", ["python", "sql"])
def test_extract_code(lang):
    from dd_prefect.engine.cells import extract_code

    text = f"Here:\n```{lang}\nSELECT 1\n```\nbye"
    assert extract_code(text, lang) == "SELECT 1"
    assert extract_code("no fence", lang) == "no fence"
