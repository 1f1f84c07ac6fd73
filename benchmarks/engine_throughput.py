"""Engine throughput against a bare openai loop, on the mock LLM in a separate process.

One row group of `--rows` rows with two dependent llm-text columns (b's prompt reads a), so
2 x rows requests, under a model limit of `--concurrency`; then the same number of requests
from bare ``openai.AsyncOpenAI`` asyncio loops at the same concurrency (a semaphore), one
over openai's default httpx2 client and one over its aiohttp client, against the same mock
in the same run. All are warmed up first, and measured `--rounds` times in rotating order;
the best of each counts (the machine may be shared). Prints one JSON object: the engine's
requests/s, the loops', and the ratios (targets: >= 1.3x the httpx loop, >= 0.9x the aiohttp one).

    python benchmarks/engine_throughput.py [--rows 2000] [--latency 0.05] [--concurrency 64]
                                           [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dd_prefect.config as dd
from benchmarks.common import (
    TARGET_OVER_AIOHTTP,
    TARGET_OVER_HTTPX,
    baseline_prompt,
    baseline_rps,
    emit,
    environment,
    mock_llm_process,
    mock_reset,
    mock_stats,
    two_llm_columns,
)
from dd_prefect.engine.generator import DatasetGenerator
from dd_prefect.engine.llm import ModelRegistry


async def engine_rps(url: str, rows: int, concurrency: int) -> dict[str, Any]:
    """Requests/s of the engine generating one row group of `rows` rows (after a warm-up)."""
    config = two_llm_columns(concurrency).build()
    run = dd.RunConfig(buffer_size=rows, seed=1)
    async with ModelRegistry(
        [dd.ModelProvider(name="mock", endpoint=url)], config.model_configs
    ) as registry:
        generator = DatasetGenerator(config, run, registry)
        await generator.generate(0, 0, concurrency)  # opens the pooled connections
        mock_reset(url)
        cpu, began = time.process_time(), time.perf_counter()
        result = await generator.generate(1, concurrency, rows)
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
        (limiter,) = registry.limiters().values()
        limiter_peak = limiter.stats["max_in_flight"]
    stats = mock_stats(url)
    if result.num_rows != rows or result.errors or stats["requests"] != 2 * rows:
        raise RuntimeError(
            f"engine run incomplete: {result.num_rows} rows, {stats['requests']} requests, "
            f"errors {result.errors}"
        )
    return {
        "rps": stats["requests"] / elapsed,
        "seconds": elapsed,
        "cpu_ms_per_request": 1000 * cpu / stats["requests"],
        "max_in_flight": limiter_peak,
        "mock_max_in_flight": stats["max_in_flight"],
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    requests = 2 * args.rows
    sides: dict[str, list[dict[str, Any]]] = {"engine": [], "httpx": [], "aiohttp": []}
    order = list(sides)
    with mock_llm_process(latency=args.latency) as url:
        for round_ in range(args.rounds):
            # Rotate who goes first, so a noisy neighbour hurts all alike.
            for side in order[round_ % 3 :] + order[: round_ % 3]:
                if side == "engine":
                    sides[side].append(await engine_rps(url, args.rows, args.concurrency))
                    continue
                measured = await baseline_rps(
                    url, requests, args.concurrency, prompt=baseline_prompt, transport=side
                )
                sides[side].append(
                    {
                        "rps": measured["baseline_rps"],
                        "seconds": measured["baseline_seconds"],
                        "cpu_ms_per_request": measured["baseline_cpu_ms_per_request"],
                    }
                )
    best = {side: max(r["rps"] for r in runs) for side, runs in sides.items()}
    cpu = {side: min(r["cpu_ms_per_request"] for r in runs) for side, runs in sides.items()}
    engine = sides["engine"]
    over_httpx, over_aiohttp = best["engine"] / best["httpx"], best["engine"] / best["aiohttp"]
    return {
        "benchmark": "engine_throughput",
        "rows": args.rows,
        "requests": requests,
        "engine_rps": round(best["engine"], 1),
        "bare_httpx_rps": round(best["httpx"], 1),
        "bare_aiohttp_rps": round(best["aiohttp"], 1),
        "ratio_over_httpx": round(over_httpx, 3),
        "target_over_httpx": TARGET_OVER_HTTPX,
        "ratio_over_aiohttp": round(over_aiohttp, 3),
        "target_over_aiohttp": TARGET_OVER_AIOHTTP,
        "meets_target": over_httpx >= TARGET_OVER_HTTPX and over_aiohttp >= TARGET_OVER_AIOHTTP,
        "latency": args.latency,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        **{
            f"{side}_rps_per_round": [round(r["rps"], 1) for r in runs]
            for side, runs in sides.items()
        },
        # CPU per request of this process: less sensitive to other load on the machine.
        **{f"{side}_cpu_ms_per_request": round(ms, 3) for side, ms in cpu.items()},
        "ideal_rps": round(args.concurrency / args.latency, 1),
        "engine_max_in_flight": max(r["max_in_flight"] for r in engine),
        "mock_max_in_flight": max(r["mock_max_in_flight"] for r in engine),
        **environment(),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000, help="rows in the row group")
    parser.add_argument("--latency", type=float, default=0.05, help="mock latency (s)")
    parser.add_argument("--concurrency", type=int, default=64, help="max parallel requests")
    parser.add_argument(
        "--rounds", type=int, default=2, help="measurements of each side (best one counts)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    emit(asyncio.run(main_async(parse_args(argv))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
