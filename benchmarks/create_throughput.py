"""create() on Prefect against bare openai loops; Prefect overhead; memory at scale.

Three measurements, one JSON object on stdout, all against one mock LLM in a separate process:

1. Throughput: `create()` of `--records` records (two dependent llm-text columns, mock at
   `--latency` s, max_parallel_requests `--concurrency`, buffer_size `--buffer-size`)
   against bare ``openai.AsyncOpenAI`` loops doing the same number of requests at the same
   concurrency: one over openai's default httpx2 client, one over its aiohttp client
   (``DefaultAioHttpClient``). Targets: at least 1.3x the httpx loop, 0.9x the aiohttp one.
2. Prefect overhead per row-group task: `create()` of `--tasks` tiny sampler-only row groups
   minus the engine generating and writing the same row groups without Prefect (target:
   at most 10 ms), averaged over the row groups; and, from a second run of a tenth as many
   row groups, split into a fixed cost per run and a marginal cost per row group; next to
   it, Prefect's own floor: as many persisted task runs (the row-group task's options) that
   do nothing, 3 at a time. Each timed run starts once the server has recorded the earlier
   ones (`settled`).
3. Peak RSS of `create()` of 10,000 vs 100,000 records with one llm-text column, the mock at
   zero latency, each in a fresh process (target: the larger at most 1.25x the smaller).

Runs on whatever Prefect is configured: the ephemeral server by default, or the server at
PREFECT_API_URL (then the global concurrency limit is leased once per run, too).

    python benchmarks/create_throughput.py [--records 10000] [--skip-memory]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from prefect import flow, get_client, task

import dd_prefect.config as dd
from benchmarks.common import (
    TARGET_OVER_AIOHTTP,
    TARGET_OVER_HTTPX,
    baseline_prompt,
    baseline_rps,
    emit,
    environment,
    mock_configure,
    mock_llm_process,
    mock_stats,
    two_llm_columns,
)
from dd_prefect import DataDesigner
from dd_prefect.engine.generator import DatasetGenerator
from dd_prefect.engine.llm import ModelRegistry
from dd_prefect.orchestration.row_groups import row_group_task

TARGET_OVERHEAD_MS = 10.0
TARGET_MEMORY_RATIO = 1.25
MEMORY_RECORDS = (10_000, 100_000)


def sampler_builder() -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder()
    b.add_column(
        name="kind",
        column_type="sampler",
        sampler_type="category",
        params={"values": ["a", "b", "c"], "weights": [1, 2, 3]},
    )
    b.add_column(
        name="x", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 100}
    )
    b.add_column(name="id", column_type="sampler", sampler_type="uuid", params={})
    b.add_column(
        name="when",
        column_type="sampler",
        sampler_type="datetime",
        params={"start": "2024-01-01", "end": "2025-01-01"},
    )
    b.add_column(name="label", column_type="expression", expr="{{ kind }}-{{ x | round(1) }}")
    b.add_column(name="doubled", column_type="expression", expr="{{ x * 2 }}", dtype="float")
    return b


async def create_rps(url: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    designer = DataDesigner(
        artifact_path=workdir,
        model_providers=[dd.ModelProvider(name="mock", endpoint=url)],
        run_config=dd.RunConfig(buffer_size=args.buffer_size, seed=1),
    )
    builder = two_llm_columns(args.concurrency)
    await designer.acreate(builder, num_records=args.concurrency, dataset_name="warmup")
    before = mock_stats(url)["requests"]
    began = time.perf_counter()
    results = await designer.acreate(builder, num_records=args.records, dataset_name="bench")
    elapsed = time.perf_counter() - began
    requests = mock_stats(url)["requests"] - before
    records = results.count_records()
    if records != args.records or requests != 2 * args.records:
        raise RuntimeError(f"create() incomplete: {records} records, {requests} requests")
    return {"seconds": elapsed, "records_per_s": records / elapsed, "rps": requests / elapsed}


async def settled(quiet: float = 1.0, timeout: float = 60.0) -> None:
    """Wait until the Prefect server has recorded every task run reported so far: its
    task-run count unchanged for `quiet` s. The server records task runs from events, after
    the run that sent them; a run timed while it still writes an earlier one's meets
    SQLite's lock (a 503, then the client's 2 s backoff) when it creates its flow run."""
    async with get_client() as client:
        last, since, deadline = -1, time.monotonic(), time.monotonic() + timeout
        while time.monotonic() < deadline:
            count = (await client.request("POST", "/task_runs/count", json={})).json()
            if count != last:
                last, since = count, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            await asyncio.sleep(0.2)


async def overhead_seconds(tasks: int, workdir: Path) -> tuple[float, float]:
    """(create() seconds, engine-only seconds) for `tasks` tiny sampler-only row groups."""
    rows = 10
    run = dd.RunConfig(buffer_size=rows, seed=1, max_concurrent_row_groups=3)
    builder = sampler_builder()
    designer = DataDesigner(artifact_path=workdir, run_config=run)
    await settled()
    began = time.perf_counter()
    await designer.acreate(builder, num_records=tasks * rows, dataset_name=f"overhead-{tasks}")
    with_prefect = time.perf_counter() - began

    config = builder.build()
    async with ModelRegistry([], []) as registry:
        generator = DatasetGenerator(config, run, registry)
        semaphore = asyncio.Semaphore(run.max_concurrent_row_groups)

        async def one(index: int, start: int, n: int) -> None:
            async with semaphore:
                await generator.generate(index, start, n, workdir / f"engine-only-{tasks}")

        began = time.perf_counter()
        await asyncio.gather(*(one(*g) for g in generator.row_groups(tasks * rows)))
        engine_only = time.perf_counter() - began
    return with_prefect, engine_only


async def _do_nothing(key: str, index: int) -> dict[str, Any]:
    return {"index": index, "rows": 10, "files": {"main": f"batch_{index:05d}.parquet"}}


# The row-group task's persistence options, taken from it, on a function that does nothing.
_floor_task = task(
    _do_nothing,
    name="floor",
    task_run_name="floor-{index}",
    cache_key_fn=row_group_task.cache_key_fn,
    persist_result=row_group_task.persist_result,
    result_serializer=row_group_task.result_serializer,
    refresh_cache=True,
)


@flow(name="dd-prefect-bench-floor", persist_result=False)
async def _floor_flow(tasks: int) -> float:
    """Seconds for `tasks` persisted task runs that do nothing, 3 at a time."""
    semaphore, key = asyncio.Semaphore(3), f"bench-floor-{uuid.uuid4().hex}"

    async def one(index: int) -> None:
        async with semaphore:
            await _floor_task(key, index)

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(tasks)))
    return time.perf_counter() - began


async def prefect_overhead(tasks: int, workdir: Path) -> dict[str, Any]:
    """Prefect's cost beyond the engine: averaged over `tasks` row groups (the run's fixed
    costs included), and split by a second run of `tasks // 10` row groups into a fixed
    cost per run (flow run, summary artifacts, analysis and report) and a marginal cost
    per row group (the slope between the two runs)."""
    await overhead_seconds(1, workdir)  # warm-up
    small = max(tasks // 10, 1)
    created_small, engine_small = await overhead_seconds(small, workdir)
    created, engine_only = await overhead_seconds(tasks, workdir)
    extra_small, extra = created_small - engine_small, created - engine_only
    marginal = (extra - extra_small) / (tasks - small) if tasks > small else extra / tasks
    await settled()
    floor = await _floor_flow(tasks)
    return {
        "row_group_tasks": tasks,
        "create_seconds": round(created, 3),
        "engine_only_seconds": round(engine_only, 3),
        "overhead_ms_per_row_group": round(1000 * extra / tasks, 2),
        "small_run_row_group_tasks": small,
        "small_run_overhead_seconds": round(extra_small, 3),
        "marginal_overhead_ms_per_row_group": round(1000 * marginal, 2),
        "fixed_overhead_seconds_per_run": round(extra_small - small * marginal, 3),
        "prefect_floor_ms_per_task": round(1000 * floor / tasks, 2),
    }


def one_llm_column(concurrency: int) -> dd.DataDesignerConfigBuilder:
    """A uuid sampler and one llm-text column reading it."""
    b = dd.DataDesignerConfigBuilder(
        model_configs=two_llm_columns(concurrency).build().model_configs
    )
    b.add_column(name="uid", column_type="sampler", sampler_type="uuid", params={})
    b.add_column(
        name="a", column_type="llm-text", model_alias="bench", prompt="One line on {{ uid }}."
    )
    return b


def peak_rss_child(records: int, url: str) -> None:
    """Run create() of `records` one-llm-column rows against the mock at `url` in this
    process; print its peak RSS (MiB)."""
    with tempfile.TemporaryDirectory() as tmp:
        designer = DataDesigner(
            artifact_path=tmp,
            model_providers=[dd.ModelProvider(name="mock", endpoint=url)],
            run_config=dd.RunConfig(seed=1),
        )
        results = designer.create(one_llm_column(64), num_records=records, dataset_name="rss")
        count = results.count_records()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"records": count, "peak_rss_mib": round(peak_kib / 1024, 1)}))


def peak_rss(records: int, url: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--rss-child", str(records), "--rss-url", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"benchmark": "create_throughput"}
    requests = 2 * args.records
    with tempfile.TemporaryDirectory() as tmp, mock_llm_process(latency=args.latency) as url:
        created = await create_rps(url, args, Path(tmp))
        bare = {
            transport: await baseline_rps(
                url, requests, args.concurrency, prompt=baseline_prompt, transport=transport
            )
            for transport in ("httpx", "aiohttp")
        }
        over_httpx = created["rps"] / bare["httpx"]["baseline_rps"]
        over_aiohttp = created["rps"] / bare["aiohttp"]["baseline_rps"]
        result.update(
            records=args.records,
            requests=requests,
            buffer_size=args.buffer_size,
            latency=args.latency,
            concurrency=args.concurrency,
            create_seconds=round(created["seconds"], 2),
            create_records_per_s=round(created["records_per_s"], 1),
            create_requests_per_s=round(created["rps"], 1),
            bare_httpx_requests_per_s=round(bare["httpx"]["baseline_rps"], 1),
            bare_aiohttp_requests_per_s=round(bare["aiohttp"]["baseline_rps"], 1),
            ratio_over_httpx=round(over_httpx, 3),
            target_over_httpx=TARGET_OVER_HTTPX,
            ratio_over_aiohttp=round(over_aiohttp, 3),
            target_over_aiohttp=TARGET_OVER_AIOHTTP,
            meets_target=over_httpx >= TARGET_OVER_HTTPX and over_aiohttp >= TARGET_OVER_AIOHTTP,
        )
        overhead = await prefect_overhead(args.tasks, Path(tmp))
        overhead["target_ms"] = TARGET_OVERHEAD_MS
        overhead["meets_target"] = overhead["overhead_ms_per_row_group"] <= TARGET_OVERHEAD_MS
        overhead["marginal_meets_target"] = (
            overhead["marginal_overhead_ms_per_row_group"] <= TARGET_OVERHEAD_MS
        )
        result["prefect_overhead"] = overhead
        if not args.skip_memory:
            mock_configure(url, latency=0.0)
            small, large = (peak_rss(n, url) for n in MEMORY_RECORDS)
            memory_ratio = large["peak_rss_mib"] / small["peak_rss_mib"]
            result["memory"] = {
                "column": "one llm-text column, mock at zero latency",
                f"peak_rss_mib_{small['records']}": small["peak_rss_mib"],
                f"peak_rss_mib_{large['records']}": large["peak_rss_mib"],
                "ratio": round(memory_ratio, 3),
                "target_ratio": TARGET_MEMORY_RATIO,
                "meets_target": memory_ratio <= TARGET_MEMORY_RATIO,
            }
    result["prefect_api"] = os.environ.get("PREFECT_API_URL") or "ephemeral"
    result.update(environment())
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--buffer-size", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--tasks", type=int, default=200, help="row groups for the overhead run")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--rss-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--rss-url", default="", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rss_child is not None:
        peak_rss_child(args.rss_child, args.rss_url)
        return 0
    emit(asyncio.run(main_async(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
