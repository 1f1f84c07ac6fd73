"""``results.load_analysis()`` (issue 16): computed from the parquet files batch by batch,
its values equal pandas' and numpy's own on the loaded dataset, and it is stored beside
the dataset, reused while the files are unchanged and recomputed when they change."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dd_prefect.config as dd
from dd_prefect.workflow import analysis_store, profiles
from dd_prefect.workflow.layout import DatasetLayout
from dd_prefect.workflow.metadata import DatasetMetadata, RowGroupRecord
from dd_prefect.workflow.results import DatasetCreationResults


def _config() -> dd.DataDesignerConfig:
    builder = dd.DataDesignerConfigBuilder(
        model_configs=[dd.ModelConfig(alias="m", model="x", provider="mock")]
    )
    builder.add_column(
        dd.SamplerColumnConfig(
            name="topic",
            sampler_type="category",
            params=dd.CategorySamplerParams(values=["a", "b", "c", "d"], weights=[5, 3, 2, 1]),
        )
    )
    builder.add_column(dd.LLMTextColumnConfig(name="answer", prompt="{{ topic }}", model_alias="m"))
    builder.add_column(
        dd.LLMJudgeColumnConfig(
            name="judge",
            prompt="{{ answer }}",
            model_alias="m",
            scores=[
                dd.Score(name="quality", description="q", options={1: "bad", 2: "ok", 3: "good"}),
                dd.Score(name="tone", description="t", options={"calm": "c", "rude": "r"}),
            ],
        )
    )
    return builder.build()


def _dataset(base: Path, rows: int = 12_000, files: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "topic": rng.choice(["a", "b", "c"], size=rows, p=[0.5, 0.3, 0.2]),
            "answer": ["x" * int(n) for n in rng.integers(1, 300, size=rows)],
            "judge": [
                {"quality": {"score": int(q), "reasoning": "r"}, "tone": {"score": t}}
                for q, t in zip(
                    rng.integers(1, 4, size=rows),
                    rng.choice(["calm", "rude"], size=rows),
                    strict=True,
                )
            ],
            "count": rng.integers(0, 50, size=rows).astype(float),
            "score": rng.normal(10, 3, size=rows),  # more distinct values than kept exactly
        }
    )
    frame.loc[::7, "count"] = np.nan
    frame.loc[::11, "answer"] = None
    frame["answer__error"] = [("timeout" if i % 11 == 0 else None) for i in range(rows)]
    layout = DatasetLayout(base)
    layout.parquet_dir.mkdir(parents=True)
    names = []
    size = -(-rows // files)
    for i in range(files):
        part = frame.iloc[i * size : (i + 1) * size]
        name = f"parquet-files/batch_{i:05d}.parquet"
        part.to_parquet(base / name)
        names.append(name)
    layout.write_config(_config())
    ledger = pd.DataFrame(
        {
            "row_index": range(6),
            "column": ["answer", "answer", "judge", "answer", "judge", "answer"],
            "error_kind": ["timeout", "timeout", "invalid_json", "http_500", "timeout", "timeout"],
            "dropped": [True, False, True, False, False, True],
        }
    )
    (base / "failed-rows").mkdir()
    ledger.to_parquet(base / "failed-rows" / "batch_00000.parquet")
    layout.write_metadata(
        DatasetMetadata(
            row_groups=[
                RowGroupRecord(
                    index=0,
                    start=0,
                    requested=size,
                    rows=size,
                    files={"main": names[0], "failed": "failed-rows/batch_00000.parquet"},
                )
            ],
            dataset_name="d",
            dataset_key="k",
            config_fingerprint="f",
            target_records=rows + 5,
            buffer_size=rows // files,
            num_batches=files,
            files=names,
            dropped_rows=5,
            errors={"timeout": 5 + len(frame) // 11 + 1},
            llm_usage_total={"mock/x": {"requests": 10, "prompt_tokens": 3}},
        )
    )
    return frame


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, dict]:
    base = tmp_path_factory.mktemp("analysis") / "d"
    _dataset(base)
    results = DatasetCreationResults(base)
    analysis = results.load_analysis()
    stats = {s.column_name: s for s in analysis.column_statistics}
    return base, results.load_dataset(), {"analysis": analysis, "stats": stats}


def test_counts_nulls_unique_equal_pandas(loaded: tuple[Path, pd.DataFrame, dict]) -> None:
    _, frame, got = loaded
    assert got["analysis"].num_records == len(frame)
    assert got["analysis"].target_num_records == len(frame) + 5
    for column in ("topic", "answer", "count"):
        s = got["stats"][column]
        assert s.num_null == frame[column].isna().sum(), column
        assert s.num_unique == frame[column].nunique(), column
        assert not s.num_unique_estimated
    judge = frame["judge"].map(lambda v: json.dumps(v, sort_keys=True))
    assert got["stats"]["judge"].num_unique == judge.nunique()
    # 12,000 distinct floats: more than the sketch keeps, so an estimate within 5 %.
    score = got["stats"]["score"]
    assert score.num_unique_estimated
    assert score.num_unique == pytest.approx(frame["score"].nunique(), rel=0.05)
    assert [s.column_type for s in got["analysis"].column_statistics[:3]] == [
        "sampler",
        "llm-text",
        "llm-judge",
    ]


def test_numeric_and_length_distributions_equal_pandas(
    loaded: tuple[Path, pd.DataFrame, dict],
) -> None:
    _, frame, got = loaded
    for column, series in (
        ("count", frame["count"].dropna()),
        ("answer", frame["answer"].dropna().str.len()),
    ):
        s = got["stats"][column]
        dist = s.distribution if column == "count" else s.length_distribution
        assert not dist["approximate"]
        assert (dist["min"], dist["max"]) == (series.min(), series.max())
        assert dist["mean"] == pytest.approx(series.mean())
        assert dist["stddev"] == pytest.approx(series.std())
        assert dist["median"] == pytest.approx(series.median())
        for q, value in dist["quantiles"].items():
            assert value == pytest.approx(series.quantile(float(q))), (column, q)
        counts, edges = np.histogram(series, bins=profiles.HISTOGRAM_BINS)
        assert dist["histogram"]["counts"] == counts.tolist()
        assert dist["histogram"]["bin_edges"] == pytest.approx(edges.tolist())
    # Many distinct floats: exact histogram from a second pass, quantiles within a fine bin.
    score = frame["score"]
    dist = got["stats"]["score"].distribution
    assert dist["approximate"]
    assert dist["mean"] == pytest.approx(score.mean()) and dist["stddev"] == pytest.approx(
        score.std()
    )
    assert dist["histogram"]["counts"] == np.histogram(score, bins=20)[0].tolist()
    width = (score.max() - score.min()) / profiles.FINE_BINS
    for q, value in dist["quantiles"].items():
        assert abs(value - score.quantile(float(q))) <= width


def test_categories_against_weights_and_judge_scores(
    loaded: tuple[Path, pd.DataFrame, dict],
) -> None:
    _, frame, got = loaded
    analysis = got["analysis"]
    topic = got["stats"]["topic"]
    counts = frame["topic"].value_counts()
    assert topic.distribution["histogram"] == {
        "categories": counts.index.tolist(),
        "counts": counts.tolist(),
    }
    rows = {r["category"]: r for r in analysis.category_rows() if r["column"] == "topic"}
    assert topic.category_weights["weights"] == pytest.approx([5 / 11, 3 / 11, 2 / 11, 1 / 11])
    assert rows["a"]["weight"] == round(5 / 11, 4)
    assert rows["d"] == {"column": "topic", "category": "d", "count": 0, "share": 0.0,
                         "weight": round(1 / 11, 4)}  # fmt: skip
    (judge,) = analysis.column_profiles
    quality = frame["judge"].map(lambda v: v["quality"]["score"]).value_counts()
    histograms = judge["score_distributions"]["histograms"]
    assert dict(zip(*histograms["quality"].values(), strict=True)) == quality.to_dict()
    assert judge["score_distributions"]["distribution_types"] == {
        "quality": "numerical",
        "tone": "categorical",
    }
    tone = frame["judge"].map(lambda v: v["tone"]["score"]).value_counts()
    assert dict(zip(*histograms["tone"].values(), strict=True)) == tone.to_dict()


def test_tokens_failed_rows_and_usage(loaded: tuple[Path, pd.DataFrame, dict]) -> None:
    base, frame, got = loaded
    answer = got["stats"]["answer"]
    tokens = np.ceil(frame["answer"].dropna().str.len() / profiles.CHARS_PER_TOKEN)
    assert answer.output_tokens_mean == pytest.approx(tokens.mean())
    assert answer.output_tokens_median == pytest.approx(tokens.median())
    failed = got["analysis"].failed_rows
    assert failed["dropped_rows"] == 5
    assert failed["errors_kept_by_column"] == {"answer": int(frame["answer__error"].notna().sum())}
    ledger = pd.read_parquet(base / "failed-rows" / "batch_00000.parquet")
    expected = ledger.groupby(["column", "error_kind", "dropped"]).size()
    assert {
        (r["column"], r["error_kind"], r["dropped"]): r["rows"]
        for r in failed["by_column_and_kind"]
    } == expected.to_dict()
    assert got["analysis"].llm_usage == {"mock/x": {"requests": 10, "prompt_tokens": 3}}


def test_stored_beside_the_dataset_reused_and_redone_when_data_changes(tmp_path: Path) -> None:
    base = tmp_path / "d"
    _dataset(base, rows=300)
    results = DatasetCreationResults(base)
    first = results.load_analysis()
    stored = base / analysis_store.ANALYSIS_FILE
    data = json.loads(stored.read_text())
    assert data["num_records"] == 300
    data["num_records"] = -1  # proof of reuse: the stored file is what comes back
    stored.write_text(json.dumps(data))
    assert results.load_analysis().num_records == -1
    frame = pd.read_parquet(base / "parquet-files" / "batch_00000.parquet").head(10)
    frame.to_parquet(base / "parquet-files" / "batch_00000.parquet")
    again = results.load_analysis()
    assert again.num_records == 10 + 200 and again.num_records != first.num_records


def test_preview_frames_are_profiled_in_memory() -> None:
    frame = pd.DataFrame({"n": [1, 2, 2, None], "t": ["a", "bb", "a", None]})
    analysis = profiles_analysis(frame)
    stats = {s.column_name: s for s in analysis.column_statistics}
    assert stats["n"].distribution["median"] == 2.0
    assert stats["t"].distribution["histogram"] == {"categories": ["a", "bb"], "counts": [2, 1]}
    assert stats["t"].length_distribution["max"] == 2


def profiles_analysis(frame: pd.DataFrame) -> object:
    from dd_prefect.workflow.analysis import DatasetAnalysis

    return DatasetAnalysis(frame)


def test_numeric_category_sampler_is_counted_against_its_weights() -> None:
    frame = pd.DataFrame({"stars": [1, 5, 5, 3, 5, 1]})
    config = {
        "columns": [
            {"name": "stars", "column_type": "sampler", "sampler_type": "category",
             "params": {"values": [1, 3, 5], "weights": [1, 1, 2]}},
        ]
    }  # fmt: skip
    data = analysis_store.profile(profiles.frames([frame]), config, None)
    (stars,) = data["column_statistics"]
    assert stars["distribution_type"] == "categorical"
    assert stars["distribution"]["histogram"] == {"categories": [5, 1, 3], "counts": [3, 2, 1]}
    assert stars["category_weights"] == {"categories": [1, 3, 5], "weights": [0.25, 0.25, 0.5]}


def test_small_files_of_one_schema_are_read_as_one_batch(tmp_path: Path) -> None:
    """Many small row-group files make a few batches, not a frame each; a file of another
    schema (an all-null column) starts a new batch; JSON columns come back decoded."""
    from dd_prefect.engine.parquet_io import to_table, write_parquet

    files = []
    for i in range(40):
        frame = pd.DataFrame({"n": [i, i], "obj": [{"k": i}, {"k": -i}], "note": ["x", None]})
        if i == 20:
            frame["note"] = None
        files.append(write_parquet(to_table(frame), tmp_path / f"batch_{i:05d}.parquet"))
    batches = list(analysis_store.parquet_batches(files)())
    assert [len(b) for b in batches] == [40, 2, 38]
    assert pd.concat(batches)["n"].tolist() == [i for i in range(40) for _ in (0, 1)]
    assert batches[2]["obj"].iloc[0] == {"k": 21}
