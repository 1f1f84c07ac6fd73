"""Global concurrency limits as the LLM throttle: names, operator-set limits, and leases
of a killed process coming back once they expire."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.exceptions import ObjectNotFound

import dd_prefect.config as dd
from dd_prefect import DataDesigner
from dd_prefect.engine.llm import ModelRegistry
from dd_prefect.orchestration.throttle import (
    LEASE_SECONDS,
    ensure_limit,
    global_throttle,
    limit_name,
)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_limit_name():
    assert limit_name("mock/mock-model") == "dd-prefect:mock:mock-model"
    assert limit_name("openai/meta/llama-3") == "dd-prefect:openai:meta_llama-3"
    assert limit_name("my vllm/a%b&c>d<e") == "dd-prefect:my_vllm:a_b_c_d_e"
    assert limit_name("nim/") == "dd-prefect:nim:"


async def reset_limit(client, name: str, limit: int | None) -> None:
    """Delete the limit `name`, then create it with `limit` slots (unless None)."""
    with contextlib.suppress(ObjectNotFound):
        await client.delete_global_concurrency_limit_by_name(name)
    if limit is not None:
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=name, limit=limit)
        )


async def test_ensure_limit_creates_once_and_respects_an_existing_limit(prefect_server):
    name = f"dd-prefect:test:{uuid.uuid4().hex[:8]}"
    async with get_client() as client:
        try:
            assert await ensure_limit(client, name, 5) == 5
            assert (await client.read_global_concurrency_limit_by_name(name)).limit == 5
            assert await ensure_limit(client, name, 9) == 5  # left as it is
            assert (await client.read_global_concurrency_limit_by_name(name)).limit == 5
        finally:
            await reset_limit(client, name, None)


def operator_builder(parallel: int) -> dd.DataDesignerConfigBuilder:
    model = dd.ModelConfig(
        alias="fast",
        model="mock-model",
        provider="operator",
        inference_parameters=dd.ChatCompletionInferenceParams(max_parallel_requests=parallel),
    )
    b = dd.DataDesignerConfigBuilder(model_configs=[model])
    b.add_column(
        name="n", column_type="sampler", sampler_type="uniform", params={"low": 0, "high": 9}
    )
    b.add_column(name="text", column_type="llm-text", model_alias="fast", prompt="Say {{ n }}")
    return b


async def test_create_leases_at_most_an_operator_set_limit(
    prefect_server, mock_llm_factory, tmp_path
):
    name = limit_name("operator/mock-model")
    server = mock_llm_factory(latency=0.05)
    async with get_client() as client:
        await reset_limit(client, name, 2)  # set by an operator before any run
    try:
        # The leased share becomes the limiter's budget for the block, and no longer.
        config = operator_builder(8).build()
        provider = dd.ModelProvider(name="operator", endpoint=server.url)
        registry = ModelRegistry([provider], config.model_configs)
        async with global_throttle(registry, ["fast"]) as leased:
            assert leased == {name: 2}
            assert registry.limiter("fast").budget == 2
        assert registry.limiter("fast").budget == 8
        await registry.aclose()

        designer = DataDesigner(
            artifact_path=tmp_path / "artifacts",
            model_providers=[provider],
            run_config=dd.RunConfig(buffer_size=20, seed=3, max_concurrent_row_groups=2),
            global_throttle=True,
        )
        results = await designer.acreate(config, num_records=40, dataset_name="op")
        assert results.count_records() == 40
        stats = server.stats()
        assert stats["requests"] == 40
        assert 1 <= stats["max_in_flight"] <= 2  # alone it would have used 8
        async with get_client() as client:
            limit = await client.read_global_concurrency_limit_by_name(name)
            assert limit.limit == 2  # not raised to max_parallel_requests
            assert limit.active_slots == 0  # released at the end
    finally:
        async with get_client() as client:
            await reset_limit(client, name, None)


def create_cmd(artifacts: Path, name: str, url: str, records: int, parallel: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tests.integration.create_script",
        str(artifacts),
        name,
        url,
        str(records),
        "10",
        "--parallel",
        str(parallel),
    ]


@pytest.mark.e2e
def test_killed_lease_holder_blocks_others_only_until_the_lease_expires(
    prefect_server, mock_llm_factory, tmp_path
):
    slots = 4
    name = limit_name("mock/mock-model")  # what create_script's provider and model lease
    env = {**os.environ, **prefect_server.env, "PYTHONPATH": str(ROOT)}

    async def active_slots() -> int:
        async with get_client() as client:
            return (await client.read_global_concurrency_limit_by_name(name)).active_slots

    async def reset(limit: int | None) -> None:
        async with get_client() as client:
            await reset_limit(client, name, limit)

    asyncio.run(reset(slots))
    slow = mock_llm_factory(latency=300)  # the first run never finishes on its own
    fast = mock_llm_factory()
    first = subprocess.Popen(
        create_cmd(tmp_path / "a", "holder", slow.url, 40, slots),
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    second = None
    try:
        deadline = time.monotonic() + 60
        while asyncio.run(active_slots()) < slots:
            assert first.poll() is None, "the lease holder exited early"
            assert time.monotonic() < deadline, "the lease holder never leased its slots"
            time.sleep(0.25)
        leased_at = time.monotonic()  # the lease was taken (and not renewed) by now
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        assert asyncio.run(active_slots()) == slots  # a dead process's slots stay taken...

        second = subprocess.Popen(
            create_cmd(tmp_path / "b", "waiter", fast.url, 20, slots),
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # ...so the second run makes no request until the lease expires...
        while time.monotonic() < leased_at + LEASE_SECONDS - 3:
            assert second.poll() is None, second.communicate()
            assert fast.stats()["requests"] == 0
            time.sleep(0.5)
        # ...and then gets them and finishes.
        out, err = second.communicate(timeout=60)
        finished_at = time.monotonic()
        assert second.returncode == 0, err
        assert "records 20" in out
        assert fast.stats()["requests"] == 40
        assert finished_at - leased_at >= LEASE_SECONDS - 1
        assert asyncio.run(active_slots()) == 0
    finally:
        if first.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(first.pid, signal.SIGKILL)
            first.wait()
        if second is not None and second.poll() is None:
            second.kill()
            second.communicate()
        asyncio.run(reset(None))
