"""Shard ranges, shard reports, budget shares and what may go to a remote shard (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest

import dd_prefect.config as dd
from dd_prefect.config.portable import remote_problems, with_absolute_paths
from dd_prefect.config.workflow_spec import DatasetSpec, WorkflowSpec, load_spec
from dd_prefect.errors import ConfigValidationError
from dd_prefect.workflow.budget import Spend, budget_share
from dd_prefect.workflow.shards import (
    ShardReport,
    read_report,
    shard_path,
    shard_ranges,
    write_report,
)


def groups(n: int) -> list[tuple[int, int, int]]:
    return [(i, 10 * i, 10) for i in range(n)]


@pytest.mark.parametrize(
    ("row_groups", "shards", "sizes"),
    [
        (4, 3, [2, 1, 1]),
        (16, 4, [4, 4, 4, 4]),
        (7, 2, [4, 3]),
        (2, 5, [1, 1]),  # never an empty shard
        (1, 1, [1]),
        (0, 3, []),
    ],
)
def test_shard_ranges_are_contiguous_and_cover_every_row_group(row_groups, shards, sizes):
    ranges = shard_ranges(groups(row_groups), shards)
    assert [len(r) for r in ranges] == sizes
    assert [g for r in ranges for g in r] == groups(row_groups)


def test_reports_are_written_whole_and_unreadable_ones_are_not_trusted(tmp_path: Path):
    report = ShardReport(shard=2, dataset_key="k", first_row_group=4, last_row_group=5)
    write_report(tmp_path, report)
    back = read_report(tmp_path, 2)
    assert back is not None and back.covers(groups(6)[4:6]) and not back.covers(groups(6)[4:5])
    assert back.record().model_dump().keys() <= back.model_dump().keys()
    shard_path(tmp_path, 2).write_text('{"shard": 2, "dataset_k')  # half-written
    assert read_report(tmp_path, 2) is None
    assert read_report(tmp_path, 7) is None


def test_budget_share_splits_what_is_left():
    run = dd.RunConfig(max_requests=100, max_tokens=1000, max_cost=1.0)
    shared = budget_share(run, Spend(requests=40, tokens=100, cost=0.2), 4)
    assert (shared.max_requests, shared.max_tokens, shared.max_cost) == (15, 225, 0.2)
    spent = budget_share(run, Spend(requests=200, tokens=0, cost=None), 2)
    assert (spent.max_requests, spent.max_tokens, spent.max_cost) == (0, 500, 0.5)
    assert budget_share(dd.RunConfig(), Spend(), 3).max_requests is None


def test_remote_problems_name_what_cannot_leave_the_process():
    sampler = {"name": "x", "column_type": "sampler", "sampler_type": "uniform"}
    sampler["params"] = {"low": 0, "high": 1}

    def custom(name: str, function: str) -> dict:
        return {"name": name, "column_type": "custom", "generator_function": function}

    config = dd.DataDesignerConfig.model_validate(
        {
            "columns": [
                sampler,
                custom("ok", "json:dumps"),
                custom("named", "shout"),
                custom("script", "__main__:shout"),
            ]
        }
    )
    problems = remote_problems(config)
    assert len(problems) == 2
    assert problems[0].startswith("column 'named': generator_function 'shout' is known only")
    assert problems[1].startswith("column 'script': generator_function '__main__:shout' is")


def test_spec_shards_and_cli_override(tmp_path: Path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: w\nshard_deployment: dd-prefect-shard/default\nstages:\n"
        "  - name: a\n    num_records: 5\n    config:\n      columns:\n"
        "        - {name: x, column_type: sampler, sampler_type: uniform,\n"
        "           params: {low: 0, high: 1}}\n"
    )
    loaded = load_spec(spec, shards=3)
    assert isinstance(loaded, WorkflowSpec)
    assert loaded.stages[0].shards == 3 and loaded.shard_deployment == "dd-prefect-shard/default"
    assert load_spec(spec).stages[0].shards == 1
    with pytest.raises(ConfigValidationError, match="shards must be an int of at least 1"):
        load_spec(spec, shards=0)
    with pytest.raises(ValueError, match="shards must be"):
        DatasetSpec.model_validate({"config": {"columns": []}, "shards": True})


def test_relative_seed_paths_become_absolute_for_other_processes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seeded = dd.DataDesignerConfig(
        seed_config=dd.SeedConfig(source=dd.LocalFileSeedSource(path="in/*.parquet"))
    )
    moved = with_absolute_paths(seeded)
    assert moved.seed_config.source.path == str(tmp_path / "in" / "*.parquet")
    assert seeded.seed_config.source.path == "in/*.parquet"  # the original is unchanged
    assert with_absolute_paths(moved) == moved
