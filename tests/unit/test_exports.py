"""Exports keep the data (issue 10, item 8).

jsonl used to cut floats to 10 significant digits (``frame.to_json``) and parquet stored
nested values as JSON strings. Now floats round-trip exactly in jsonl, csv and parquet,
and parquet holds dicts and lists as Arrow structs and lists that pyarrow, pandas and
duckdb read as nested data; a column Arrow cannot type is written as JSON text instead.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dd_prefect.config as dd
from dd_prefect.engine.parquet_io import json_columns_of, read_parquet
from dd_prefect.workflow.metadata import DatasetMetadata
from dd_prefect.workflow.results import DatasetCreationResults, export_frame

FLOATS = [0.9561231541124297, 1e-300, 5e-324, 1.7976931348623157e308]
ODD = [  # custom-column values, by row: Arrow can't type them as one column
    {"x": 1},
    "text",
    [1, "a"],
    None,
]


def odd_frame() -> pd.DataFrame:
    """Four rows of what exports must keep."""
    return pd.DataFrame(
        {
            "f": FLOATS,
            "third": [1 / 3, -0.0, 0.1, float("nan")],
            "big": [2**62, 2**53 + 1, -1, 0],
            "s": ["plain", "ünï\ncode", "", None],
            # dicts whose keys differ by row, lists with None in them, lists of dicts
            "struct": [{"a": 1}, {"b": "x", "c": [1, None]}, None, {"a": 2, "d": {"e": 0.5}}],
            "nums": [[1, None, 3], [], None, [4]],
            "dicts": [[{"k": 1}], [{"k": 2, "extra": FLOATS[0]}], [], None],
            "mixed": ODD,
            "empty": [{}, {"a": {}}, None, {}],  # Arrow structs need a field: JSON text
            "nulls": [None, None, None, None],
            "when": pd.to_datetime(["2024-01-02 03:04:05.123456"] * 4),
        }
    )


def same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (
        a == b and math.copysign(1, a) == math.copysign(1, b)
    )


def plain(value: Any) -> Any:
    """Nested values as plain Python (pandas reads Arrow lists as numpy arrays)."""
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


# --- jsonl --------------------------------------------------------------------------------


def test_jsonl_round_trips_floats_exactly(tmp_path: Path) -> None:
    frame = odd_frame()
    path = export_frame(frame, tmp_path / "out.jsonl")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 4
    assert [r["f"] for r in rows] == FLOATS  # 0.9561231541124297 was 0.9561231541
    assert same_float(rows[1]["third"], -0.0) and rows[0]["third"] == 1 / 3
    assert rows[3]["third"] is None  # NaN: JSON has no NaN
    assert [r["big"] for r in rows] == [2**62, 2**53 + 1, -1, 0]
    assert rows[1]["s"] == "ünï\ncode" and rows[3]["s"] is None
    assert rows[1]["dicts"][0]["extra"] == FLOATS[0]
    assert [r["struct"] for r in rows] == frame["struct"].tolist()
    assert [r["mixed"] for r in rows] == ODD
    assert rows[0]["when"] == "2024-01-02T03:04:05.123456"


def test_jsonl_writes_nonfinite_floats_as_null(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"v": [float("inf"), -float("inf"), 1.5], "n": [[float("nan")], [], [1.0]]}
    )
    lines = export_frame(frame, tmp_path / "x.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"v": None, "n": [None]},
        {"v": None, "n": []},
        {"v": 1.5, "n": [1.0]},
    ]


# --- parquet ------------------------------------------------------------------------------


def test_parquet_holds_nested_values_as_arrow_structs_and_lists(tmp_path: Path) -> None:
    path = export_frame(odd_frame(), tmp_path / "out.parquet")
    schema = pq.read_schema(path)
    assert pa.types.is_struct(schema.field("struct").type)  # was a JSON string
    assert pa.types.is_list(schema.field("nums").type)
    dicts = schema.field("dicts").type
    assert pa.types.is_list(dicts) and pa.types.is_struct(dicts.value_type)
    # Arrow cannot type these: JSON text, listed for dd_prefect's own reader
    assert schema.field("mixed").type == pa.string()
    assert schema.field("empty").type == pa.string()
    assert sorted(json_columns_of(schema)) == ["empty", "mixed"]

    rows = pq.read_table(path).to_pylist()
    assert [r["f"] for r in rows] == FLOATS
    assert rows[0]["struct"] == {"a": 1, "b": None, "c": None, "d": None}
    assert rows[1]["struct"]["c"] == [1, None]
    assert rows[0]["nums"] == [1, None, 3] and rows[1]["nums"] == [] and rows[2]["nums"] is None
    assert rows[1]["dicts"] == [{"k": 2, "extra": FLOATS[0]}]
    assert [json.loads(r["mixed"]) if r["mixed"] else None for r in rows] == ODD


def test_pandas_reads_the_parquet_export_as_nested_data(tmp_path: Path) -> None:
    frame = odd_frame()
    path = export_frame(frame, tmp_path / "out.parquet")
    back = pd.read_parquet(path)
    assert back["f"].tolist() == FLOATS
    assert isinstance(back["struct"][0], dict) and back["struct"][3]["d"] == {"e": 0.5}
    first = plain(back["nums"][0])  # pandas reads a list<int64> with a null as floats
    assert first[0] == 1 and pd.isna(first[1]) and first[2] == 3
    assert plain(back["dicts"][1]) == [{"k": 2, "extra": FLOATS[0]}]
    assert back["when"][0] == frame["when"][0]
    # dd_prefect's reader decodes the JSON-text fallback columns too
    ours = read_parquet([path])
    assert ours["mixed"].tolist() == ODD
    assert ours["empty"].tolist() == frame["empty"].tolist()


def test_duckdb_reads_the_parquet_export_as_nested_data(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    path = export_frame(odd_frame(), tmp_path / "out.parquet")
    con = duckdb.connect()
    types = dict(
        con.execute(f"SELECT column_name, column_type FROM (DESCRIBE '{path}')").fetchall()
    )
    assert types["struct"].startswith("STRUCT(")
    assert types["nums"] == "BIGINT[]"
    assert types["dicts"].startswith("STRUCT(") and types["dicts"].endswith("[]")
    rows = con.execute(
        f"SELECT struct.a, struct.d.e, len(nums), dicts[1].k, f FROM '{path}'"
    ).fetchall()
    assert rows == [
        (1, None, 3, 1, FLOATS[0]),
        (None, None, 0, 2, FLOATS[1]),
        (None, None, None, None, FLOATS[2]),
        (2, 0.5, 1, None, FLOATS[3]),
    ]


def test_parquet_export_of_an_all_null_or_empty_frame(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": pd.Series([], dtype=object), "b": pd.Series([], dtype=float)})
    path = export_frame(frame, tmp_path / "e.parquet")
    assert pq.read_table(path).num_rows == 0
    assert pq.read_schema(path).field("a").type == pa.string()


# --- csv stays as it was ------------------------------------------------------------------


def test_csv_keeps_nested_values_as_json_text_and_floats_exact(tmp_path: Path) -> None:
    path = export_frame(odd_frame(), tmp_path / "out.csv")
    back = pd.read_csv(path, keep_default_na=False)
    assert back["f"].tolist() == FLOATS
    assert json.loads(back["struct"][1]) == {"b": "x", "c": [1, None]}
    assert json.loads(back["dicts"][1]) == [{"k": 2, "extra": FLOATS[0]}]


# --- on real parts: the engine with the bundled mock LLM ----------------------------------


def odd_value(row: dict[str, Any], params: dict[str, Any]) -> Any:
    """A custom column whose values Arrow can't type as one column."""
    return ODD[int(row["n"])]


