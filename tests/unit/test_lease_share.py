"""A process's share of a global limit: the plan, and shares that grow and shrink against an
in-memory stand-in for Prefect's concurrency-limit API (the real server is in
tests/integration/test_throttle_lease.py)."""

from __future__ import annotations

import asyncio
import random
import uuid
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from prefect.exceptions import ObjectNotFound

import dd_prefect.orchestration.throttle as throttle
from dd_prefect.engine.throttle import MAX_BLOCKS, AIMDLimiter, Seen, Step, block_size, plan, short
from dd_prefect.orchestration.throttle import Share

NAME = "dd-prefect:p:m"
PROCESSES, WAITING = throttle.counter_names(NAME)


class FakeLimits:
    """Prefect's v2 concurrency limits with leases: all or nothing, 423 when not free."""

    def __init__(self) -> None:
        self.limits: dict[str, int] = {}
        self.active: dict[str, int] = {}
        self.leases: dict[uuid.UUID, tuple[str, int]] = {}
        self.calls = 0

    def client(self) -> FakeClient:
        return FakeClient(self)


class FakeClient:
    def __init__(self, server: FakeLimits) -> None:
        self.s = server

    async def read_global_concurrency_limit_by_name(self, name: str) -> Any:
        self.s.calls += 1
        if name not in self.s.limits:
            raise ObjectNotFound(None)
        return SimpleNamespace(limit=self.s.limits[name], active_slots=self.s.active[name])

    async def create_global_concurrency_limit(self, create: Any) -> None:
        self.s.calls += 1
        self.s.limits[create.name] = create.limit
        self.s.active[create.name] = 0

    async def increment_concurrency_slots_with_lease(
        self, names: list[str], slots: int, mode: str, lease_duration: float
    ) -> Any:
        self.s.calls += 1
        (name,) = names
        if self.s.active[name] + slots > self.s.limits[name]:
            request = httpx.Request("POST", "http://prefect/increment-with-lease")
            response = httpx.Response(423, headers={"Retry-After": "1"}, request=request)
            raise httpx.HTTPStatusError("locked", request=request, response=response)
        self.s.active[name] += slots
        lease_id = uuid.uuid4()
        self.s.leases[lease_id] = (name, slots)
        return SimpleNamespace(json=lambda: {"lease_id": str(lease_id)})

    async def release_concurrency_slots_with_lease(self, lease_id: uuid.UUID) -> None:
        self.s.calls += 1
        name, slots = self.s.leases.pop(lease_id)
        self.s.active[name] -= slots

    async def renew_concurrency_lease(self, lease_id: uuid.UUID, lease_duration: float) -> None:
        self.s.calls += 1


@pytest.fixture(autouse=True)
def quick_ticks(monkeypatch):
    monkeypatch.setattr(throttle, "TICK_SECONDS", 0.01)


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def share(server: FakeLimits, wanted: int = 4) -> Share:
    return Share(server.client(), NAME, AIMDLimiter(wanted, name="p/m"), wanted)


def assert_within_limit(server: FakeLimits, *shares: Share) -> None:
    """Never more slots dispensed than leased, nor leased than the limit (a share still
    joining has dispensed nothing yet)."""
    for s in shares:
        if s.held:
            assert s.limiter.in_flight <= s.limiter.budget <= s.held
    assert sum(s.held for s in shares) == server.active[NAME] <= server.limits[NAME]


# -- the plan ------------------------------------------------------------------------------


def seen(limit=4, active=4, processes=2, waiting=0) -> Seen:
    return Seen(limit=limit, active=active, processes=processes, waiting=waiting)


@pytest.mark.parametrize(
    ("held", "want", "look", "step"),
    [
        (4, 4, seen(processes=1), Step()),  # alone with everything it wants
        (4, 4, seen(waiting=1), Step(keep=2)),  # another waits: down to the fair share
        (2, 4, seen(waiting=1), Step()),  # already at its fair share
        (3, 4, seen(limit=4, processes=3, waiting=1), Step(keep=1)),  # fair = 4 // 3
        (0, 4, seen(active=2), Step(grow=2)),  # takes what is free
        (2, 4, seen(active=2, processes=1), Step(grow=2)),  # the other one left
        (1, 4, seen(active=2, waiting=1), Step(grow=1)),  # others wait: up to fair only
        (2, 4, seen(active=2, waiting=1), Step()),  # ...not beyond it
        (4, 8, seen(limit=2, active=4, processes=1), Step(keep=2, most=2)),  # limit lowered
        (0, 4, seen(active=4), Step()),  # nothing free: wait
        (40, 64, seen(limit=64, active=64, waiting=1), Step(keep=25)),  # blocks of 8
    ],
)
def test_plan(held, want, look, step):
    assert plan(held, want, look, block_size(look.limit)) == step


def test_short_means_a_block_below_the_fair_share():
    assert short(0, 4, seen(), 1)
    assert short(1, 4, seen(), 1)
    assert not short(2, 4, seen(), 1)
    assert not short(1, 1, seen(), 1)  # wants only one
    assert short(0, 1, seen(processes=9), 1)  # nothing held is always short
    assert not short(1, 4, seen(processes=9), 1)
    assert short(24, 64, seen(limit=64), 8) and not short(25, 64, seen(limit=64), 8)


