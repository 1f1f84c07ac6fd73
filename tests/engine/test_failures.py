"""LLM failures through the engine: 429s and the limiter, 5xx, timeouts, connection errors,
the drop / null policies and early shutdown."""

from __future__ import annotations

import socket
import time
from types import SimpleNamespace

import openai
import pandas as pd
import pytest

import dd_prefect.config as dd
from dd_prefect.engine.llm import ModelRegistry, RetryPolicy
from dd_prefect.errors import EarlyShutdownError
from tests.engine.conftest import model


def llm_builder(**params) -> dd.DataDesignerConfigBuilder:
    """A sampler and one llm-text column `a` on model "fast" with inference `params`."""
    b = dd.DataDesignerConfigBuilder(model_configs=[model(**params)])
    b.add_column(
        name="topic",
        column_type="sampler",
        sampler_type="category",
        params={"values": ["cats", "dogs", "birds"]},
    )
    b.add_column(name="a", column_type="llm-text", model_alias="fast", prompt="Tell {{ topic }}")
    return b


def seeded_builder(n: int = 9, **params) -> dd.DataDesignerConfigBuilder:
    b = dd.DataDesignerConfigBuilder(model_configs=[model(max_parallel_requests=16, **params)])
    b.with_seed_dataset(dd.DataFrameSeedSource(df=pd.DataFrame({"id": range(n)})))
    return b


def only_limiter(gen):
    (limiter,) = gen.models.limiters().values()
    return limiter


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# -- 429s and the limiter ------------------------------------------------------------------


async def test_429_storm_under_a_cap_produces_every_row(mock_llm_factory, make_generator):
    server = mock_llm_factory(max_in_flight=4, latency=0.05)
    gen = make_generator(llm_builder(max_parallel_requests=16), server)
    result = await gen.generate(0, 0, 60)
    stats = server.stats()
    limiter = only_limiter(gen)
    assert len(result.frame) == 60 and result.dropped_rows == 0 and result.errors == {}
    assert result.frame["a"].str.startswith("Mock answer").all()
    assert stats["by_status"]["429"] > 0 and stats["by_status"]["200"] == 60
    assert stats["max_in_flight"] <= 4  # the mock's cap: holds by construction
    assert limiter.stats["rate_limited"] == stats["by_status"]["429"]
    assert limiter.stats["decreases"] >= 1
    assert limiter.limit < 16  # the window learned the cap
    assert limiter.in_flight == 0
    usage = gen.models.usage["mock/mock-model"]
    assert usage.requests == stats["requests"] and usage.retries == stats["by_status"]["429"]


async def test_retry_after_is_honoured(mock_llm_factory, make_generator):
    server = mock_llm_factory(rate_429=0.5, retry_after=0.3, seed=1)
    gen = make_generator(llm_builder(max_parallel_requests=8), server)
    began = time.monotonic()
    result = await gen.generate(0, 0, 10)
    elapsed = time.monotonic() - began
    rate_limited = server.stats()["by_status"]["429"]
    assert len(result.frame) == 10 and result.errors == {}
    assert rate_limited > 0 and only_limiter(gen).stats["rate_limited"] == rate_limited
    assert elapsed >= 0.3  # a rate-limited request waited out its Retry-After at least once


async def test_cooldown_holds_back_other_requests(mock_llm_factory):
    """After a 429 with Retry-After, a fresh request (not a retry) waits out the cooldown."""
    server = mock_llm_factory(rate_429=1.0, retry_after=0.3)
    async with ModelRegistry(
        [dd.ModelProvider(name="mock", endpoint=server.url)],
        [model()],
        retry=RetryPolicy(max_retries=0, initial_wait=0.01),
    ) as registry:
        handle = registry.handle("fast")
        began = time.monotonic()
        with pytest.raises(openai.RateLimitError):  # no retry: it fails at once
            await handle.complete([{"role": "user", "content": "hi"}])
        assert registry.limiter("fast").stats["rate_limited"] == 1
        server.configure(rate_429=0.0)
        answer = await handle.complete([{"role": "user", "content": "hello"}])
        assert time.monotonic() - began >= 0.3
        assert answer.startswith("Mock answer")
        assert server.stats()["requests"] == 2


