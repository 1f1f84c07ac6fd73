"""Sharded datasets (issue 14): records/s of one dataset in 1, 2 and 4 shards on workers.

Starts a local cluster (tests/shard_cluster.py: PostgreSQL, `prefect server start` on it,
``prefect deploy`` of prefect.yaml's ``dd-prefect-shard/default`` and `--workers` process
workers taking one flow run each, so every shard gets a worker process of its own) and one
mock LLM process, reset before every run. This process owns every dataset; each run is a
fresh dataset (resume NEVER, a name of its own) with one llm-text column.

At two latencies of the mock it times `create()` of the same dataset:

- ``cpu_bound`` (`--cpu-latency`, `--cpu-concurrency`, `--cpu-records`): one process is
  limited by the CPU its openai client spends per request, so shards on other processes
  can add throughput;
- ``latency_bound`` (`--latency`, `--concurrency`, `--records`): throughput is capped by
  max_parallel_requests / latency. That limit is ONE Prefect global concurrency limit
  shared by every shard process (and the owning process), so more shards cannot beat it:
  expect ratios of at most 1, less the shards' start-up.

Cases: ``in_process`` (no shard deployment: the plain path, the reference; a run of
``shards=1`` always runs in this process, with or without a deployment), and ``shards_2``,
``shards_4`` on the workers, with ``ratio_to_one_shard`` = their records/s over the
reference's, and ``records_per_s_in_shards`` = records over ``shards_generation_span_s``
(from the first shard starting to generate to the last one finishing, from the shards'
reports: the shards at work, without the start-up before the first of them) with its
``ratio_in_shards_to_one_shard``; plus a bare ``openai.AsyncOpenAI`` loop
(benchmarks.common.baseline_rps) at the same latency and concurrency (one request per
record, so its requests/s compare with records/s). All runs, the reference included, use
the cluster's API, so all lease the global limit.

Start-up: a tiny dataset (one row group of `--startup-rows` rows per shard, mock at zero
latency) in N shards on workers against the same dataset in this process; its
``extra_s = sharded_s - in_process_s`` is the price of starting N shard flow runs
(scheduling, the worker's 1 s poll, a new Python process per flow run, rebuilding the
generator and leasing the limit), reported whole and ``per_shard`` (extra_s / N), and
``outside_shards_s`` = sharded_s minus ``shards_generation_span_s``.

This machine has 2 cores: 4 worker processes (and their flow runs), the owning process,
the mock, the Prefect server and PostgreSQL share them, which limits the CPU-bound scaling
well below 4x; the number to look at is the ratio, not the absolute records/s.

    python benchmarks/shards.py [--cpu-records 8000] [--records 1500] [--latency 0.5]
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

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import dd_prefect.config as dd
from benchmarks.common import (
    baseline_rps,
    emit,
    environment,
    mock_configure,
    mock_llm_process,
    mock_reset,
    mock_stats,
)
from dd_prefect import DataDesigner
from dd_prefect.orchestration.runtime import drain_prefect_workers
from dd_prefect.workflow.metadata import ShardRecord
from dd_prefect.workflow.shards import shard_path
from tests.shard_cluster import DEPLOYMENT, ShardCluster

SHARDS = (2, 4)
"""Shard counts run on the workers (1 is the in-process reference)."""


def builder(model: str, concurrency: int) -> dd.DataDesignerConfigBuilder:
    """A uuid sampler and one llm-text column reading it, on mock model `model`.

    Each latency uses a model of its own: the global limit of a provider+model is created
    once, with the first run's max_parallel_requests, and kept as it is afterwards.
    """
    config = dd.ModelConfig(
        alias="bench",
        model=model,
        provider="mock",
        inference_parameters=dd.ChatCompletionInferenceParams(max_parallel_requests=concurrency),
    )
    b = dd.DataDesignerConfigBuilder(model_configs=[config])
    b.add_column(name="uid", column_type="sampler", sampler_type="uuid", params={})
    b.add_column(
        name="a", column_type="llm-text", model_alias="bench", prompt="One line on {{ uid }}."
    )
    return b


def prompt(i: int) -> str:
    """The bare loop's prompt, shaped like the column's."""
    return f"One line on {i:08d}-0000-4000-8000-000000000000."


def generation_span(base_dir: Path, parts: list[ShardRecord]) -> float:
    """Seconds from the first shard starting to generate to the last one finishing: each
    shard's report is last written when it finishes, `duration` after it began."""
    ends = [shard_path(base_dir, p.shard).stat().st_mtime for p in parts]
    return max(ends) - min(end - p.duration for end, p in zip(ends, parts, strict=True))


