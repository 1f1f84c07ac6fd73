"""SeedReader: file formats, selection, ORDERED cycling, SHUFFLE per epoch, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dd_prefect.config.seeds import (
    DataFrameSeedSource,
    IndexRange,
    LocalFileSeedSource,
    PartitionBlock,
    SeedConfig,
)
from dd_prefect.engine.seed_reader import SeedReader, partition_bounds


def frame(n: int, offset: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"id": np.arange(offset, offset + n), "text": [f"t{i}" for i in range(n)]})


def reader(
    df: pd.DataFrame | None = None,
    *,
    path: Path | str | None = None,
    strategy: str = "ordered",
    selection=None,
    seed: int | None = 3,
    fingerprint: str = "fp",
) -> SeedReader:
    source = LocalFileSeedSource(path=str(path)) if path is not None else DataFrameSeedSource(df=df)
    config = SeedConfig(source=source, sampling_strategy=strategy, selection_strategy=selection)
    return SeedReader(config, seed=seed, fingerprint=fingerprint)


def ids(r: SeedReader, start: int, n: int) -> list[int]:
    return r.rows(start, n)["id"].tolist()


# --- formats ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_reads_each_format(tmp_path: Path, fmt: str) -> None:
    df = frame(7)
    path = tmp_path / f"seed.{fmt}"
    if fmt == "parquet":
        df.to_parquet(path)
    elif fmt == "csv":
        df.to_csv(path, index=False)
    else:
        df.to_json(path, orient="records", lines=True)
    r = reader(path=path)
    assert r.num_rows == 7
    assert r.columns == ["id", "text"]
    out = r.rows(0, 7)
    assert out["id"].tolist() == list(range(7))
    assert out["text"].tolist() == df["text"].tolist()
    assert list(out.index) == list(range(7))


def test_glob_concatenates_sorted_files(tmp_path: Path) -> None:
    # Written out of order; read in sorted path order.
    frame(3, offset=20).to_parquet(tmp_path / "part-2.parquet")
    frame(2, offset=0).to_parquet(tmp_path / "part-0.parquet")
    frame(4, offset=10).to_parquet(tmp_path / "part-1.parquet")
    r = reader(path=tmp_path / "part-*.parquet")
    assert r.num_rows == 9
    assert ids(r, 0, 9) == [0, 1, 10, 11, 12, 13, 20, 21, 22]


def test_dataframe_source_resets_index() -> None:
    df = frame(4).set_index(pd.Index([9, 8, 7, 6]))
    out = reader(df).rows(0, 4)
    assert list(out.index) == [0, 1, 2, 3]
    assert out["id"].tolist() == [0, 1, 2, 3]


def test_reads_lazily_once(tmp_path: Path) -> None:
    path = tmp_path / "later.csv"
    r = reader(path=path)  # nothing read yet: no error although the file does not exist
    frame(3).to_csv(path, index=False)
    assert r.num_rows == 3
    path.unlink()
    assert ids(r, 0, 4) == [0, 1, 2, 0]


# --- selection --------------------------------------------------------------------------------


def test_index_range_inclusive() -> None:
    r = reader(frame(10), selection=IndexRange(start=2, end=5))
    assert r.num_rows == 4
    assert ids(r, 0, 6) == [2, 3, 4, 5, 2, 3]


def test_index_range_clipped() -> None:
    r = reader(frame(10), selection=IndexRange(start=7, end=100))
    assert ids(r, 0, 3) == [7, 8, 9]


@pytest.mark.parametrize(("n", "k"), [(10, 3), (10, 1), (7, 7), (100, 6), (11, 4)])
def test_partition_block_like_array_split(n: int, k: int) -> None:
    expected = np.array_split(np.arange(n), k)
    for index in range(k):
        r = reader(frame(n), selection=PartitionBlock(index=index, num_partitions=k))
        assert ids(r, 0, r.num_rows) == expected[index].tolist()
        lo, hi = partition_bounds(n, index, k)
        assert list(range(lo, hi)) == expected[index].tolist()


# --- ORDERED ----------------------------------------------------------------------------------


def test_ordered_cycles() -> None:
    r = reader(frame(10))
    assert ids(r, 0, 25) == [i % 10 for i in range(25)]
    assert ids(r, 8, 5) == [8, 9, 0, 1, 2]
    assert ids(r, 1003, 2) == [3, 4]
    empty = r.rows(5, 0)
    assert len(empty) == 0 and list(empty.columns) == ["id", "text"]


# --- SHUFFLE ----------------------------------------------------------------------------------


def test_shuffle_is_a_fresh_permutation_per_epoch() -> None:
    r = reader(frame(50), strategy="shuffle")
    got = ids(r, 0, 200)
    epochs = [got[i : i + 50] for i in range(0, 200, 50)]
    for epoch in epochs:
        assert sorted(epoch) == list(range(50))
    assert epochs[0] != list(range(50))
    assert len({tuple(e) for e in epochs}) == 4


@pytest.mark.parametrize(
    "sizes", [[230], [1, 49, 50, 130], [17] * 13 + [9], [100, 7, 123], [49, 2, 179]]
)
def test_shuffle_split_independent(sizes: list[int]) -> None:
    whole = reader(frame(50), strategy="shuffle").rows(0, 230)
    r = reader(frame(50), strategy="shuffle")  # a fresh reader, as in another process
    parts, start = [], 0
    for size in sizes:
        parts.append(r.rows(start, size))
        start += size
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)


def test_shuffle_out_of_order_calls() -> None:
    r = reader(frame(20), strategy="shuffle")
    late = ids(r, 95, 10)  # epochs 4 and 5 first
    early = ids(r, 0, 40)
    fresh = reader(frame(20), strategy="shuffle")
    assert ids(fresh, 0, 105)[95:] == late
    assert ids(fresh, 0, 40) == early


def test_shuffle_depends_on_seed_and_fingerprint() -> None:
    base = ids(reader(frame(100), strategy="shuffle", seed=1), 0, 100)
    assert base == ids(reader(frame(100), strategy="shuffle", seed=1), 0, 100)
    assert base != ids(reader(frame(100), strategy="shuffle", seed=2), 0, 100)
    assert base != ids(reader(frame(100), strategy="shuffle", seed=1, fingerprint="x"), 0, 100)


def test_shuffle_without_seed_is_consistent_within_a_reader() -> None:
    r = reader(frame(30), strategy="shuffle", seed=None)
    whole = ids(r, 0, 60)
    assert ids(r, 0, 25) + ids(r, 25, 35) == whole
    assert sorted(whole[:30]) == list(range(30))
    other = reader(frame(30), strategy="shuffle", seed=None)
    assert ids(other, 0, 60) != whole


def test_shuffle_within_selection() -> None:
    r = reader(frame(100), strategy="shuffle", selection=IndexRange(start=40, end=49))
    got = ids(r, 0, 30)
    for i in range(0, 30, 10):
        assert sorted(got[i : i + 10]) == list(range(40, 50))


# --- errors -----------------------------------------------------------------------------------


def test_no_matching_file(tmp_path: Path) -> None:
    pattern = str(tmp_path / "missing-*.parquet")
    with pytest.raises(ValueError, match="matches no file") as info:
        reader(path=pattern).num_rows  # noqa: B018
    assert pattern in str(info.value)


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "seed.txt"
    path.write_text("id\n1\n")
    with pytest.raises(ValueError, match="unsupported") as info:
        reader(path=path).rows(0, 1)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(("name", "content"), [("bad.parquet", "not parquet"), ("bad.jsonl", "{")])
def test_unreadable_file(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ValueError, match="cannot read seed file") as info:
        reader(path=path).num_rows  # noqa: B018
    assert str(path) in str(info.value)


def test_empty_selection() -> None:
    with pytest.raises(ValueError, match="no rows"):
        reader(frame(5), selection=IndexRange(start=5, end=9)).num_rows  # noqa: B018
    with pytest.raises(ValueError, match="no rows"):
        reader(frame(2), selection=PartitionBlock(index=3, num_partitions=4)).columns  # noqa: B018
    with pytest.raises(ValueError, match="no rows"):
        reader(frame(0)).rows(0, 1)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    with pytest.raises(ValueError, match="no rows") as info:
        reader(path=path).num_rows  # noqa: B018
    assert str(path) in str(info.value)


def test_negative_arguments() -> None:
    with pytest.raises(ValueError):
        reader(frame(3)).rows(-1, 2)
