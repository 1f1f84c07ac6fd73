"""Seed sources made from the files of a directory (names follow Data Designer).

- ``directory``: a row per file (its path and name);
- ``file_contents``: the same, with each file's text in ``content``;
- ``agent_rollout``: a row per agent session read from trace files (format ``claude_code``;
  Data Designer's other formats are refused by name).
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
from enum import StrEnum
from fnmatch import fnmatchcase
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

MANIFEST_COLUMNS = ("source_kind", "source_path", "relative_path", "file_name")
"""The columns of a directory seed: one row per file (as Data Designer)."""


class _FileSystemSeedSource(BaseModel):
    """Seed rows made from the files under directory `path` whose names match
    `file_pattern` (case-sensitive, names only), in nested directories too unless
    `recursive` is False; one row per file, in the order of their relative paths."""

    model_config = ConfigDict(extra="forbid")
    source_kind: ClassVar[str]

    path: str
    file_pattern: str = "*"
    recursive: bool = True

    @field_validator("path")
    @classmethod
    def _path_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("path must be a non-empty directory path")
        return value

    @field_validator("file_pattern")
    @classmethod
    def _names_only(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.strip():
            raise ValueError("file_pattern must be a non-empty string")
        if "/" in value or "\\" in value:
            raise ValueError("file_pattern must match file names, not relative paths")
        return value

    def root(self) -> Path:
        """The directory, resolved (a relative path from the working directory)."""
        return Path(self.path).expanduser().resolve()

    def pattern(self) -> str:
        """The file name pattern."""
        return self.file_pattern

    def handles(self, relative_path: str) -> bool:
        """Whether a matching file (by its path under :meth:`root`) is one of the seed's."""
        return True

    def files(self) -> list[Path]:
        """The matching files, sorted by path relative to :meth:`root`.

        Raises ValueError when the directory does not exist or no file matches.
        """
        root, pattern = self.root(), self.pattern()
        if not root.is_dir():
            raise ValueError(f"seed source directory '{root}' does not exist")
        found: list[Path] = []
        for folder, dirs, names in os.walk(root):
            if not self.recursive:
                dirs.clear()
            found += [Path(folder, n) for n in names if fnmatchcase(n, pattern)]
        found = [f for f in found if self.handles(f.relative_to(root).as_posix())]
        if not found:
            scope = "under" if self.recursive else "directly under"
            raise ValueError(f"no files matched file_pattern {pattern!r} {scope} {root}")
        return sorted(found, key=lambda f: f.relative_to(root).as_posix())

    def describe(self) -> str:
        return f"{self.root()} ({self.pattern()})"

    def content_digest(self) -> str:
        """A digest of the matched files' names, sizes and modification times."""
        return files_digest(self.files())

    def manifest(self) -> list[dict[str, str]]:
        """One row per file: source_kind, source_path, relative_path, file_name."""
        root = self.root()
        kind = self.source_kind
        return [
            {
                "source_kind": kind,
                "source_path": str(path),
                "relative_path": path.relative_to(root).as_posix(),
                "file_name": path.name,
            }
            for path in self.files()
        ]

    @property
    def columns(self) -> list[str]:
        """The seed's columns (the same whatever the files)."""
        return list(MANIFEST_COLUMNS)


class DirectorySeedSource(_FileSystemSeedSource):
    """Seed rows listing files: each matching file is a row with its ``source_kind``
    (``"directory_file"``), ``source_path``, ``relative_path`` and ``file_name``."""

    seed_type: Literal["directory"] = "directory"
    source_kind: ClassVar[str] = "directory_file"


class FileContentsSeedSource(_FileSystemSeedSource):
    """Seed rows holding files' text: a directory seed's columns (``source_kind`` is
    ``"file_contents"``) plus ``content``, each file read with `encoding`."""

    seed_type: Literal["file_contents"] = "file_contents"
    source_kind: ClassVar[str] = "file_contents"
    encoding: str = "utf-8"

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}; use a Python codec name") from None
        return value

    @property
    def columns(self) -> list[str]:
        return [*MANIFEST_COLUMNS, "content"]


def files_digest(files: list[Path]) -> str:
    """sha256 over (name, size, mtime_ns) of each file, in order."""
    entries = []
    for path in files:
        stat = path.stat()
        entries.append([path.name, stat.st_size, stat.st_mtime_ns])
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


class AgentRolloutFormat(StrEnum):
    """Agent trace formats (Data Designer's); dd_prefect reads ``claude_code``."""

    ATIF = "atif"
    CLAUDE_CODE = "claude_code"
    CODEX = "codex"
    HERMES_AGENT = "hermes_agent"
    PI_CODING_AGENT = "pi_coding_agent"


SUPPORTED_ROLLOUT_FORMATS = frozenset({AgentRolloutFormat.CLAUDE_CODE})

ROLLOUT_COLUMNS = (
    "trace_id",
    "source_kind",
    "source_path",
    "root_session_id",
    "agent_id",
    "is_sidechain",
    "cwd",
    "project_path",
    "git_branch",
    "started_at",
    "ended_at",
    "messages",
    "source_meta",
    "message_count",
    "tool_call_count",
    "final_assistant_message",
)
"""The columns of an agent rollout seed: one row per session (as Data Designer)."""

# Where each format's traces are by default, and their file names.
_ROLLOUT_DEFAULTS = {
    AgentRolloutFormat.CLAUDE_CODE: ("~/.claude/projects", "*.jsonl"),
}


class AgentRolloutSeedSource(_FileSystemSeedSource):
    """Seed rows from agent traces: one row per session with its chat `messages` (OpenAI
    shaped: role, content blocks, reasoning_content, tool_calls, tool_call_id), ids, times
    and counts (:data:`ROLLOUT_COLUMNS`). `path` defaults to the format's trace directory
    (``~/.claude/projects``), `file_pattern` to its files (``*.jsonl``). A trace file that
    can't be parsed is skipped with a warning."""

    seed_type: Literal["agent_rollout"] = "agent_rollout"
    format: AgentRolloutFormat
    path: str | None = None  # type: ignore[assignment]
    file_pattern: str | None = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _supported(self) -> AgentRolloutSeedSource:
        if self.format not in SUPPORTED_ROLLOUT_FORMATS:
            raise ValueError(
                f"agent_rollout format '{self.format}' is not supported by dd_prefect (yet); "
                "it reads 'claude_code' traces"
            )
        return self

    def root(self) -> Path:
        path = self.path or _ROLLOUT_DEFAULTS[self.format][0]
        return Path(path).expanduser().resolve()

    def pattern(self) -> str:
        return self.file_pattern or _ROLLOUT_DEFAULTS[self.format][1]

    def handles(self, relative_path: str) -> bool:
        # Claude Code keeps tool outputs and the prompt history beside the sessions.
        parts = Path(relative_path).parts
        return parts[-1] != "history.jsonl" and "tool-results" not in parts

    @property
    def columns(self) -> list[str]:
        return list(ROLLOUT_COLUMNS)