class Bench:
    """Runs datasets of one designer per placement against the mock at `url`."""

    def __init__(self, url: str, artifacts: Path, buffer_size: int) -> None:
        self.url, self.prefix = url, artifacts.name
        run_config = dd.RunConfig(buffer_size=buffer_size, seed=1)
        providers = [dd.ModelProvider(name="mock", endpoint=url)]
        self.local = DataDesigner(
            artifact_path=artifacts, model_providers=providers, run_config=run_config
        )
        self.sharded = DataDesigner(
            artifact_path=artifacts,
            model_providers=providers,
            run_config=run_config,
            shard_deployment=DEPLOYMENT,
        )
        self.runs = 0

    async def create(
        self, b: dd.DataDesignerConfigBuilder, records: int, shards: int
    ) -> dict[str, Any]:
        """Time one fresh dataset of `records` rows in `shards` shards (1: in process)."""
        self.runs += 1
        name = f"{self.prefix}-{self.runs}-shards-{shards}"
        designer = self.local if shards == 1 else self.sharded
        mock_reset(self.url)
        began = time.perf_counter()
        results = await designer.acreate(b, records, name, shards=shards)
        seconds = time.perf_counter() - began
        stats = mock_stats(self.url)
        count = results.count_records()
        if count != records or stats["requests"] != records:
            raise RuntimeError(f"{name}: {count} records, {stats['requests']} requests")
        out: dict[str, Any] = {
            "seconds": round(seconds, 3),
            "records_per_s": round(records / seconds, 1),
            "mock_max_in_flight": stats["max_in_flight"],
        }
        parts = results.metadata.shards
        if shards > 1:
            if len(parts) != shards or any(p.pid == os.getpid() for p in parts):
                raise RuntimeError(f"{name}: shards did not all run on workers: {parts}")
            span = generation_span(results.base_dataset_path, parts)
            out["worker_processes"] = len({p.parent_pid for p in parts})
            out["shards_generation_span_s"] = round(span, 3)
            out["outside_shards_s"] = round(seconds - span, 3)
            out["records_per_s_in_shards"] = round(records / span, 1)
        return out


async def latency_case(
    bench: Bench, latency: float, concurrency: int, records: int, model: str
) -> dict[str, Any]:
    """In-process, 2 and 4 shards and the bare loop at one latency of the mock."""
    mock_configure(bench.url, latency=latency)
    b = builder(model, concurrency)
    await bench.create(b, concurrency, 1)  # warm-up: creates the model's global limit
    one = await bench.create(b, records, 1)
    cases: dict[str, Any] = {"in_process": one}
    for shards in SHARDS:
        run = await bench.create(b, records, shards)
        run["ratio_to_one_shard"] = round(run["records_per_s"] / one["records_per_s"], 3)
        in_shards = run["records_per_s_in_shards"] / one["records_per_s"]
        run["ratio_in_shards_to_one_shard"] = round(in_shards, 3)
        cases[f"shards_{shards}"] = run
    bare = await baseline_rps(bench.url, records, concurrency, prompt=prompt, model=model)
    return {
        "latency_s": latency,
        "max_parallel_requests": concurrency,
        "records": records,
        "limit_bound_records_per_s": round(concurrency / latency, 1) if latency else None,
        **cases,
        "bare_loop_requests_per_s": round(bare["baseline_rps"], 1),
        "bare_loop_cpu_ms_per_request": round(bare["baseline_cpu_ms_per_request"], 3),
    }