def builder() -> dd.DataDesignerConfigBuilder:
    model = dd.ModelConfig(alias="m", model="mock-model", provider="mock")
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "stars": {"type": "integer"}},
        "required": ["title", "stars"],
    }
    return (
        dd.DataDesignerConfigBuilder(model_configs=[model])
        .add_column(
            name="n",
            column_type="sampler",
            sampler_type="category",
            params={"values": [0, 1, 2, 3]},
        )
        .add_column(
            name="g",
            column_type="sampler",
            sampler_type="gaussian",
            params={"mean": 0.5, "stddev": 0.2},
        )
        .add_column(
            name="review",
            column_type="llm-structured",
            model_alias="m",
            prompt="Review number {{ n }}",
            output_format=schema,
        )
        .add_column(
            name="odd",
            column_type="custom",
            function=f"{__name__}:odd_value",
            required_columns=["n"],
        )
    )


def designer(tmp_path: Path) -> Any:
    from dd_prefect import DataDesigner

    return DataDesigner(
        artifact_path=tmp_path / "art",
        model_providers=[dd.ModelProvider(name="mock", provider_type="mock")],
        run_config=dd.RunConfig(seed=5, buffer_size=4),
    )


def check_exports(frame: pd.DataFrame, export: Any, tmp_path: Path) -> None:
    rows = [json.loads(line) for line in export(tmp_path / "x.jsonl").read_text().splitlines()]
    assert [r["g"] for r in rows] == frame["g"].tolist()  # every digit
    assert [r["review"] for r in rows] == frame["review"].tolist()
    assert [r["odd"] for r in rows] == frame["odd"].tolist()

    path = export(tmp_path / "x.parquet")
    schema = pq.read_schema(path)
    assert pa.types.is_struct(schema.field("review").type)
    assert schema.field("odd").type == pa.string()
    assert pq.read_table(path).column("g").to_pylist() == frame["g"].tolist()
    assert pd.read_parquet(path)["review"].tolist() == frame["review"].tolist()
    assert read_parquet([path])["odd"].tolist() == frame["odd"].tolist()


def test_preview_exports_keep_generated_data(tmp_path: Path) -> None:
    preview = designer(tmp_path).preview(builder(), num_records=8)
    frame = preview.dataset
    assert isinstance(frame["review"][0], dict) and set(frame["odd"].map(type)) > {dict}
    check_exports(frame, preview.export, tmp_path)


def test_dataset_on_disk_exports_keep_generated_data(tmp_path: Path) -> None:
    """Row groups written by the engine (nested values stored as JSON text inside the
    dataset), loaded back and exported."""
    from dd_prefect.engine.generator import DatasetGenerator

    runtime = designer(tmp_path).runtime
    config = builder().build()
    base = tmp_path / "art" / "d"

    async def generate() -> list[str]:
        async with runtime.models(config.model_configs) as registry:
            gen = DatasetGenerator(config, runtime.run_config, registry)
            return [
                (await gen.generate(i, start, n, output_dir=base)).files["main"]
                for i, start, n in gen.row_groups(8)
            ]

    files = asyncio.run(generate())
    metadata = DatasetMetadata(
        dataset_name="d",
        dataset_key="k",
        config_fingerprint="f",
        target_records=8,
        buffer_size=4,
        num_batches=len(files),
        files=files,
    )
    results = DatasetCreationResults(base, metadata=metadata)
    frame = results.load_dataset()
    assert len(frame) == 8 and isinstance(frame["review"][0], dict)
    check_exports(frame, results.export, tmp_path)
