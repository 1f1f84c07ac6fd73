"""Builders and join callables for the stage-DAG tests (importable by specs and
subprocesses as ``tests.integration.dag_stages:<name>``).

Each branch uses its own mock model (``<alias>-model``), so the mock's per-model counters
and request times show which branch made which requests, and when.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import dd_prefect.config as dd
from dd_prefect import DataDesigner
from dd_prefect.engine.parquet_io import parquet_files, read_parquet

BREAK_FLAG = "DD_TEST_DAG_BREAK"  # a branch reading this file's stage fails while it exists
MOCK_URL = "DD_TEST_DAG_MOCK_URL"  # the mock a waiting branch asks about the other branch


def model(alias: str, parallel: int = 4) -> dd.ModelConfig:
    return dd.ModelConfig(
        alias=alias,
        model=f"{alias}-model",
        provider="mock",
        inference_parameters=dd.ChatCompletionInferenceParams(max_parallel_requests=parallel),
    )


def topics(parallel: int = 4) -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(model_configs=[model("topic", parallel)])
    b.add_column(
        name="topic",
        column_type="sampler",
        sampler_type="category",
        params={"values": ["tea", "coffee", "juice", "water"]},
    )
    b.add_column(
        name="question", column_type="llm-text", model_alias="topic", prompt="Ask about {{ topic }}"
    )
    return b


def branch(alias: str, prompt: str, column: str = "answer") -> dd.DataDesignerConfigBuilder:
    """One LLM column (`answer`) by model `alias` (each branch its own model)."""
    b = dd.DataDesignerConfigBuilder(model_configs=[model(alias)])
    b.add_column(name=column, column_type="llm-text", model_alias=alias, prompt=prompt)
    return b


def judge(alias: str = "judge", column: str = "verdict") -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(model_configs=[model(alias)])
    b.add_column(
        name=column,
        column_type="llm-text",
        model_alias=alias,
        prompt="Judge this answer: {{ answer }}",
    )
    return b


async def after_model_seen(row: dict, params: dict) -> str:
    """A cell that finishes only once the mock has answered model `params["model"]`: two
    branches each waiting for the other's model complete only if they run at once."""
    import asyncio
    import os
    import time

    import httpx

    url = os.environ[MOCK_URL].removesuffix("/v1") + "/_mock/stats"
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            stats = (await client.get(url)).json()
            if stats["by_model"].get(params["model"], 0) > 0:
                return "seen"
            await asyncio.sleep(0.05)
    raise TimeoutError(f"model {params['model']} made no request within 60 s")


def waiting_branch(alias: str, prompt: str, other: str) -> dd.DataDesignerConfigBuilder:
    """A branch whose rows ask a second (dropped) question only after branch `other` has
    made a request: its requests interleave with the other's, or it never finishes."""
    b = branch(alias, prompt)
    b.add_column(
        name="waited",
        column_type="custom",
        function="tests.integration.dag_stages:after_model_seen",
        params={"model": f"{other}-model"},
        required_columns=["answer"],
        drop=True,
    )
    b.add_column(
        name="followup",
        column_type="llm-text",
        model_alias=alias,
        prompt="Follow up on {{ answer }} ({{ waited }})",
        drop=True,
    )
    return b


def breakable(df: pd.DataFrame, params: dict) -> list:
    """A full-column custom column that fails while the flag file exists."""
    import os

    flag = os.environ.get(BREAK_FLAG)
    if flag and Path(flag).exists():
        raise RuntimeError("branch broken on purpose")
    return [len(str(a)) for a in df["answer"]]


def broken_branch(alias: str) -> dd.DataDesignerConfigBuilder:
    b = branch(alias, "Answer in detail: {{ question }}")
    b.add_column(
        name="length",
        column_type="custom",
        function="tests.integration.dag_stages:breakable",
        generation_strategy="full_column",
        required_columns=["answer"],
    )
    return b


def diamond(designer: DataDesigner, name: str, records: int = 8, *, waiting: bool = False):
    """topics -> easy, hard -> judged (a concat join, with `_stage`). `waiting`: each
    branch's rows wait for the other branch's first request (proof they overlap)."""
    easy = "Answer simply: {{ question }}"
    hard = "Answer in detail: {{ question }}"
    return (
        designer.compose_workflow(name)
        .add_stage("topics", topics(), num_records=records)
        .add_stage(
            "easy",
            waiting_branch("easy", easy, "hard") if waiting else branch("easy", easy),
            depends_on=["topics"],
        )
        .add_stage(
            "hard",
            waiting_branch("hard", hard, "easy") if waiting else branch("hard", hard),
            depends_on=["topics"],
        )
        .add_stage(
            "judged",
            judge(),
            depends_on=["easy", "hard"],
            join={"mode": "concat", "source_column": "_stage"},
        )
    )


def first_of_each_topic(inputs: dict[str, Path], out_dir: Path) -> Path:
    """A callable join: the rows of every input, one per (stage, topic), by topic."""
    frames = [
        read_parquet(parquet_files(path)).assign(source=name) for name, path in inputs.items()
    ]
    joined = pd.concat(frames, ignore_index=True).drop_duplicates(["source", "topic"])
    path = out_dir / "by-topic.parquet"
    joined.sort_values(["topic", "source"]).reset_index(drop=True).to_parquet(path)
    return path


KILLED = "killed-diamond"
KILLED_ROWS = 60  # per branch: 12 row groups of 5, one at a time


def killable(designer: DataDesigner):
    """The diamond of the killed-run test: branches of 12 row groups run one at a time."""
    return diamond(designer, KILLED, records=KILLED_ROWS)


def main() -> None:
    """``python -m tests.integration.dag_stages ARTIFACTS MOCK_URL [--resume MODE]``."""
    import argparse

    from tests.integration.workflow_callbacks import make_designer

    p = argparse.ArgumentParser()
    p.add_argument("artifacts")
    p.add_argument("mock_url")
    p.add_argument("--resume", default="never")
    args = p.parse_args()
    d = make_designer(args.artifacts, args.mock_url, max_concurrent_row_groups=1)
    results = killable(d).run(resume=args.resume)
    for name, stage in results.items():
        print(name, stage.status, stage.actual_records)


if __name__ == "__main__":
    main()


_ARRIVED: set[str] = set()


async def lease_holders(row: dict, params: dict) -> int:
    """In-process only: waits until branch `params["other"]` has arrived too (so both run
    at once), then returns how many processes hold the shared model's global limit."""
    import asyncio
    import time

    from prefect.client.orchestration import get_client

    from dd_prefect.orchestration.throttle import counter_names, limit_name

    _ARRIVED.add(params["me"])
    deadline = time.monotonic() + 60
    while params["other"] not in _ARRIVED:
        if time.monotonic() > deadline:
            raise TimeoutError(f"branch {params['other']} never ran beside {params['me']}")
        await asyncio.sleep(0.02)
    processes, _ = counter_names(limit_name("mock/shared-model"))
    async with get_client() as client:
        return (await client.read_global_concurrency_limit_by_name(processes)).active_slots


def counting_branch(me: str, other: str) -> dd.DataDesignerConfigBuilder:
    """A branch on the model `shared` whose rows record the lease holders they saw."""
    b = branch("shared", f"{me}: {{{{ question }}}}", f"{me}_answer")
    b.add_column(
        name="holders",
        column_type="custom",
        function="tests.integration.dag_stages:lease_holders",
        params={"me": me, "other": other},
        required_columns=[f"{me}_answer"],
    )
    return b
