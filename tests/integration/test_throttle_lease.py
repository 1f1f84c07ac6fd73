"""Global concurrency limits as the LLM throttle: names, operator-set limits, shares that
grow when slots free up and shrink to a fair share when another process waits, and leases
of a killed process coming back once they expire."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterName,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.exceptions import ObjectNotFound
from prefect.logging.handlers import APILogHandler

import dd_prefect.config as dd
from dd_prefect import DataDesigner
from dd_prefect.engine.llm import ModelRegistry
from dd_prefect.orchestration.throttle import (
    LEASE_SECONDS,
    counter_names,
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
    """Delete the limit `name` (and its counters), then create it with `limit` slots
    (unless None)."""
    for each in (name, *counter_names(name)):
        with contextlib.suppress(ObjectNotFound):
            await client.delete_global_concurrency_limit_by_name(each)
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


class Run:
    """One process's use of a model: its own registry and share of the global limit, and
    `workers` requests at a time (more than the limit) until stopped."""

    def __init__(self, provider: dd.ModelProvider, workers: int = 8) -> None:
        config = operator_builder(4).build()
        self.registry = ModelRegistry([provider], config.model_configs)
        self.limiter = self.registry.limiter("fast")
        self.workers = workers
        self.stop = asyncio.Event()
        self.leased = asyncio.Event()
        self.released_at: float | None = None
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        handle = self.registry.handle("fast")

        async def worker(i: int) -> None:
            n = 0
            while not self.stop.is_set():
                await handle.complete([{"role": "user", "content": f"{id(self)} {i} {n}"}])
                n += 1

        try:
            async with global_throttle(self.registry, ["fast"]):
                self.leased.set()
                await asyncio.gather(*(worker(i) for i in range(self.workers)))
            self.released_at = time.monotonic()
        finally:
            await self.registry.aclose()


async def wait_until(check, timeout: float, what: str) -> float:
    """Seconds until `check()` holds (polled every 50 ms)."""
    began = time.monotonic()
    while not check():
        assert time.monotonic() - began < timeout, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.05)
    return time.monotonic() - began


async def test_shares_grow_when_slots_free_up_and_split_fairly(
    prefect_server, mock_llm_factory, caplog
):
    """Run A holds the whole limit of 4; run B starts and waits; A gives back down to a fair
    2 and B gets them; A finishes and B grows to 4 within a couple of seconds."""
    caplog.set_level("INFO", logger="dd_prefect.throttle")
    name = limit_name("operator/mock-model")
    server = mock_llm_factory(latency=0.2)
    provider = dd.ModelProvider(name="operator", endpoint=server.url)
    async with get_client() as client:
        await reset_limit(client, name, 4)
    samples: list[tuple[float, int, int, int, int, int]] = []
    try:
        a = Run(provider)
        await asyncio.wait_for(a.leased.wait(), 30)
        await wait_until(lambda: a.limiter.in_flight == 4, 10, "A runs 4 at a time")
        b = Run(provider)

        async def sample() -> None:
            while True:
                in_flight = server.stats()["in_flight"]
                samples.append(
                    (
                        time.monotonic(),
                        a.limiter.budget if a.released_at is None else 0,
                        a.limiter.in_flight,
                        b.limiter.budget if b.leased.is_set() else 0,
                        b.limiter.in_flight,
                        in_flight,
                    )
                )
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample())
        to_fair = await wait_until(
            lambda: b.leased.is_set() and (a.limiter.budget, b.limiter.budget) == (2, 2),
            15,
            "A gives back 2 of its 4 slots to B",
        )
        shared_from = time.monotonic()
        await asyncio.sleep(4)
        shared = [x for x in samples if x[0] >= shared_from]
        a.stop.set()
        await a.task
        assert a.released_at is not None
        to_full = await wait_until(
            lambda: b.limiter.budget == 4 and b.limiter.in_flight == 4,
            10,
            "B grows to the whole limit once A is done",
        )
        b.stop.set()
        await b.task
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler

        # Fair while both ran: 2 each, both busy, never more than 4 at the mock.
        assert all(x[1] == 2 and x[3] == 2 for x in shared), shared
        assert all(x[2] <= 2 and x[4] <= 2 for x in shared)
        mean_a = sum(x[2] for x in shared) / len(shared)
        mean_b = sum(x[4] for x in shared) / len(shared)
        assert mean_a > 1.5 and mean_b > 1.5, (mean_a, mean_b)
        assert server.stats()["max_in_flight"] <= 4
        assert all(x[5] <= 4 for x in samples)
        assert all(x[2] + x[4] <= 4 for x in samples)
        assert to_fair < 8 and to_full < 5, (to_fair, to_full)
        print(
            f"B fair after {to_fair:.1f} s; in flight A {mean_a:.2f}, B {mean_b:.2f}; "
            f"B at 4 in flight {to_full:.1f} s after A released"
        )
        messages = [r.getMessage() for r in caplog.records if r.name == "dd_prefect.throttle"]
        waiting = [m for m in messages if m.startswith(f"waiting for slots of {name}")]
        assert waiting and "4 of 4 held by other processes" in waiting[0], messages
        assert "lease expires" in waiting[0]
        assert any(f"share of {name} now 2 of 4 slots (was 4" in m for m in messages)
        assert any(f"share of {name} now 4 of 4 slots (was 2" in m for m in messages)
        async with get_client() as client:
            for each in (name, *counter_names(name)):
                assert (await client.read_global_concurrency_limit_by_name(each)).active_slots == 0
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
            env={**env, "PREFECT_LOGGING_LEVEL": "INFO"},
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
        # The wait was not silent: it said what it waited for, then again every 15 s.
        waiting = [line for line in err.splitlines() if f"waiting for slots of {name}" in line]
        assert len(waiting) >= 3, err
        assert "wants 4, 4 of 4 held by other processes" in waiting[0]
        assert "until its lease expires (up to 60 s)" in waiting[0]
        assert re.search(r"waiting for slots of \S+ \(for 1[5-9] s now\)", waiting[1]), waiting
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


def lease_cmd(artifacts: Path, name: str, url: str, records: int, trace: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tests.integration.lease_script",
        str(artifacts),
        name,
        url,
        str(records),
        str(trace),
    ]


def read_trace(path: Path) -> tuple[dict[str, float], list[dict]]:
    """A lease_script trace: {event: time} and the limiter samples."""
    if not path.exists():
        return {}, []
    lines = path.read_text().splitlines()
    entries = [json.loads(line) for line in lines[:-1]]  # the last one may be half written
    if lines and lines[-1].endswith("}"):
        entries.append(json.loads(lines[-1]))
    events = {e["event"]: e["t"] for e in entries if "event" in e}
    return events, [e for e in entries if "event" not in e]


async def flow_run_logs(name: str) -> list[str]:
    await APILogHandler.aflush()
    async with get_client() as client:
        (flow_run,) = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))
        )
        logs = await client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run.id]))
        )
    return [log.message for log in logs]


@pytest.mark.e2e
def test_two_processes_share_a_limit_fairly_and_one_alone_takes_it_all(
    prefect_server, mock_llm_factory, tmp_path
):
    """Run A holds the whole limit of 4 when run B starts: B logs that it waits, A gives back
    down to 2, both run at 2 (never more than 4 at the mock), and once A is done B runs 4
    at a time within seconds."""
    slots = 4
    name = limit_name("mock/mock-model")  # what lease_script's provider and model lease
    env = {
        **os.environ,
        **prefect_server.env,
        "PYTHONPATH": str(ROOT),
        "PREFECT_LOGGING_LEVEL": "INFO",  # the share's messages go to the flow run's log
    }

    async def active_slots() -> int:
        async with get_client() as client:
            return (await client.read_global_concurrency_limit_by_name(name)).active_slots

    async def reset(limit: int | None) -> None:
        async with get_client() as client:
            await reset_limit(client, name, limit)

    asyncio.run(reset(slots))
    # A runs slowly until B has its share (however long B takes to start on a busy
    # machine), then both at 0.25 s a request (4 slots: 16 requests/s).
    mock = mock_llm_factory(latency=2.0)
    procs: dict[str, subprocess.Popen] = {}

    def start(run: str, records: int) -> None:
        procs[run] = subprocess.Popen(
            lease_cmd(tmp_path / run, f"share-{run}", mock.url, records, tmp_path / f"{run}.jsonl"),
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    in_flight: list[tuple[float, int]] = []
    try:
        start("a", 100)
        deadline = time.monotonic() + 60
        while asyncio.run(active_slots()) < slots:
            assert procs["a"].poll() is None, procs["a"].communicate()
            assert time.monotonic() < deadline, "run A never leased its slots"
            time.sleep(0.2)
        start("b", 140)
        deadline = time.monotonic() + 120
        while "leased" not in read_trace(tmp_path / "b.jsonl")[0]:
            assert all(p.poll() is None for p in procs.values())
            assert time.monotonic() < deadline, "run B never got a share"
            time.sleep(0.1)
        mock.configure(latency=0.25)
        while any(p.poll() is None for p in procs.values()):
            assert time.monotonic() < deadline, "the runs did not finish"
            in_flight.append((time.time(), mock.stats()["in_flight"]))
            time.sleep(0.05)
        for run, proc in procs.items():
            out = proc.communicate()[0]
            assert proc.returncode == 0, out
            assert "records" in out, (run, out)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()

    (a_events, a), (b_events, b) = (
        read_trace(tmp_path / "a.jsonl"),
        read_trace(tmp_path / "b.jsonl"),
    )
    assert a_events["leased"] < b_events["leased"] < a_events["released"] < b_events["released"]
    assert mock.stats()["max_in_flight"] <= slots
    assert max(n for _, n in in_flight) <= slots
    assert mock.stats()["requests"] == 240

    # While both ran (once B had settled in): 2 each.
    both = (b_events["leased"] + 2.0, a_events["released"] - 0.5)
    assert both[1] - both[0] >= 3, both
    a_both = [s for s in a if both[0] <= s["t"] <= both[1]]
    b_both = [s for s in b if both[0] <= s["t"] <= both[1]]
    assert all(s["budget"] == 2 and s["in_flight"] <= 2 for s in a_both + b_both)
    mean_a = sum(s["in_flight"] for s in a_both) / len(a_both)
    mean_b = sum(s["in_flight"] for s in b_both) / len(b_both)
    assert mean_a > 1.5 and mean_b > 1.5, (mean_a, mean_b)

    # A done: B at 4 within a few seconds.
    full = next(s["t"] for s in b if s["t"] > a_events["released"] and s["in_flight"] == slots)
    to_full = full - a_events["released"]
    assert to_full < 5, to_full
    print(
        f"overlap {both[1] - both[0]:.1f} s: in flight A {mean_a:.2f}, B {mean_b:.2f}; "
        f"B at {slots} in flight {to_full:.1f} s after A released"
    )

    # What each run's log (as the UI shows it) says about its share.
    a_log, b_log = asyncio.run(flow_run_logs("share-a")), asyncio.run(flow_run_logs("share-b"))
    assert f"leased 4 of 4 slots of {name}" in a_log
    assert any(m.startswith(f"share of {name} now 2 of 4 slots (was 4") for m in a_log), a_log
    waiting = [m for m in b_log if m.startswith(f"waiting for slots of {name}")]
    assert waiting and "wants 4, 4 of 4 held by other processes" in waiting[0], b_log
    assert "until its lease expires (up to 60 s)" in waiting[0]
    # A gives its two slots back one lease at a time: B may get in between them (1, then 2).
    leased = [
        m
        for m in b_log
        if re.match(rf"leased [12] of 4 slots of {re.escape(name)} after waiting", m)
    ]
    assert leased, b_log
    if leased[0].startswith("leased 1"):
        assert any(m.startswith(f"share of {name} now 2 of 4 slots (was 1") for m in b_log), b_log
    assert any(m.startswith(f"share of {name} now 4 of 4 slots (was 2") for m in b_log), b_log
    asyncio.run(reset(None))
