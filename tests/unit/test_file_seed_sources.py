"""Directory, file-contents and agent-rollout seed sources (rows made from files), and
refused seed types."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from dd_prefect.config.builder import DataDesignerConfig
from dd_prefect.config.seeds import (
    AgentRolloutSeedSource,
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


def test_unsupported_seed_types_and_formats_are_named() -> None:
    with pytest.raises(ValidationError, match=r"seed_type 'hf'.* not supported"):
        SeedConfig.model_validate({"source": {"seed_type": "hf", "path": "x"}})
    with pytest.raises(ValidationError, match="agent_rollout format 'codex' is not supported"):
        SeedConfig.model_validate({"source": {"seed_type": "agent_rollout", "format": "codex"}})


TRACE = [
    {
        "sessionId": "s2",
        "agentId": "a7",
        "cwd": "/w",
        "gitBranch": "main",
        "version": "1.2",
        "isSidechain": True,
        "timestamp": "2026-01-02T10:00:00+01:00",
        "type": "user",
        "message": {
            "role": "user",
            "content": [
                {"type": "text", "text": "run ls"},
                {"type": "tool_result", "tool_use_id": "t0", "content": "old"},
            ],
        },
    },
    {
        "timestamp": "2026-01-02T09:30:00Z",
        "type": "assistant",
        "message": {
            "content": [
                {"type": "thinking", "thinking": "hmm"},
                {"type": "text", "text": "ok"},
                {"type": "tool_use", "id": "t1", "name": "bash", "input": {"cmd": "ls"}},
            ]
        },
    },
    {
        "timestamp": "2026-01-02T09:31:00Z",
        "type": "user",
        "message": {"content": {"type": "tool_result", "tool_use_id": "t1", "content": "a b"}},
    },
    {"timestamp": "2026-01-02T09:32:00", "type": "assistant", "message": {"content": "done"}},
    {"type": "summary", "summary": "x"},
]


def test_claude_code_sessions_become_rows(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / "tool-results").mkdir(parents=True)
    (project / "s2.jsonl").write_text("\n".join(json.dumps(r) for r in TRACE))
    (project / "bad.jsonl").write_text("not json")  # skipped with a warning
    (project / "history.jsonl").write_text("{}")  # not a session
    (project / "tool-results" / "x.jsonl").write_text("{}")
    index = {"entries": [{"sessionId": "s2", "projectPath": "/proj", "summary": "Listing"}]}
    (project / "sessions-index.json").write_text(json.dumps(index))
    source = AgentRolloutSeedSource(format="claude_code", path=str(tmp_path))
    assert read_seed_columns(source)[:2] == ["trace_id", "source_kind"]
    (row,) = rows(source)
    assert row["trace_id"] == "s2:a7" and row["project_path"] == "/proj"
    # 10:00+01:00 is the earliest; a naive timestamp counts as UTC.
    assert (row["started_at"], row["ended_at"]) == (
        "2026-01-02T10:00:00+01:00",
        "2026-01-02T09:32:00",
    )
    assert row["is_sidechain"] and row["git_branch"] == "main"
    assert row["source_meta"] == {
        "record_count": 5,
        "record_types": ["assistant", "summary", "user"],
        "claude_versions": ["1.2"],
        "summary": "Listing",
    }
    assert row["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "run ls"}]},
        {"role": "tool", "content": [{"type": "text", "text": "old"}], "tool_call_id": "t0"},
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "ok"}],
            "reasoning_content": "hmm",
            "tool_calls": [
                {
                    "id": "t1",
                    "type": "function",
                    "function": {"name": "bash", "arguments": '{"cmd": "ls"}'},
                }
            ],
        },
        {"role": "tool", "content": [{"type": "text", "text": "a b"}], "tool_call_id": "t1"},
        {"role": "assistant", "content": [{"type": "text", "text": "done"}]},
    ]
    assert (row["message_count"], row["tool_call_count"]) == (5, 1)
    assert row["final_assistant_message"] == "done"


def test_claude_code_defaults_to_its_trace_directory() -> None:
    source = AgentRolloutSeedSource(format="claude_code")
    assert source.root() == (Path.home() / ".claude" / "projects").resolve()
    assert source.pattern() == "*.jsonl"
