"""Two independent branches of a workflow: run together, against each run alone.

A workflow ``topics -> left, right`` (two branches of equal size, each one llm-text column
on its own mock model at `--latency` s with max_parallel_requests `--concurrency`). In one
run against the same mock, it times:

- the left branch alone (``targets=["left"]``, with ``topics``),
- the right branch alone (``targets=["right"]``, with ``topics``),
- the whole workflow, where the two branches run as concurrent stage subflows,

and reports ``both / (left + right - topics)``: 1.0 means the branches ran one after the
other, 0.5 that they overlapped completely. Each run starts fresh (resume NEVER).

    python benchmarks/dag_branches.py [--records 400] [--latency 0.5] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import dd_prefect.config as dd
from benchmarks.common import emit, environment, mock_llm_process, mock_stats
from dd_prefect import DataDesigner
from dd_prefect.interface.workflow import CompositeWorkflow


def _model(alias: str, concurrency: int) -> dd.ModelConfig:
    return dd.ModelConfig(
        alias=alias,
        model=f"{alias}-model",
        provider="mock",
        inference_parameters=dd.ChatCompletionInferenceParams(max_parallel_requests=concurrency),
    )


def workflow(designer: DataDesigner, records: int, concurrency: int) -> CompositeWorkflow:
    topics = dd.DataDesignerConfigBuilder().add_column(
        name="topic",
        column_type="sampler",
        sampler_type="category",
        params={"values": ["tea", "coffee", "juice", "water"]},
    )
    wf = designer.compose_workflow("branches").add_stage("topics", topics, num_records=records)
    for side in ("left", "right"):
        branch = dd.DataDesignerConfigBuilder(model_configs=[_model(side, concurrency)])
        branch.add_column(
            name=f"{side}_answer",
            column_type="llm-text",
            model_alias=side,
            prompt=f"{side}: tell me about {{{{ topic }}}}",
        )
        wf.add_stage(side, branch, depends_on=["topics"])
    return wf


async def timed(wf: CompositeWorkflow, url: str, targets: list[str] | None) -> dict[str, Any]:
    before = mock_stats(url)["requests"]
    began = time.perf_counter()
    results = await wf.arun(targets=targets)
    seconds = time.perf_counter() - began
    return {
        "seconds": round(seconds, 3),
        "requests": mock_stats(url)["requests"] - before,
        "stages": list(results),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with mock_llm_process(latency=args.latency) as url, tempfile.TemporaryDirectory() as tmp:
        designer = DataDesigner(
            artifact_path=Path(tmp),
            model_providers=[dd.ModelProvider(name="mock", endpoint=url)],
            run_config=dd.RunConfig(buffer_size=args.buffer_size, seed=1),
        )
        wf = workflow(designer, args.records, args.concurrency)
        await timed(workflow(designer, args.concurrency, args.concurrency), url, None)  # warm-up
        topics = await timed(wf, url, ["topics"])
        left = await timed(wf, url, ["left"])
        right = await timed(wf, url, ["right"])
        both = await timed(wf, url, None)
    if both["requests"] != 2 * args.records:
        raise RuntimeError(f"the full run made {both['requests']} requests")
    sequential = left["seconds"] + right["seconds"] - topics["seconds"]
    return {
        "benchmark": "dag_branches",
        "records_per_branch": args.records,
        "latency_s": args.latency,
        "concurrency": args.concurrency,
        "topics_alone": topics,
        "left_alone": left,
        "right_alone": right,
        "both": both,
        "sum_of_branches_s": round(sequential, 3),
        "both_over_sum": round(both["seconds"] / sequential, 3),
        "environment": environment(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--buffer-size", type=int, default=100)
    emit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
