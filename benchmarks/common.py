"""Shared helpers of the benchmarks: the mock LLM in its own process, bare-openai baselines
(over openai's default httpx2 client and over its aiohttp one).

The mock runs in a separate process (:func:`mock_llm_process`) so that its CPU time does not
count against the code under test; both the code under test and the baseline talk to it
through the real ``openai`` client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import openai

import dd_prefect.config as dd
from dd_prefect.testing.mock_llm import MockLLMConfig, run_in_subprocess, stop_subprocess

REPO_ROOT = Path(__file__).resolve().parents[1]

Prompt = Callable[[int], str]

TARGET_OVER_HTTPX = 1.3
"""Requests/s of the code under test over a bare openai loop on its default httpx2 client."""
TARGET_OVER_AIOHTTP = 0.9
"""... and over a bare openai loop on its aiohttp client (issue 15)."""


@contextlib.contextmanager
def mock_llm_process(**knobs: Any) -> Iterator[str]:
    """Start the mock LLM server in a separate process; yields its ``base_url`` (``.../v1``)."""
    proc, url = run_in_subprocess(MockLLMConfig(**knobs))
    try:
        yield url
    finally:
        stop_subprocess(proc)


def _mock_call(
    url: str, path: str, method: str = "GET", body: dict[str, Any] | None = None
) -> dict[str, Any]:
    base = url.removesuffix("/v1")
    data = json.dumps(body or {}).encode() if method == "POST" else None
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(f"{base}{path}", data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def mock_stats(url: str) -> dict[str, Any]:
    """The mock's counters (``GET /_mock/stats``)."""
    return _mock_call(url, "/_mock/stats")


def mock_reset(url: str) -> None:
    """Zero the mock's counters (``POST /_mock/reset``)."""
    _mock_call(url, "/_mock/reset", "POST")


def mock_configure(url: str, **knobs: Any) -> None:
    """Change the mock's knobs while it runs (``POST /_mock/config``), e.g. ``latency=0``."""
    _mock_call(url, "/_mock/config", "POST", knobs)


BareTransport = Literal["httpx", "aiohttp"]
"""The HTTP library of a bare loop: openai's default (httpx2) or its aiohttp backend."""


def bare_client(url: str, transport: BareTransport = "httpx") -> openai.AsyncOpenAI:
    """An AsyncOpenAI client configured like the engine's (no client-side retries), over
    openai's default httpx2 client or its aiohttp one (``DefaultAioHttpClient``), each with
    openai's default limits, as a hand-written loop would have them."""
    return openai.AsyncOpenAI(
        base_url=url,
        api_key="not-needed",
        max_retries=0,
        timeout=openai.Timeout(120.0, connect=10.0),
        http_client=openai.DefaultAioHttpClient() if transport == "aiohttp" else None,
    )


async def bare_requests(
    client: openai.AsyncOpenAI, n: int, concurrency: int, prompt: Prompt, model: str
) -> tuple[float, float]:
    """Send `n` chat requests, at most `concurrency` at once; returns (wall, CPU) seconds."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> str:
        async with semaphore:
            response = await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": prompt(i)}]
            )
        return response.choices[0].message.content or ""

    cpu, began = time.process_time(), time.perf_counter()
    answers = await asyncio.gather(*(one(i) for i in range(n)))
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    if len(answers) != n or not all(answers):
        raise RuntimeError("baseline: some requests returned no answer")
    return elapsed, cpu


async def baseline_rps(
    url: str,
    n: int,
    concurrency: int,
    *,
    prompt: Prompt,
    model: str = "mock-model",
    warmup: int | None = None,
    transport: BareTransport = "httpx",
) -> dict[str, float]:
    """Requests/s (and CPU ms per request) of a bare ``openai.AsyncOpenAI`` asyncio loop
    over `transport`.

    The warm-up sends `concurrency` requests (by default) so every pooled connection is open
    before the timed run, as it is for the code it is compared with.
    """
    async with bare_client(url, transport) as client:
        await bare_requests(client, warmup or concurrency, concurrency, prompt, model)
        elapsed, cpu = await bare_requests(client, n, concurrency, prompt, model)
    return {
        "baseline_seconds": elapsed,
        "baseline_rps": n / elapsed,
        "baseline_cpu_ms_per_request": 1000 * cpu / n,
    }


def environment() -> dict[str, Any]:
    """Where a benchmark ran (for the record printed with its numbers)."""
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "openai": openai.__version__,
        "platform": sys.platform,
    }


def emit(result: dict[str, Any]) -> None:
    """Print the one JSON object a benchmark reports, on stdout."""
    print(json.dumps(result, sort_keys=False), flush=True)


def two_llm_columns(concurrency: int) -> dd.DataDesignerConfigBuilder:
    """Samplers, then llm-text `a` and llm-text `b` reading `a` (two requests a row)."""
    model = dd.ModelConfig(
        alias="bench",
        model="mock-model",
        provider="mock",
        inference_parameters=dd.ChatCompletionInferenceParams(max_parallel_requests=concurrency),
    )
    b = dd.DataDesignerConfigBuilder(model_configs=[model])
    b.add_column(
        name="topic",
        column_type="sampler",
        sampler_type="category",
        params={"values": ["cats", "dogs", "birds", "ships", "trains"]},
    )
    b.add_column(name="uid", column_type="sampler", sampler_type="uuid", params={})
    b.add_column(
        name="a",
        column_type="llm-text",
        model_alias="bench",
        prompt="Write one sentence about {{ topic }} ({{ uid }}).",
    )
    b.add_column(name="b", column_type="llm-text", model_alias="bench", prompt="Summarise: {{ a }}")
    return b


def baseline_prompt(i: int) -> str:
    """Prompts shaped like the engine's (half first-column, half second-column sized)."""
    if i % 2 == 0:
        return f"Write one sentence about cats ({i:08d}-0000-4000-8000-000000000000)."
    return f'Summarise: Mock answer {i:08x}: you said "Write one sentence about cats ({i})."'
