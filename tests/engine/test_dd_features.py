"""Data Designer features through the engine: validation columns, skip.when and
propagate_skip, conditional_params, and custom columns' generator_function (issue 12)."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import BaseModel

import dd_prefect.config as dd
from dd_prefect.config.custom_column import custom_column_generator
from dd_prefect.engine.seed_reader import read_seed_file
from dd_prefect.errors import ConfigValidationError
from tests.engine.conftest import model

CODE = [
    "def add(a, b):\n    return a + b\n",  # clean
    "def broken(:\n    pass\n",  # syntax error: fatal
    "print(undefined_name)\n",  # F821: error
    "x = 1\nif x == True:\n    print(x)\n",  # E712: refactor, still valid
]
SQL = ["SELECT a FROM t WHERE b = 1", "SELECT * FROM", "hello world", "SELECT (1"]


def seeded(**columns) -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(model_configs=[model(max_parallel_requests=8)])
    b.with_seed_dataset(dd.DataFrameSeedSource(df=pd.DataFrame(columns)))
    return b


def check_lengths(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"is_valid": df["code"].str.len() < 30, "length": df["code"].str.len()})


async def test_code_and_local_callable_validation(mock_llm, make_generator):
    b = seeded(code=CODE, query=SQL)
    b.add_column(
        name="py_check",
        column_type="validation",
        target_columns=["code"],
        validator_type="code",
        validator_params={"code_lang": "python"},
    )
    b.add_column(
        name="sql_check",
        column_type="validation",
        target_columns=["query"],
        validator_type="code",
        validator_params={"code_lang": "sql:postgres"},
        batch_size=2,
    )
    b.add_column(
        name="both",
        column_type="validation",
        target_columns=["code", "query"],
        validator_type="code",
        validator_params={"code_lang": "sql:ansi"},
    )
    b.add_column(
        name="short",
        column_type="validation",
        target_columns=["code"],
        validator_type="local_callable",
        validator_params={"validation_function": check_lengths},
        batch_size=3,
    )
    result = await make_generator(b, mock_llm).generate(0, 0, 4)
    df = result.frame
    py = list(df["py_check"])
    assert [r["is_valid"] for r in py] == [True, False, False, True]
    assert [r["python_linter_severity"] for r in py] == ["none", "fatal", "error", "refactor"]
    assert py[0] == {
        "is_valid": True,
        "python_linter_score": 10.0,
        "python_linter_severity": "none",
        "python_linter_messages": [],
    }
    assert py[2]["python_linter_messages"][0] == {
        "type": "error",
        "symbol": "F821",
        "line": 1,
        "column": 7,
        "message": "Undefined name `undefined_name`",
    }
    assert py[3]["python_linter_score"] == pytest.approx(10 - 10 / 3)
    sql = list(df["sql_check"])
    assert [r["is_valid"] for r in sql] == [True, False, False, False]
    assert sql[0]["error_messages"] == "" and sql[1]["error_messages"].startswith("PRS: ")
    assert set(df["both"][0]) == {"code", "query"} and df["both"][0]["query"]["is_valid"]
    assert [r["is_valid"] for r in df["short"]] == [len(c) < 30 for c in CODE]
    assert df["short"][0]["length"] == len(CODE[0])
    assert mock_llm.stats()["requests"] == 0


def test_validation_config_problems_are_named():
    b = seeded(code=CODE)
    b.add_column(
        name="v",
        column_type="validation",
        target_columns=["code", "nope"],
        validator_type="local_callable",
        validator_params={"validation_function": "check_lengths"},
    )
    with pytest.raises(ConfigValidationError) as info:
        dd.validate_config(b.build())
    text = str(info.value)
    assert "references unknown column 'nope'" in text
    assert "validation_function 'check_lengths' cannot be resolved" in text


async def test_skip_when_and_propagation(mock_llm, make_generator):
    b = seeded(stock=[0, 3, 0, 5])
    b.add_column(
        name="pitch",
        column_type="llm-text",
        model_alias="fast",
        prompt="Sell {{ stock }}",
        skip={"when": "{{ stock == 0 }}", "value": "sold out"},
    )
    b.add_column(name="echo", column_type="expression", expr="{{ pitch }}!")
    b.add_column(
        name="tolerant",
        column_type="expression",
        expr="{{ pitch is none or pitch == 'sold out' }}",
        dtype="bool",
        propagate_skip=False,
    )
    result = await make_generator(b, mock_llm).generate(0, 0, 4)
    df = result.frame
    assert len(df) == 4 and result.dropped_rows == 0
    assert list(df["pitch"][[0, 2]]) == ["sold out", "sold out"]
    assert all(p.startswith("Mock answer") for p in df["pitch"][[1, 3]])
    assert pd.isna(df["echo"][0]) and df["echo"][1].endswith("!")  # skip propagated
    assert list(df["tolerant"]) == [True, False, True, False]
    assert mock_llm.stats()["requests"] == 2  # skipped LLM cells make no request


def test_skip_rules_as_data_designer():
    b = seeded(stock=[1])
    b.add_column(name="a", column_type="expression", expr="x", skip={"when": "stock == 0"})
    b.add_column(name="b", column_type="expression", expr="x", skip={"when": "{{ b > 1 }}"})
    b.add_column(
        name="c",
        column_type="sampler",
        sampler_type="uniform",
        params={"low": 0, "high": 1},
        skip={"when": "{{ stock }}"},
    )
    b.add_column(
        name="d",
        column_type="expression",
        expr="1",
        dtype="int",
        skip={"when": "{{ stock }}", "value": "n/a"},
    )
    b.add_column(
        name="e",
        column_type="llm-text",
        model_alias="fast",
        prompt="x",
        skip={"when": "{{ stock }}", "value": 0},
    )
    with pytest.raises(ConfigValidationError) as info:
        dd.validate_config(b.build())
    text = str(info.value)
    assert "column 'd', field 'skip.value': skip.value 'n/a' does not fit the column's int" in text
    assert "skip.value 0 does not fit the column's str cells" in text
    assert "skip.when 'stock == 0' reads no column" in text
    assert "skip.when reads the column itself (b)" in text
    assert "skip is not supported on sampler columns" in text


async def test_conditional_params(mock_llm, make_generator):
    b = seeded(tier=["gold", "basic"] * 50)
    b.add_column(
        name="age",
        column_type="sampler",
        sampler_type="category",
        params={"values": ["18-25", "26-60"]},
    )
    b.add_column(
        name="style",
        column_type="sampler",
        sampler_type="category",
        params={"sampler_type": "category", "values": ["plain"]},
        conditional_params={
            "age == '18-25'": {"sampler_type": "category", "values": ["casual"]},
            "tier == 'gold' and age == '18-25'": {"values": ["vip"]},
        },
    )
    df = (await make_generator(b, mock_llm).generate(0, 0, 100)).frame
    young, gold = df["age"] == "18-25", df["tier"] == "gold"
    assert set(df["style"][young & gold]) == {"vip"}  # the last condition met wins
    assert set(df["style"][young & ~gold]) == {"casual"}
    assert set(df["style"][~young]) == {"plain"}


def test_conditions_read_datetimes_as_iso_text():
    from dd_prefect.engine.samplers import sample_columns

    columns = [
        dd.SamplerColumnConfig(
            name="when",
            sampler_type="datetime",
            params={"start": "2020-01-01", "end": "2022-01-01"},
        ),
        dd.SamplerColumnConfig(
            name="era",
            sampler_type="category",
            params={"values": ["old"]},
            conditional_params={"when >= '2021-01-01'": {"values": ["new"]}},
        ),
    ]
    df = sample_columns(
        columns, pd.DataFrame(index=pd.RangeIndex(200)), start=0, seed=3, fingerprint="fp"
    )
    assert list(df["era"]) == [
        "new" if w >= pd.Timestamp("2021-01-01") else "old" for w in df["when"]
    ]


def test_condition_reading_a_later_column_is_refused():
    b = seeded(tier=["gold"])
    b.add_column(name="later", column_type="expression", expr="{{ tier }}")
    b.add_column(
        name="style",
        column_type="sampler",
        sampler_type="category",
        params={"values": ["plain"]},
        conditional_params={"later == 'gold'": {"values": ["vip"]}},
    )
    with pytest.raises(ConfigValidationError, match="reads 'later', which is not a sampler"):
        dd.validate_config(b.build())


class Greeting(BaseModel):
    word: str = "Hello"


@custom_column_generator(required_columns=["name"], side_effect_columns=["greeting__len"])
def greet(row: dict, generator_params: Greeting) -> dict:
    row["greeting"] = f"{generator_params.word}, {row['name']}!"
    row["greeting__len"] = len(row["greeting"])
    row["undeclared"] = 1  # dropped, as Data Designer drops it
    return row


@custom_column_generator(required_columns=["greeting"])
def shout(df: pd.DataFrame) -> pd.DataFrame:
    df["loud"] = df["greeting"].str.upper()
    return df


@custom_column_generator()
def forgets(row: dict) -> dict:
    return row


async def test_generator_functions_run_as_data_designer(mock_llm, make_generator, tmp_path):
    b = seeded(name=["Ada", "Linus"])
    b.add_column(
        name="greeting",
        column_type="custom",
        generator_function=greet,
        generator_params=Greeting(word="Hi"),
    )
    b.add_column(name="summary", column_type="expression", expr="{{ greeting__len }}")
    b.add_column(
        name="loud",
        column_type="custom",
        generator_function="shout",
        generation_strategy="full_column",
    )
    config = b.build()
    assert config.columns[-3].generator_function == f"{__name__}:greet"  # written as a path
    result = await make_generator(b, mock_llm).generate(0, 0, 2, tmp_path)
    df = result.frame
    assert list(df["greeting"]) == ["Hi, Ada!", "Hi, Linus!"]
    written = read_seed_file(tmp_path / result.files["main"])  # side effects of any type
    assert list(written["greeting__len"]) == [8, 10]
    assert list(df["greeting__len"]) == [8, 10] and list(df["summary"]) == ["8", "10"]
    assert list(df["loud"]) == ["HI, ADA!", "HI, LINUS!"]
    assert "undeclared" not in df.columns


async def test_generator_function_problems(mock_llm, make_generator):
    b = seeded(name=["Ada"])
    b.add_column(name="x", column_type="custom", generator_function="not_defined_anywhere")
    with pytest.raises(ConfigValidationError, match="generator_function 'not_defined_anywhere'"):
        dd.validate_config(b.build())
    b = seeded(name=["Ada"])
    b.add_column(name="x", column_type="custom", generator_function=forgets)
    result = await make_generator(b, mock_llm).generate(0, 0, 1)
    assert result.dropped_rows == 1
    assert "did not add 'x'" in result.error_samples[0]
    b = seeded(name=["Ada"])
    b.add_column(
        name="x",
        column_type="custom",
        generator_function=forgets,
        generation_strategy="full_column",
    )
    with pytest.raises(ConfigValidationError, match="first parameter must be 'df'"):
        dd.validate_config(b.build())