def test_blocks_bound_the_leases_per_process():
    assert [block_size(n) for n in (1, 4, 8, 9, 16, 64, 100)] == [1, 1, 1, 2, 2, 8, 13]


# -- shares against the stand-in ---------------------------------------------------------------


async def test_a_waiting_process_gets_a_fair_share_then_everything():
    server = FakeLimits()
    a, b = share(server), share(server)
    await a.join()
    assert (a.held, a.limiter.budget) == (4, 4)
    assert server.active == {NAME: 4, PROCESSES: 1, WAITING: 0}

    tickets = [await a.limiter.acquire() for _ in range(4)]  # all four in flight
    joining = asyncio.create_task(b.join())
    await asyncio.sleep(0.05)
    assert not joining.done() and b.held == 0
    assert server.active[WAITING] == 1  # b counts as waiting...

    giving = asyncio.create_task(a.rebalance())  # ...so a gives back down to 4 // 2
    await settle()
    assert a.limiter.budget == 2  # no new requests beyond the new share...
    assert a.held == 4  # ...but the slots stay leased while more are in flight
    a.limiter.release()
    await settle()
    assert not giving.done() and a.held == 4
    a.limiter.release()  # two in flight: now they go
    await giving
    assert (a.held, server.active[NAME]) == (2, 2)
    assert_within_limit(server, a, b)

    await joining
    assert (b.held, b.limiter.budget) == (2, 2)
    assert server.active == {NAME: 4, PROCESSES: 2, WAITING: 0}
    await a.rebalance()  # nothing free, nobody waiting: both keep 2
    await b.rebalance()
    assert (a.held, b.held) == (2, 2)

    for _ in tickets[2:]:
        a.limiter.release()
    await a.leave()
    assert server.active == {NAME: 2, PROCESSES: 1, WAITING: 0}
    await b.rebalance()  # alone again: everything
    assert (b.held, b.limiter.budget) == (4, 4)
    await b.leave()
    assert server.active == {NAME: 0, PROCESSES: 0, WAITING: 0}
    assert not server.leases


async def test_uneven_split_settles_without_anyone_waiting():
    server = FakeLimits()
    server.limits[NAME], server.active[NAME] = 5, 0
    shares = [share(server, 8) for _ in range(3)]
    await shares[0].join()
    assert shares[0].held == 5
    for s in shares[1:]:
        task = asyncio.create_task(s.join())
        for _ in range(50):
            if task.done():
                break
            for other in shares:
                if other.member and other is not s:
                    await other.rebalance()
            await asyncio.sleep(0.02)
        await task
    for _ in range(5):
        for s in shares:
            await s.rebalance()
            assert_within_limit(server, *shares)
    assert sorted(s.held for s in shares) in ([1, 2, 2], [1, 1, 3])  # 5 // 3 each, one more
    assert server.active[NAME] == 5 and server.active[WAITING] == 0


@pytest.mark.parametrize("limit", [4, 7, 16, 64])
async def test_random_joins_and_leaves_stay_within_the_limit_and_settle_fairly(limit):
    rng = random.Random(limit)
    server = FakeLimits()
    server.limits[NAME], server.active[NAME] = limit, 0
    live: list[Share] = []
    block = block_size(limit)
    for _ in range(12):
        if live and (len(live) >= 4 or rng.random() < 0.3):
            gone = live.pop(rng.randrange(len(live)))
            await gone.leave()
        else:
            new = share(server, rng.choice([1, limit // 2 or 1, limit, 2 * limit]))
            task = asyncio.create_task(new.join())
            while not task.done():
                for s in live:
                    await s.rebalance()
                    assert_within_limit(server, *live)
                await asyncio.sleep(0.02)
            await task
            live.append(new)
        if not live:
            continue
        for _ in range(6):  # a few rounds of looks in random order
            for s in rng.sample(live, len(live)):
                await s.rebalance()
                assert_within_limit(server, *live)
        # Settled: nobody waits, no slot idles while someone wants more, and everyone who
        # wants it has at least a block less than the fair share.
        fair = max(1, limit // len(live))
        assert server.active[WAITING] == 0
        demand = sum(min(s.wanted, limit) for s in live)
        assert server.active[NAME] >= min(limit, demand) - block + 1
        for s in live:
            assert s.held >= min(s.want, fair) - block + 1
            assert len(s.blocks) <= 2 * MAX_BLOCKS
    for s in live:
        await s.leave()
    assert server.active == {NAME: 0, PROCESSES: 0, WAITING: 0}


async def test_looks_are_cheap_when_calm():
    server = FakeLimits()
    a = share(server)
    await a.join()
    before = server.calls
    for _ in range(5):
        await a.rebalance()
    assert server.calls - before == 10  # the limit and the waiting counter, per look
    assert a.interval == throttle.CALM_TICK_SECONDS
