"""Builders and on_success callbacks shared by the workflow tests and their subprocesses.

Callbacks live at module level so a WorkflowSpec can name them as
``tests.integration.workflow_callbacks:<function>``. Each records its call in ``CALLS``
(in-process tests inspect it) and writes into the managed directory
``<stage_dir>/callback-outputs/<function name>/``.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pandas as pd

import dd_prefect.config as dd
from dd_prefect import DataDesigner
from dd_prefect.engine.parquet_io import parquet_files, read_parquet

MODEL = "fast"
CALLS: list[dict[str, Any]] = []


def model_config(parallel: int = 4) -> dd.ModelConfig:
    return dd.ModelConfig(
        alias=MODEL,
        model="mock-model",
        provider="mock",
        inference_parameters=dd.ChatCompletionInferenceParams(max_parallel_requests=parallel),
    )


def make_designer(artifacts: str | Path, mock_url: str, **run: Any) -> DataDesigner:
    return DataDesigner(
        artifact_path=artifacts,
        model_providers=[dd.ModelProvider(name="mock", endpoint=mock_url)],
        run_config=dd.RunConfig(**{"buffer_size": 5, "seed": 7, **run}),
    )


def topic_question_stage(name: str, num_records: int, alias: str = MODEL) -> dict[str, Any]:
    """A spec stage (as a dict): a tea/coffee `topic` sampler and a `question` llm-text."""
    return {
        "name": name,
        "num_records": num_records,
        "config": {
            "columns": [
                {
                    "name": "topic",
                    "column_type": "sampler",
                    "sampler_type": "category",
                    "params": {"values": ["tea", "coffee"]},
                },
                {
                    "name": "question",
                    "column_type": "llm-text",
                    "model_alias": alias,
                    "prompt": "Ask about {{ topic }}",
                },
            ]
        },
    }


def topics(parallel: int = 4) -> dd.DataDesignerConfigBuilder:
    """Stage 1 of most tests: a sampler and one LLM column (`question`)."""
    b = dd.DataDesignerConfigBuilder(model_configs=[model_config(parallel)])
    b.add_column(
        name="topic",
        column_type="sampler",
        sampler_type="category",
        params={"values": ["tea", "coffee", "juice", "water"]},
    )
    b.add_column(
        name="question", column_type="llm-text", model_alias=MODEL, prompt="Ask about {{ topic }}"
    )
    return b


def llm_stage(*columns: tuple[str, str], parallel: int = 4) -> dd.DataDesignerConfigBuilder:
    """A stage of LLM columns only, (name, prompt) each, reading what its input provides."""
    b = dd.DataDesignerConfigBuilder(model_configs=[model_config(parallel)])
    for name, prompt in columns:
        b.add_column(name=name, column_type="llm-text", model_alias=MODEL, prompt=prompt)
    return b


def answers(parallel: int = 4) -> dd.DataDesignerConfigBuilder:
    return llm_stage(("answer", "Answer: {{ question }}"), parallel=parallel)


def reviews(parallel: int = 4) -> dd.DataDesignerConfigBuilder:
    return llm_stage(("review", "Review: {{ answer }}"), parallel=parallel)


def three_stage(designer: DataDesigner, name: str, records: int = 6, **stage2: Any):
    """topics -> answers -> reviews; 3 LLM requests per row."""
    return (
        designer.compose_workflow(name)
        .add_stage("topics", topics(), num_records=records)
        .add_stage("answers", answers(), **stage2)
        .add_stage("reviews", reviews())
    )


def stage_output(stage_dir: Path) -> pd.DataFrame:
    """What a stage produced before its callback: the output-processor pass if any."""
    processed = stage_dir / "output-processors" / "parquet-files"
    main = processed if processed.exists() else stage_dir / "parquet-files"
    return read_parquet(parquet_files(main))


def _record(name: str, stage_dir: Path) -> Path:
    try:
        asyncio.get_running_loop()
        on_loop = True
    except RuntimeError:
        on_loop = False
    CALLS.append(
        {
            "name": name,
            "stage_dir": Path(stage_dir),
            "thread": threading.current_thread().name,
            "on_loop": on_loop,
        }
    )
    out = Path(stage_dir) / "callback-outputs" / name
    assert out.is_dir(), f"managed directory {out} missing"
    return out


def keep_even(stage_dir: Path) -> Path:
    """Keep every other row; returns the managed directory holding the kept rows."""
    out = _record("keep_even", stage_dir)
    df = stage_output(stage_dir)
    df.iloc[::2].reset_index(drop=True).to_parquet(out / "kept.parquet")
    return out


def first_two_as_file(stage_dir: Path) -> Path:
    """Keep the first two rows, returned as one parquet file."""
    out = _record("first_two_as_file", stage_dir)
    path = out / "first-two.parquet"
    stage_output(stage_dir).head(2).to_parquet(path)
    return path


def rename_question(stage_dir: Path) -> Path:
    """Hands on `prompt` instead of `question`: a later `{{ question }}` can't resolve."""
    out = _record("rename_question", stage_dir)
    df = stage_output(stage_dir).rename(columns={"question": "prompt"})
    df.to_parquet(out / "renamed.parquet")
    return out


def observe(stage_dir: Path) -> None:
    """Returns nothing: the stage's own selection stays its output."""
    _record("observe", stage_dir)


async def async_observe(stage_dir: Path) -> None:
    _record("async_observe", stage_dir)


def returns_nothing_parquet(stage_dir: Path) -> Path:
    """Returns a directory without parquet files (an error)."""
    return _record("returns_nothing_parquet", stage_dir)


FAIL_FLAG = "DD_TEST_WORKFLOW_FAIL_ONCE"


def fail_once(df: pd.DataFrame, params: dict) -> list:
    """A full-column check that lets N calls pass, then fails once.

    N is read from the flag file named by $DD_TEST_WORKFLOW_FAIL_ONCE; the failing call
    removes the file, so later calls (and runs) pass.
    """
    import os

    flag = Path(os.environ[FAIL_FLAG])
    if flag.exists():
        left = int(flag.read_text())
        if left == 0:
            flag.unlink()
            raise RuntimeError("transient failure")
        flag.write_text(str(left - 1))
    return [len(str(a)) for a in df["answer"]]