# -- 5xx, timeouts, connection errors ------------------------------------------------------


async def test_transient_500s_are_retried(mock_llm_factory, make_generator):
    server = mock_llm_factory(fail_next_500=5)
    gen = make_generator(llm_builder(max_parallel_requests=4), server)
    result = await gen.generate(0, 0, 10)
    stats = server.stats()
    assert stats["by_status"] == {"200": 10, "429": 0, "500": 5}
    assert len(result.frame) == 10 and result.errors == {} and result.dropped_rows == 0
    assert gen.models.usage["mock/mock-model"].retries == 5


async def test_persistent_500_drops_rows_with_errors_by_kind(mock_llm_factory, make_generator):
    server = mock_llm_factory(rate_500=1.0)
    run = dd.RunConfig(max_llm_retries=1, disable_early_shutdown=True)
    gen = make_generator(llm_builder(max_parallel_requests=4), server, run)
    result = await gen.generate(0, 0, 6)
    assert server.stats()["by_status"]["500"] == 12  # two attempts per cell
    assert len(result.frame) == 0 and result.dropped_rows == 6
    assert result.errors == {"http_500": 6}
    assert "http_500" in result.error_samples[0] and "column 'a'" in result.error_samples[0]
    assert list(result.frame.columns) == ["topic", "a"]
    usage = gen.models.usage["mock/mock-model"]
    assert (usage.requests, usage.retries, dict(usage.failures)) == (12, 6, {"http_500": 6})


async def test_timeouts_are_counted(mock_llm_factory, make_generator):
    server = mock_llm_factory(latency=1.0)
    run = dd.RunConfig(max_llm_retries=1, disable_early_shutdown=True)
    gen = make_generator(llm_builder(max_parallel_requests=4, timeout=0.1), server, run)
    began = time.monotonic()
    result = await gen.generate(0, 0, 4)
    assert time.monotonic() - began < 1.5  # nobody waited for the slow (1 s) answers
    assert len(result.frame) == 0 and result.dropped_rows == 4
    assert result.errors == {"timeout": 4}
    usage = gen.models.usage["mock/mock-model"]
    assert usage.requests == 8 and dict(usage.failures) == {"timeout": 4}
    assert (usage.timeouts, usage.successes, usage.retries) == (8, 0, 4)
    assert set(result.failed_rows["attempts"]) == {2}  # each cell: a request and a retry


async def test_connection_errors_are_counted(make_generator):
    run = dd.RunConfig(max_llm_retries=1, disable_early_shutdown=True)
    dead = SimpleNamespace(url=closed_port_url())
    gen = make_generator(llm_builder(max_parallel_requests=4), dead, run)
    result = await gen.generate(0, 0, 3)
    assert len(result.frame) == 0 and result.dropped_rows == 3
    assert result.errors == {"connection": 3}
    assert gen.models.usage["mock/mock-model"].as_dict()["failures"] == {"connection": 3}


# -- the drop and null policies ------------------------------------------------------------


def failing_cells_builder() -> dd.DataDesignerConfigBuilder:
    """`n` fails on ids divisible by 3; `b` reads `n`; `a` is independent."""
    b = seeded_builder()
    b.add_column(
        name="n", column_type="expression", expr="{{ id if id % 3 else 'x' }}", dtype="int"
    )
    b.add_column(name="a", column_type="llm-text", model_alias="fast", prompt="A {{ id }}")
    b.add_column(name="b", column_type="llm-text", model_alias="fast", prompt="B {{ n }}")
    return b


async def test_drop_policy_drops_rows_with_a_failed_cell(mock_llm, make_generator):
    run = dd.RunConfig(disable_early_shutdown=True)
    result = await make_generator(failing_cells_builder(), mock_llm, run).generate(0, 0, 9)
    assert result.frame["id"].tolist() == [1, 2, 4, 5, 7, 8]
    assert result.frame["n"].tolist() == [1, 2, 4, 5, 7, 8]
    assert result.dropped_rows == 3 and result.errors == {"cast": 3}
    assert not [c for c in result.frame.columns if c.endswith("__error")]
    # Skipped cells are not sent: 9 for `a`, 6 for `b`.
    assert mock_llm.stats()["requests"] == 15


