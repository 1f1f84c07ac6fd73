"""What runs record on disk: ``metadata.json`` of a dataset, ``workflow-metadata.json`` of a
workflow. Unknown fields are kept when a file is rewritten (a newer version may add some).
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dd_prefect._version import __version__

StageStatus = Literal["running", "failed", "completed", "completed_empty", "skipped_empty_upstream"]


class RowGroupRecord(BaseModel):
    """One finished row group as recorded in metadata."""

    model_config = ConfigDict(extra="allow")

    index: int
    start: int
    requested: int
    rows: int
    dropped_rows: int = 0
    errors: dict[str, int] = Field(default_factory=dict)
    nulls: dict[str, int] = Field(default_factory=dict)
    files: dict[str, str] = Field(default_factory=dict)
    hashes: dict[str, str] = Field(default_factory=dict)  # sha256 of each file, as written
    duration: float = 0.0


class ShardRecord(BaseModel):
    """One shard of a sharded dataset run (a contiguous range of its row groups, generated
    by one flow run) as recorded in metadata."""

    model_config = ConfigDict(extra="allow")

    shard: int
    first_row_group: int
    last_row_group: int  # inclusive
    status: Literal["running", "completed", "failed"] = "running"
    flow_run_id: str | None = None
    host: str = ""
    pid: int = 0
    parent_pid: int = 0  # of a process worker: its pid
    records: int = 0
    duration: float = 0.0
    error: str | None = None


class DatasetMetadata(BaseModel):
    """`metadata.json` of a dataset. Unknown fields are kept when rewritten."""

    model_config = ConfigDict(extra="allow")

    dataset_name: str
    library_version: str = __version__
    status: Literal["running", "completed", "failed"] = "running"
    dataset_key: str
    config_fingerprint: str
    target_records: int
    actual_records: int = 0
    buffer_size: int
    num_batches: int
    seed: int | None = None
    shuffle_seed: int | None = None  # SHUFFLE's key when there is no seed (kept for resume)
    row_groups: list[RowGroupRecord] = Field(default_factory=list)
    shards: list[ShardRecord] = Field(default_factory=list)  # of a sharded run
    files: list[str] = Field(default_factory=list)
    column_stats: dict[str, dict[str, Any]] = Field(default_factory=dict)
    dropped_rows: int = 0
    errors: dict[str, int] = Field(default_factory=dict)
    llm_usage: dict[str, dict[str, Any]] = Field(default_factory=dict)  # the last attempt
    llm_usage_total: dict[str, dict[str, Any]] = Field(default_factory=dict)  # every attempt
    llm_usage_attempts: list[dict[str, dict[str, Any]]] = Field(default_factory=list)  # each
    started_at: float = Field(default_factory=time.time)
    duration: float = 0.0
    error: str | None = None


class StageMetadata(BaseModel):
    """One stage's entry in ``workflow-metadata.json`` (paths relative to the workflow)."""

    model_config = ConfigDict(extra="allow")

    index: int
    name: str
    stage_dir: str
    depends_on: list[str] = Field(default_factory=list)
    join: dict[str, Any] | None = None  # how several upstreams' outputs were joined
    status: StageStatus = "running"
    fingerprint: str | None = None
    requested_records: int | None = None
    actual_records: int | None = None
    seed_path: str | None = None
    output_path: str | None = None
    output_digest: str | None = None  # content of the selected output when it completed
    callback_output_path: str | None = None
    override_path: str | None = None
    duration: float | None = None
    error: str | None = None


class WorkflowMetadata(BaseModel):
    """``workflow-metadata.json``: the workflow's stages and what became of them."""

    model_config = ConfigDict(extra="allow")

    name: str
    library_version: str = __version__
    stages: list[StageMetadata] = Field(default_factory=list)
    updated_at: float = Field(default_factory=time.time)
