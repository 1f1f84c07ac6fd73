"""Directory and file-contents seed sources (rows made from files), and refused seed types."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from dd_prefect.config.builder import DataDesignerConfig
from dd_prefect.config.seeds import (
    DirectorySeedSource,
    FileContentsSeedSource,
    SeedConfig,
    read_seed_columns,
    seed_files_digest,
)
from dd_prefect.config.validation import validate_config
from dd_prefect.engine.seed_reader import SeedReader
from dd_prefect.errors import ConfigValidationError


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "b.txt").write_text("bee\r\nline two", encoding="utf-8")
    (tmp_path / "a.md").write_text("# a", encoding="utf-8")
    (tmp_path / "sub" / "c.txt").write_text("sea", encoding="utf-8")
    (tmp_path / "sub" / "deeper" / "d.txt").write_text("dé", encoding="latin-1")
    return tmp_path


def rows(source) -> list[dict]:
    return SeedReader(SeedConfig(source=source), seed=1, fingerprint="fp").data.to_dict("records")


def test_directory_rows_list_files_in_relative_path_order(tree: Path) -> None:
    got = rows(DirectorySeedSource(path=str(tree)))
    assert [r["relative_path"] for r in got] == ["a.md", "b.txt", "sub/c.txt", "sub/deeper/d.txt"]
    assert got[2] == {
        "source_kind": "directory_file",
        "source_path": str(tree / "sub" / "c.txt"),
        "relative_path": "sub/c.txt",
        "file_name": "c.txt",
    }


def test_pattern_matches_names_and_recursive_false_stays_at_the_top(tree: Path) -> None:
    deep = rows(DirectorySeedSource(path=str(tree), file_pattern="*.txt"))
    assert [r["file_name"] for r in deep] == ["b.txt", "c.txt", "d.txt"]
    top = rows(DirectorySeedSource(path=str(tree), file_pattern="*.txt", recursive=False))
    assert [r["file_name"] for r in top] == ["b.txt"]
    with pytest.raises(ValidationError, match="file names, not relative paths"):
        DirectorySeedSource(path=str(tree), file_pattern="sub/*.txt")


def test_file_contents_reads_text_with_the_encoding(tree: Path) -> None:
    got = rows(FileContentsSeedSource(path=str(tree), file_pattern="*.txt", recursive=False))
    assert [r["content"] for r in got] == ["bee\nline two"]
    assert got[0]["source_kind"] == "file_contents"
    with pytest.raises(ValueError, match=r"cannot decode seed file .*d\.txt' as utf-8"):
        rows(FileContentsSeedSource(path=str(tree / "sub" / "deeper")))
    latin = rows(FileContentsSeedSource(path=str(tree / "sub" / "deeper"), encoding="latin-1"))
    assert latin[0]["content"] == "dé"
    with pytest.raises(ValidationError, match="unknown encoding 'nope'"):
        FileContentsSeedSource(path=str(tree), encoding="nope")


def test_columns_and_problems_are_known_before_running(tree: Path) -> None:
    assert read_seed_columns(FileContentsSeedSource(path=str(tree)))[-1] == "content"
    config = DataDesignerConfig(
        seed_config=SeedConfig(source=DirectorySeedSource(path=str(tree / "none")))
    )
    with pytest.raises(ConfigValidationError, match=r"seed source directory .* does not exist"):
        validate_config(config)
    config = DataDesignerConfig(
        seed_config=SeedConfig(source=DirectorySeedSource(path=str(tree), file_pattern="*.csv"))
    )
    with pytest.raises(ConfigValidationError, match=r"no files matched file_pattern '\*\.csv'"):
        validate_config(config)


def test_digest_follows_the_files(tree: Path) -> None:
    seed = SeedConfig(source=FileContentsSeedSource(path=str(tree)))
    before = seed_files_digest(seed)
    (tree / "sub" / "new.txt").write_text("new")
    assert seed_files_digest(seed) != before


def test_round_trip_as_data_designer_writes_it(tree: Path) -> None:
    raw = {
        "source": {
            "seed_type": "file_contents",
            "path": str(tree),
            "file_pattern": "*.md",
            "recursive": True,
            "encoding": "utf-8",
        }
    }
    seed = SeedConfig.model_validate(raw)
    assert SeedConfig.model_validate(seed.model_dump()) == seed
    assert seed.model_dump()["source"] == raw["source"]


@pytest.mark.parametrize("seed_type", ["agent_rollout", "hf"])
def test_unsupported_seed_types_are_named(seed_type: str) -> None:
    with pytest.raises(ValidationError, match=f"seed_type '{seed_type}'.* not supported"):
        SeedConfig.model_validate({"source": {"seed_type": seed_type, "path": "x"}})
