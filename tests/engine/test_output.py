"""Row-group output: parquet files and their schemas, determinism, processors and seeds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import BaseModel

import dd_prefect.config as dd
from dd_prefect.engine.generator import DROPPED_DIR, PARQUET_DIR, PROCESSORS_DIR
from dd_prefect.engine.parquet_io import json_columns_of, parquet_files, read_parquet
from tests.engine.conftest import model


class Review(BaseModel):
    title: str
    stars: int


def seed_frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"id": range(n), "text": [f"text {i}" for i in range(n)]})


def all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def add_samplers(b: dd.DataDesignerConfigBuilder) -> dd.DataDesignerConfigBuilder:
    b.add_column(
        name="topic",
        column_type="sampler",
        sampler_type="category",
        params={"values": ["cats", "dogs", "birds"]},
    )
    b.add_column(
        name="kind",
        column_type="sampler",
        sampler_type="subcategory",
        params={"category": "topic", "values": {"cats": ["a"], "dogs": ["b"], "birds": ["c"]}},
    )
    b.add_column(
        name="price", column_type="sampler", sampler_type="uniform", params={"low": 1, "high": 9}
    )
    b.add_column(
        name="weight",
        column_type="sampler",
        sampler_type="gaussian",
        params={"mean": 0, "stddev": 1, "decimal_places": 0},
    )
    b.add_column(name="flag", column_type="sampler", sampler_type="bernoulli", params={"p": 0.5})
    b.add_column(name="uid", column_type="sampler", sampler_type="uuid", params={})
    b.add_column(
        name="when",
        column_type="sampler",
        sampler_type="datetime",
        params={"start": "2020-01-01", "end": "2024-12-31", "unit": "s"},
    )
    b.add_column(
        name="later",
        column_type="sampler",
        sampler_type="timedelta",
        params={"dt_min": 1, "dt_max": 30, "reference_column_name": "when"},
    )
    b.add_column(name="person", column_type="sampler", sampler_type="person", params={})
    return b


# -- dtype stability -----------------------------------------------------------------------


def stability_builder(n: int) -> dd.DataDesignerConfigBuilder:
    """`num` fails on every row of 20..39 and on rows >= 45; the rest depends on it."""
    b = dd.DataDesignerConfigBuilder(model_configs=[model(max_parallel_requests=32)])
    b.with_seed_dataset(dd.DataFrameSeedSource(df=seed_frame(n)))
    add_samplers(b)
    b.add_column(
        name="num",
        column_type="expression",
        expr="{{ id if id < 20 or 40 <= id < 45 else 'bad' }}",
        dtype="int",
    )
    b.add_column(name="half", column_type="expression", expr="{{ num / 2 }}", dtype="float")
    b.add_column(name="even", column_type="expression", expr="{{ num % 2 == 0 }}", dtype="bool")
    b.add_column(name="label", column_type="expression", expr="{{ topic }}-{{ num }}")
    b.add_column(
        name="answer", column_type="llm-text", model_alias="fast", prompt="Say {{ topic }}"
    )
    b.add_column(
        name="review",
        column_type="llm-structured",
        model_alias="fast",
        prompt="Review {{ num }}",
        output_format=Review,
    )
    b.add_column(
        name="verdict",
        column_type="llm-judge",
        model_alias="fast",
        prompt="Judge {{ answer }}",
        scores=[dd.Score(name="clarity", description="Is it clear?", options={1: "no", 2: "yes"})],
    )
    b.add_column(
        name="snippet", column_type="llm-code", model_alias="fast", prompt="Code {{ num }}"
    )
    return b


async def test_schemas_are_identical_across_row_groups(mock_llm, make_generator, tmp_path):
    run = dd.RunConfig(on_cell_error="null", disable_early_shutdown=True, buffer_size=20)
    gen = make_generator(stability_builder(50), mock_llm, run)
    results = [
        await gen.generate(i, start, n, output_dir=tmp_path) for i, start, n in gen.row_groups(50)
    ]
    assert [r.num_rows for r in results] == [20, 20, 10]
    assert results[0].errors == {} and results[1].errors == {"cast": 20}
    assert results[2].errors == {"cast": 5}
    assert results[1].frame["num"].isna().all() and results[1].frame["review"].isna().all()
    assert results[0].frame["num"].notna().all()

    files = parquet_files(tmp_path / PARQUET_DIR)
    assert [f.name for f in files] == [f"batch_{i:05d}.parquet" for i in range(3)]
    assert [r.files["main"] for r in results] == [f"{PARQUET_DIR}/{f.name}" for f in files]
    schemas = [pq.read_schema(f) for f in files]
    for schema in schemas[1:]:
        assert schema == schemas[0], schema
    assert len({tuple(json_columns_of(s)) for s in schemas}) == 1
    assert set(json_columns_of(schemas[0])) == {"person", "review", "verdict"}
    types = dict(zip(schemas[0].names, schemas[0].types, strict=True))
    assert types["id"] == pa.int64() and types["num"] == pa.int64()
    assert types["half"] == pa.float64() and types["even"] == pa.bool_()
    assert types["flag"] == pa.int64() and types["price"] == pa.float64()
    assert types["weight"] == pa.float64()
    assert pa.types.is_timestamp(types["when"]) and pa.types.is_timestamp(types["later"])
    for name in ("answer", "label", "snippet", "review", "verdict", "person", "num__error"):
        assert pa.types.is_string(types[name]) or pa.types.is_large_string(types[name]), name

    back = read_parquet(files)
    assert len(back) == 50 and back["id"].tolist() == list(range(50))
    assert back["num"].isna().sum() == 25 and str(back["num"].dtype) == "Int64"
    for review, ok in zip(back["review"], back["num"].notna(), strict=True):
        if ok:
            Review.model_validate(review)
        else:
            assert review is None
    assert all(v["clarity"]["score"] in (1, 2) for v in back["verdict"])
    assert all(isinstance(p, dict) and "first_name" in p for p in back["person"])
    expected = pd.concat([r.frame for r in results], ignore_index=True)
    assert back["review"].tolist() == expected["review"].tolist()
    assert back["person"].tolist() == expected["person"].tolist()
    # Reading the all-null file alone still decodes (to nulls) and keeps the column types.
    alone = read_parquet([files[1]])
    assert alone["review"].tolist() == [None] * 20 and str(alone["num"].dtype) == "Int64"


async def test_a_row_group_with_every_row_dropped_keeps_the_schema(
    mock_llm, make_generator, tmp_path
):
    run = dd.RunConfig(disable_early_shutdown=True)
    gen = make_generator(stability_builder(45), mock_llm, run)
    kept = await gen.generate(0, 0, 20, output_dir=tmp_path)
    empty = await gen.generate(1, 20, 20, output_dir=tmp_path)
    assert kept.num_rows == 20 and empty.num_rows == 0 and empty.dropped_rows == 20
    first, second = parquet_files(tmp_path / PARQUET_DIR)
    assert pq.read_schema(second) == pq.read_schema(first)
    assert json_columns_of(pq.read_schema(second)) == json_columns_of(pq.read_schema(first))
    assert pq.ParquetFile(second).metadata.num_rows == 0


async def test_files_are_written_atomically(mock_llm, make_generator, tmp_path):
    b = dd.DataDesignerConfigBuilder()
    b.with_seed_dataset(dd.DataFrameSeedSource(df=seed_frame(12)))
    b.add_column(name="twice", column_type="expression", expr="{{ id * 2 }}", dtype="int")
    gen = make_generator(b, mock_llm, dd.RunConfig(buffer_size=5))
    for index, start, n in gen.row_groups(12):
        await gen.generate(index, start, n, output_dir=tmp_path)
    # Writing a row group again replaces its file.
    await gen.generate(1, 5, 5, output_dir=tmp_path)
    assert all_files(tmp_path) == [f"{PARQUET_DIR}/batch_{i:05d}.parquet" for i in range(3)]
    assert read_parquet(parquet_files(tmp_path / PARQUET_DIR))["twice"].tolist() == [
        2 * i for i in range(12)
    ]


# -- determinism ---------------------------------------------------------------------------


def determinism_builder() -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(model_configs=[model(max_parallel_requests=64)])
    add_samplers(b)
    b.add_column(
        name="desc", column_type="expression", expr="{{ topic }} at {{ price | round(2) }}"
    )
    b.add_column(
        name="cents", column_type="expression", expr="{{ (price * 100) | int }}", dtype="int"
    )
    b.add_column(
        name="answer",
        column_type="llm-text",
        model_alias="fast",
        prompt="Describe {{ desc }} for {{ person.first_name }} ({{ uid }})",
    )
    return b


async def test_same_rows_in_one_pass_or_row_group_by_row_group(mock_llm, make_generator):
    run = dd.RunConfig(seed=11)
    one_pass = await make_generator(determinism_builder(), mock_llm, run).generate(0, 0, 600)
    split = make_generator(determinism_builder(), mock_llm, run)
    parts = [
        await split.generate(2, 500, 100),  # any order
        await split.generate(0, 0, 250),
        await split.generate(1, 250, 250),
    ]
    joined = pd.concat([parts[1].frame, parts[2].frame, parts[0].frame], ignore_index=True)
    pd.testing.assert_frame_equal(one_pass.frame, joined)
    assert one_pass.frame["uid"].is_unique
    # A different seed gives different rows.
    other = await make_generator(determinism_builder(), mock_llm, dd.RunConfig(seed=12)).generate(
        0, 0, 20
    )
    assert other.frame["uid"].tolist() != one_pass.frame["uid"][:20].tolist()


# -- processors ----------------------------------------------------------------------------


def processor_builder() -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(model_configs=[model(max_parallel_requests=16)])
    b.with_seed_dataset(dd.DataFrameSeedSource(df=seed_frame(6)))
    b.add_column(name="topic", column_type="expression", expr="topic {{ id }}")
    b.add_column(
        name="question", column_type="llm-text", model_alias="fast", prompt="Ask about {{ topic }}"
    )
    b.add_column(
        name="answer", column_type="llm-text", model_alias="fast", prompt="Answer {{ question }}"
    )
    b.add_column(name="n", column_type="expression", expr="{{ id * 3 }}", dtype="int")
    b.add_column(name="tmp_a", column_type="expression", expr="a{{ id }}")
    b.add_column(name="tmp_b", column_type="expression", expr="{{ id }}", dtype="int")
    b.add_column(name="secret", column_type="expression", expr="s{{ id }}", drop=True)
    b.add_processor(dd.DropColumnsProcessorConfig(name="scratch", column_names=["tmp_*", "text"]))
    b.add_processor(
        dd.SchemaTransformProcessorConfig(
            name="chatml",
            template={
                "messages": [
                    {"role": "system", "content": "You know {{ topic }}."},
                    {"role": "user", "content": "{{ question }}"},
                    {"role": "assistant", "content": "{{ answer }}"},
                ],
                "n": "{{ n }}",
                "meta": {"scratch": "{{ tmp_a }}/{{ secret }}"},
            },
        )
    )
    return b


async def test_processors_write_their_own_outputs(mock_llm, make_generator, tmp_path):
    gen = make_generator(processor_builder(), mock_llm)
    result = await gen.generate(0, 0, 6, output_dir=tmp_path)
    assert all_files(tmp_path) == [
        f"{DROPPED_DIR}/batch_00000.parquet",
        f"{PARQUET_DIR}/batch_00000.parquet",
        f"{PROCESSORS_DIR}/chatml/batch_00000.parquet",
        f"{PROCESSORS_DIR}/scratch/batch_00000.parquet",
    ]
    main = read_parquet([tmp_path / result.files["main"]])
    assert list(main.columns) == ["id", "topic", "question", "answer", "n"]
    assert main["id"].tolist() == list(range(6))
    pd.testing.assert_frame_equal(main, result.frame.reset_index(drop=True), check_dtype=False)

    scratch = read_parquet([tmp_path / result.files["processor:scratch"]])
    assert list(scratch.columns) == ["text", "tmp_a", "tmp_b"]
    assert scratch["tmp_b"].tolist() == list(range(6))
    dropped = read_parquet([tmp_path / result.files["dropped"]])
    assert dropped["secret"].tolist() == [f"s{i}" for i in range(6)]

    chatml = read_parquet([tmp_path / result.files["processor:chatml"]])
    assert len(chatml) == len(main) == 6
    for row, out in zip(main.itertuples(), chatml.itertuples(), strict=True):
        assert out.messages == [
            {"role": "system", "content": f"You know topic {row.id}."},
            {"role": "user", "content": row.question},
            {"role": "assistant", "content": row.answer},
        ]
        assert out.n == str(row.n)
        assert out.meta == {"scratch": f"a{row.id}/s{row.id}"}


async def test_processors_keep_the_row_count_with_failed_rows(mock_llm, make_generator):
    b = processor_builder()
    b.add_column(
        name="odd", column_type="expression", expr="{{ 1 if id % 2 else 'x' }}", dtype="int"
    )
    for policy, rows in (("drop", 3), ("null", 6)):
        run = dd.RunConfig(on_cell_error=policy, disable_early_shutdown=True)
        result = await make_generator(b, mock_llm, run).generate(0, 0, 6)
        assert result.num_rows == rows
        assert len(result.processor_frames["chatml"]) == rows
        assert len(result.processor_frames["scratch"]) == rows
        assert len(result.dropped_frame) == rows


# -- seeds through the generator -----------------------------------------------------------


def write_seed(path: Path, df: pd.DataFrame) -> str:
    fmt = path.suffix[1:]
    if fmt == "parquet":
        df.to_parquet(path)
    elif fmt == "csv":
        df.to_csv(path, index=False)
    else:
        df.to_json(path, orient="records", lines=True)
    return str(path)


def seed_builder(source, strategy="ordered", selection=None) -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder()
    b.with_seed_dataset(source, sampling_strategy=strategy, selection_strategy=selection)
    b.add_column(name="coin", column_type="sampler", sampler_type="bernoulli", params={"p": 0.5})
    b.add_column(name="tag", column_type="expression", expr="{{ text }}/{{ coin }}")
    return b


async def assert_split_matches_one_pass(builder, mock_llm, make_generator, n=70, size=16):
    run = dd.RunConfig(seed=5, buffer_size=size)
    one_pass = (await make_generator(builder, mock_llm, run).generate(0, 0, n)).frame
    gen = make_generator(builder, mock_llm, run)
    groups = gen.row_groups(n)
    assert len(groups) > 2
    for index, start, rows in reversed(groups):
        part = (await gen.generate(index, start, rows)).frame
        expected = one_pass.iloc[start : start + rows].reset_index(drop=True)
        pd.testing.assert_frame_equal(part, expected)
    return one_pass


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl", "dataframe"])
async def test_ordered_seed_cycles(fmt, mock_llm, make_generator, tmp_path):
    df = seed_frame(25)
    if fmt == "dataframe":
        source = dd.DataFrameSeedSource(df=df)
    else:
        source = dd.LocalFileSeedSource(path=write_seed(tmp_path / f"seed.{fmt}", df))
    out = await assert_split_matches_one_pass(seed_builder(source), mock_llm, make_generator)
    assert out["id"].tolist() == [i % 25 for i in range(70)]
    assert out["text"].tolist() == [f"text {i % 25}" for i in range(70)]
    assert out["tag"].tolist() == [
        f"{t}/{c}" for t, c in zip(out["text"], out["coin"], strict=True)
    ]


async def test_shuffled_seed(mock_llm, make_generator, tmp_path):
    path = write_seed(tmp_path / "seed.parquet", seed_frame(25))
    builder = seed_builder(dd.LocalFileSeedSource(path=path), strategy="shuffle")
    out = await assert_split_matches_one_pass(builder, mock_llm, make_generator)
    ids = out["id"].tolist()
    for epoch in range(2):  # each full epoch is a permutation of the seed
        assert sorted(ids[epoch * 25 : (epoch + 1) * 25]) == list(range(25))
    assert ids[:25] != list(range(25)) and ids[:25] != ids[25:50]
    assert set(ids[50:]) <= set(range(25)) and len(set(ids[50:])) == 20


@pytest.mark.parametrize("strategy", ["ordered", "shuffle"])
async def test_index_range_selection(strategy, mock_llm, make_generator, tmp_path):
    path = write_seed(tmp_path / "seed.jsonl", seed_frame(25))
    builder = seed_builder(
        dd.LocalFileSeedSource(path=path), strategy, dd.IndexRange(start=5, end=14)
    )
    out = await assert_split_matches_one_pass(builder, mock_llm, make_generator)
    if strategy == "ordered":
        assert out["id"].tolist() == [5 + i % 10 for i in range(70)]
    else:
        for epoch in range(7):
            assert sorted(out["id"][epoch * 10 : (epoch + 1) * 10]) == list(range(5, 15))


@pytest.mark.parametrize("strategy", ["ordered", "shuffle"])
async def test_partition_block_selection(strategy, mock_llm, make_generator, tmp_path):
    # 25 rows in 3 blocks: 0..8, 9..16, 17..24.
    source = dd.LocalFileSeedSource(path=write_seed(tmp_path / "seed.csv", seed_frame(25)))
    builder = seed_builder(source, strategy, dd.PartitionBlock(index=1, num_partitions=3))
    out = await assert_split_matches_one_pass(builder, mock_llm, make_generator, n=40, size=7)
    if strategy == "ordered":
        assert out["id"].tolist() == [9 + i % 8 for i in range(40)]
    else:
        for epoch in range(5):
            assert sorted(out["id"][epoch * 8 : (epoch + 1) * 8]) == list(range(9, 17))


async def test_seed_glob_reads_files_in_order(mock_llm, make_generator, tmp_path):
    for part in range(3):
        write_seed(
            tmp_path / f"part-{part}.parquet",
            seed_frame(5).assign(id=lambda d, p=part: d.id + 5 * p),
        )
    source = dd.LocalFileSeedSource(path=str(tmp_path / "part-*.parquet"))
    out = await assert_split_matches_one_pass(
        seed_builder(source), mock_llm, make_generator, n=30, size=4
    )
    assert out["id"].tolist() == [i % 15 for i in range(30)]


def double_unless_bad(row: dict, params: dict) -> int:
    if row["id"] in params["bad"]:
        raise ValueError(f"bad id {row['id']}")
    return row["id"] * 2


async def test_custom_int_column_does_not_drift_to_float(mock_llm, make_generator, tmp_path):
    b = dd.DataDesignerConfigBuilder()
    b.with_seed_dataset(dd.DataFrameSeedSource(df=seed_frame(12)))
    b.add_column(
        name="twice",
        column_type="custom",
        function=f"{__name__}:double_unless_bad",
        params={"bad": [7, 9]},
        required_columns=["id"],
    )
    run = dd.RunConfig(on_cell_error="null", disable_early_shutdown=True, buffer_size=6)
    gen = make_generator(b, mock_llm, run)
    results = [
        await gen.generate(i, start, n, output_dir=tmp_path) for i, start, n in gen.row_groups(12)
    ]
    assert results[0].errors == {} and results[1].errors == {"custom": 2}
    first, second = (pq.read_schema(f) for f in parquet_files(tmp_path / PARQUET_DIR))
    assert first.field("twice").type == pa.int64() and second == first
    back = read_parquet(parquet_files(tmp_path / PARQUET_DIR))
    assert str(back["twice"].dtype) == "Int64"
    assert back["twice"].fillna(-1).tolist()[6:] == [12, -1, 16, -1, 20, 22]
