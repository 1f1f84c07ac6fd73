"""Seed data never turns into "nan" (issue 10, item 6).

Missing seed values are null (None) and templates print them by RunConfig.template_null;
CSV and JSONL integer columns stay integers (nullable Int64 where values are missing);
files of one glob with different columns are an error naming the files and the columns,
unless ``LocalFileSeedSource(union_columns=True)`` asks for their union.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dd_prefect.config as dd
from dd_prefect.config.seeds import read_seed_columns
from dd_prefect.engine.generator import DatasetGenerator
from dd_prefect.engine.llm import ModelRegistry
from dd_prefect.engine.seed_reader import SeedReader
from dd_prefect.errors import ConfigValidationError, GenerationError


def csv_seed(tmp_path: Path) -> Path:
    path = tmp_path / "seed.csv"
    path.write_text("q,v\na,1\nb,two\nc,3.5\nd,\n", encoding="utf-8")
    return path


def generator(source: dd.LocalFileSeedSource, template: str = "{{ q }}-{{ v }}", **run):
    b = dd.DataDesignerConfigBuilder()
    b.with_seed_dataset(source)
    b.add_column(name="out", column_type="expression", expr=template)
    run_config = dd.RunConfig(disable_early_shutdown=True, **run)
    return DatasetGenerator(b.build(), run_config, ModelRegistry([], []))


async def generate(gen: DatasetGenerator, n: int):
    return await gen.generate(0, 0, n)  # the generator applies its own RunConfig's rules


async def test_a_missing_csv_value_is_an_error_naming_column_input_and_row(tmp_path):
    gen = generator(dd.LocalFileSeedSource(path=str(csv_seed(tmp_path))))
    result = await generate(gen, 4)
    assert result.frame["out"].tolist() == ["a-1", "b-two", "c-3.5"]
    assert result.errors == {"null_value": 1} and result.dropped_rows == 1
    (message,) = result.error_samples
    assert "column 'out'" in message and "input 'v' is null" in message
    assert "q='d'" in message and "template_null" in message


async def test_a_missing_csv_value_prints_empty_when_asked(tmp_path):
    gen = generator(dd.LocalFileSeedSource(path=str(csv_seed(tmp_path))), template_null="empty")
    result = await generate(gen, 4)
    assert result.frame["out"].tolist() == ["a-1", "b-two", "c-3.5", "d-"]
    assert result.errors == {}


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_integer_columns_stay_integers(tmp_path, fmt):
    path = tmp_path / f"seed.{fmt}"
    if fmt == "csv":
        path.write_text("id,n,full\n1,10,1\n2,,2\n3,30,3\n", encoding="utf-8")
    elif fmt == "jsonl":
        path.write_text(
            '{"id": 1, "n": 10, "full": 1}\n{"id": 2, "n": null, "full": 2}\n'
            '{"id": 3, "n": 30, "full": 3}\n',
            encoding="utf-8",
        )
    else:  # written without pandas' metadata, as other tools write it
        table = pa.table(
            {"id": [1, 2, 3], "n": pa.array([10, None, 30], pa.int64()), "full": [1, 2, 3]}
        )
        pq.write_table(table, path)
    reader = SeedReader(
        dd.SeedConfig(source=dd.LocalFileSeedSource(path=str(path))), seed=None, fingerprint="fp"
    )
    data = reader.data
    assert str(data["n"].dtype) == "Int64"  # missing values: nullable integers
    assert data["full"].dtype == "int64"  # none missing: plain integers
    assert reader.rows(0, 3).to_dict("records") == [
        {"id": 1, "n": 10, "full": 1},
        {"id": 2, "n": None, "full": 2},
        {"id": 3, "n": 30, "full": 3},
    ]


def test_missing_strings_and_floats_are_none(tmp_path):
    path = tmp_path / "seed.csv"
    path.write_text("s,x\nhello,1.5\n,\n", encoding="utf-8")
    reader = SeedReader(
        dd.SeedConfig(source=dd.LocalFileSeedSource(path=str(path))), seed=None, fingerprint="fp"
    )
    assert reader.rows(0, 2).to_dict("records") == [
        {"s": "hello", "x": 1.5},
        {"s": None, "x": None},
    ]


def two_parquet_files(tmp_path: Path) -> str:
    pd.DataFrame({"q": ["a"], "v": [1]}).to_parquet(tmp_path / "part-a.parquet")
    pd.DataFrame({"q": ["x"]}).to_parquet(tmp_path / "part-b.parquet")
    return str(tmp_path / "*.parquet")


async def test_a_glob_over_files_with_different_columns_is_an_error(tmp_path):
    source = dd.LocalFileSeedSource(path=two_parquet_files(tmp_path))
    with pytest.raises(GenerationError) as info:
        generator(source)
    message = str(info.value)
    assert "part-a.parquet" in message and "part-b.parquet" in message
    assert "'v'" in message and "union_columns" in message
    with pytest.raises(ValueError, match=r"part-b\.parquet"):
        read_seed_columns(source)
    # validate (the builder's config checked against the seed's files) says so too
    b = dd.DataDesignerConfigBuilder()
    b.with_seed_dataset(source)
    b.add_column(name="out", column_type="expression", expr="{{ q }}")
    with pytest.raises(ConfigValidationError, match=r"part-b\.parquet"):
        dd.validate_config(b.build())


async def test_a_union_of_columns_when_asked(tmp_path):
    source = dd.LocalFileSeedSource(path=two_parquet_files(tmp_path), union_columns=True)
    assert read_seed_columns(source) == ["q", "v"]
    gen = generator(source, template_null="empty")
    assert str(gen.seed_reader.data["v"].dtype) == "Int64"
    result = await generate(gen, 2)
    assert result.frame["out"].tolist() == ["a-1", "x-"]  # not "a-1.0" / "x-nan"
    strict = generator(source)
    result = await generate(strict, 2)
    assert result.frame["out"].tolist() == ["a-1"] and result.errors == {"null_value": 1}


def test_the_null_rule_is_part_of_what_resume_reuses():
    from dd_prefect.workflow.keys import dataset_key, stage_fingerprint

    error, empty = dd.RunConfig(seed=1), dd.RunConfig(seed=1, template_null="empty")
    assert dataset_key("fp", 10, error, name="d") != dataset_key("fp", 10, empty, name="d")
    stage = dd.Stage(name="s")
    assert stage_fingerprint(stage, 10, None, error, root=True) != stage_fingerprint(
        stage, 10, None, empty, root=True
    )


async def test_seed_integers_stay_integers_in_what_a_stage_writes(tmp_path):
    """The next stage reads `1`, not `1.0`: written batches keep the seed's nullable ints."""
    (tmp_path / "s.csv").write_text("q,v\na,1\nb,\nc,3\n", encoding="utf-8")
    gen = generator(dd.LocalFileSeedSource(path=str(tmp_path / "s.csv")), template_null="empty")
    result = await gen.generate(0, 0, 3, tmp_path / "out")
    written = pd.read_parquet(tmp_path / "out" / result.files["main"])
    assert str(written["v"].dtype) == "Int64"
    assert written["out"].tolist() == ["a-1", "b-", "c-3"]
    b = dd.DataDesignerConfigBuilder()
    b.with_seed_dataset(dd.LocalFileSeedSource(path=str(tmp_path / "out" / "parquet-files" / "*")))
    b.add_column(name="again", column_type="expression", expr="{{ v }}")
    run = dd.RunConfig(template_null="empty")
    nxt = DatasetGenerator(b.build(), run, ModelRegistry([], []))
    assert (await nxt.generate(0, 0, 3)).frame["again"].tolist() == ["1", "", "3"]