async def startup(bench: Bench, rows: int) -> dict[str, Any]:
    """Start-up cost of N shard flow runs: one row group each, mock at zero latency
    (`bench` has buffer_size `rows`)."""
    mock_configure(bench.url, latency=0.0)
    b = builder("startup-model", 16)
    out: dict[str, Any] = {
        "what": (
            f"a dataset of N row groups of {rows} rows (one per shard), mock at zero latency: "
            "extra_s = sharded_s - in_process_s (same dataset in this process), "
            "extra_s_per_shard = extra_s / N (the shards start concurrently, so this is "
            "an average, not one shard's cost), outside_shards_s = sharded_s - the span from "
            "the first shard starting to generate to the last one finishing"
        ),
    }
    for shards in SHARDS:
        local = await bench.create(b, rows * shards, 1)
        sharded = await bench.create(b, rows * shards, shards)
        extra = sharded["seconds"] - local["seconds"]
        out[f"shards_{shards}"] = {
            "records": rows * shards,
            "in_process_s": local["seconds"],
            "sharded_s": sharded["seconds"],
            "extra_s": round(extra, 3),
            "extra_s_per_shard": round(extra / shards, 3),
            "outside_shards_s": sharded["outside_shards_s"],
            "worker_processes": sharded["worker_processes"],
        }
    return out


async def run(args: argparse.Namespace, cluster: ShardCluster, url: str) -> dict[str, Any]:
    bench = Bench(url, cluster.home / "artifacts", args.buffer_size)
    tiny = Bench(url, cluster.home / "artifacts-tiny", args.startup_rows)
    mock_configure(url, latency=0.0)
    await tiny.create(builder("startup-model", 16), args.startup_rows * 4, 4)  # warm-up
    began = time.perf_counter()
    cpu = await latency_case(
        bench, args.cpu_latency, args.cpu_concurrency, args.cpu_records, "cpu-model"
    )
    bound = await latency_case(bench, args.latency, args.concurrency, args.records, "slow-model")
    start = await startup(tiny, args.startup_rows)
    return {
        "benchmark": "shards",
        "workers": args.workers,
        "flow_runs_per_worker": 1,
        "buffer_size": args.buffer_size,
        "startup_rows_per_shard": args.startup_rows,
        "columns": "one llm-text column (one request per record)",
        "reference": "in_process: shards=1, no shard deployment (the plain path)",
        "cpu_bound": cpu,
        "latency_bound": bound,
        "startup_overhead": start,
        "notes": [
            "max_parallel_requests is one Prefect global concurrency limit shared by every "
            "shard process: in the latency-bound case no shard count can exceed "
            "limit_bound_records_per_s; only the CPU-bound case can scale",
            f"{os.cpu_count()} cores shared by {args.workers} workers' flow runs, this "
            "process, the mock, the Prefect server and PostgreSQL: CPU-bound scaling is "
            "capped by the cores, look at the ratios",
            "a shard flow run is picked up by a worker polling every 1 s and watched by this "
            "process every 1 s (POLL_SECONDS), part of outside_shards_s",
        ],
        "measured_seconds": round(time.perf_counter() - began, 1),
        "environment": environment(),
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Start the mock and the cluster, point this process at the cluster, run."""
    with tempfile.TemporaryDirectory(prefix="dd-shards-") as tmp, mock_llm_process() as url:
        cluster = ShardCluster(Path(tmp), workers=args.workers, limit=1)
        try:
            cluster.start()
            with cluster.server.client_settings():
                try:
                    return asyncio.run(run(args, cluster, url))
                except Exception:
                    print(cluster.logs(), file=sys.stderr)
                    raise
                finally:
                    drain_prefect_workers()  # outside the event loop: it blocks
        finally:
            cluster.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-latency", type=float, default=0.01)
    parser.add_argument("--cpu-concurrency", type=int, default=128)
    parser.add_argument("--cpu-records", type=int, default=8000)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--records", type=int, default=1500)
    parser.add_argument("--buffer-size", type=int, default=100)
    parser.add_argument("--startup-rows", type=int, default=10, help="rows per shard")
    parser.add_argument("--workers", type=int, default=4, help="at least 4 (one per shard)")
    args = parser.parse_args(argv)
    if args.workers < max(SHARDS):
        parser.error(f"--workers must be at least {max(SHARDS)}")
    if min(args.cpu_records, args.records) < max(SHARDS) * args.buffer_size:
        parser.error(f"every dataset needs at least {max(SHARDS)} row groups (--buffer-size)")
    return args


def main(argv: list[str] | None = None) -> int:
    emit(measure(parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