async def test_null_policy_keeps_rows_aligned_with_seeds(mock_llm, make_generator):
    run = dd.RunConfig(on_cell_error="null", disable_early_shutdown=True)
    result = await make_generator(failing_cells_builder(), mock_llm, run).generate(0, 0, 9)
    df = result.frame
    assert df["id"].tolist() == list(range(9))
    assert result.dropped_rows == 0 and result.errors == {"cast": 3}
    bad = df["id"] % 3 == 0
    assert df.loc[bad, "n"].isna().all() and df.loc[~bad, "n"].tolist() == [1, 2, 4, 5, 7, 8]
    assert all("cannot cast 'x' to int" in e for e in df.loc[bad, "n__error"])
    assert df.loc[~bad, "n__error"].isna().all()
    # The dependent column is null, with the reason; the independent one is there.
    assert df.loc[bad, "b"].isna().all() and df.loc[~bad, "b"].notna().all()
    assert (df.loc[bad, "b__error"] == "skipped: input column 'n' failed").all()
    assert df["a"].notna().all() and df["a__error"].isna().all()
    for row in df.loc[~bad].itertuples():
        assert f"B {row.n}" in row.b


async def test_null_policy_with_failed_llm_cells(mock_llm_factory, make_generator):
    server = mock_llm_factory(rate_500=1.0)
    b = seeded_builder(4)
    b.add_column(name="a", column_type="llm-text", model_alias="fast", prompt="A {{ id }}")
    b.add_column(name="b", column_type="llm-text", model_alias="fast", prompt="B {{ a }}")
    run = dd.RunConfig(on_cell_error="null", max_llm_retries=0, disable_early_shutdown=True)
    result = await make_generator(b, server, run).generate(0, 10, 4)
    df = result.frame
    assert df["id"].tolist() == [2, 3, 0, 1]  # global rows 10..13 of a 4-row seed
    assert df["a"].isna().all() and df["b"].isna().all()
    assert all("http_500" in e for e in df["a__error"])
    assert (df["b__error"] == "skipped: input column 'a' failed").all()
    assert result.errors == {"http_500": 4}
    assert server.stats()["requests"] == 4


# -- early shutdown ------------------------------------------------------------------------


async def test_early_shutdown_says_how_many_rows_were_produced(mock_llm_factory, make_generator):
    server = mock_llm_factory()
    run = dd.RunConfig(max_llm_retries=0, shutdown_error_window=10, shutdown_error_rate=0.5)
    gen = make_generator(llm_builder(max_parallel_requests=4), server, run)
    first = await gen.generate(0, 0, 7)
    assert first.num_rows == 7
    server.configure(rate_500=1.0)
    with pytest.raises(EarlyShutdownError) as info:
        await gen.generate(1, 7, 40)
    assert info.value.rows_produced == 7
    assert "7 rows were produced" in str(info.value)
    assert "50%" in str(info.value) and "http_500" in str(info.value)
    # It stopped early: not every cell of the second row group was tried.
    assert server.stats()["by_status"]["500"] < 40
    assert only_limiter(gen).in_flight == 0


async def test_early_shutdown_from_columnwise_failures(mock_llm, make_generator):
    b = seeded_builder(30)
    b.add_column(name="n", column_type="expression", expr="x{{ id }}", dtype="int")
    with pytest.raises(EarlyShutdownError, match="0 rows were produced"):
        await make_generator(b, mock_llm).generate(0, 0, 30)


async def test_disabled_early_shutdown_completes(mock_llm_factory, make_generator):
    server = mock_llm_factory(rate_500=1.0)
    run = dd.RunConfig(max_llm_retries=0, disable_early_shutdown=True)
    gen = make_generator(llm_builder(max_parallel_requests=4), server, run)
    result = await gen.generate(0, 0, 40)
    assert result.num_rows == 0 and result.dropped_rows == 40
    assert result.errors == {"http_500": 40}
    assert len(result.error_samples) == 10  # a bounded sample of messages
