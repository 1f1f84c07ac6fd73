"""Timeouts are congestion: a timed-out request is still being served, so the limiter must
not fill its slot at once, and the window collapses (issue 10, item 7)."""

from __future__ import annotations

import asyncio
import contextlib

import dd_prefect.config as dd
from tests.engine.test_failures import llm_builder, only_limiter


async def test_timeouts_keep_the_server_within_the_parallel_budget(
    mock_llm_factory, make_generator
):
    # The server answers in 2 s; the client gives up after 0.3 s and retries. Every request
    # it abandons is still in flight at the server until its 2 s are over.
    server = mock_llm_factory(latency=2.0)
    run = dd.RunConfig(max_llm_retries=3, disable_early_shutdown=True)
    gen = make_generator(llm_builder(max_parallel_requests=8, timeout=0.3), server, run)
    # The peak comes before the first abandoned requests finish (2 s); stop a little later.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(gen.generate(0, 0, 8), timeout=2.6)
    stats = server.stats()
    limiter = only_limiter(gen)
    assert stats["max_in_flight"] >= 8  # the first round went out in full
    print("server max in flight:", stats["max_in_flight"])
    assert stats["max_in_flight"] <= 12, stats
    assert limiter.stats["timeouts"] >= 8 and limiter.stats["decreases"] >= 1
    assert limiter.limit == 1  # no answer came back: the window stays collapsed


async def test_timed_out_slots_come_back(mock_llm_factory, make_generator):
    # A few slow answers among fast ones: the held slots are released, the run finishes,
    # and the window grows back once answers come in time again.
    server = mock_llm_factory(latency=0.6)
    run = dd.RunConfig(max_llm_retries=0, disable_early_shutdown=True)
    gen = make_generator(llm_builder(max_parallel_requests=4, timeout=0.2), server, run)
    result = await gen.generate(0, 0, 4)
    assert result.errors == {"timeout": 4}
    limiter = only_limiter(gen)
    await asyncio.sleep(0.5)  # held slots go back after about as long as the request took
    assert limiter.in_flight == 0
    server.configure(latency=0.0)
    result = await gen.generate(1, 4, 40)
    assert result.errors == {} and len(result.frame) == 40
    assert limiter.limit >= 4  # slow start back to half, then additive
