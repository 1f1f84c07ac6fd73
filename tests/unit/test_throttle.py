"""AIMDLimiter: the window, decrease per burst, additive increase, budget, cooldown, cancel."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from dd_prefect.engine.throttle import AIMDLimiter


async def settle() -> None:
    """Let every ready callback run (wake-ups hop through a few loop iterations)."""
    for _ in range(10):
        await asyncio.sleep(0)


def rate_limit_burst(limiter: AIMDLimiter, tickets: list[int], retry_after=None) -> None:
    for ticket in tickets:
        limiter.on_rate_limited(ticket, retry_after)


async def hold(limiter: AIMDLimiter, n: int) -> list[int]:
    return [await limiter.acquire() for _ in range(n)]


def test_rejects_budget_below_one():
    with pytest.raises(ValueError):
        AIMDLimiter(0)


async def test_never_more_than_limit_in_flight():
    limiter = AIMDLimiter(3)
    current = peak = 0

    async def work() -> None:
        nonlocal current, peak
        async with limiter.slot():
            current += 1
            peak = max(peak, current)
            await asyncio.sleep(0.002)
            current -= 1

    await asyncio.gather(*(work() for _ in range(40)))
    assert peak == 3
    assert limiter.stats["max_in_flight"] == 3
    assert limiter.stats["acquired"] == 40
    assert limiter.in_flight == 0


async def test_a_burst_of_429s_decreases_once():
    limiter = AIMDLimiter(16, name="p/m")
    tickets = await hold(limiter, 8)
    rate_limit_burst(limiter, tickets)  # all acquired before the first decrease
    assert limiter.limit == 8
    assert limiter.stats == {**limiter.stats, "rate_limited": 8, "decreases": 1}
    for _ in tickets:
        limiter.release()
    # A request sent after the decrease that is rate limited again is a new signal.
    (ticket,) = await hold(limiter, 1)
    limiter.on_rate_limited(ticket)
    limiter.release()
    assert limiter.limit == 4
    assert limiter.stats["decreases"] == 2


async def test_window_never_below_one():
    limiter = AIMDLimiter(4)
    for _ in range(10):
        (ticket,) = await hold(limiter, 1)
        limiter.on_rate_limited(ticket)
        limiter.release()
    assert limiter.limit == 1
    (ticket,) = await hold(limiter, 1)  # one slot is always usable
    limiter.release()


async def test_additive_increase_after_a_streak_as_long_as_the_window():
    limiter = AIMDLimiter(16)
    for _ in range(2):
        (ticket,) = await hold(limiter, 1)
        limiter.on_rate_limited(ticket)
        limiter.release()
    assert limiter.limit == 4
    for _ in range(3):
        limiter.on_success()
    assert limiter.limit == 4
    limiter.on_success()
    assert limiter.limit == 5
    for _ in range(4):
        limiter.on_success()
    assert limiter.limit == 5
    limiter.on_success()
    assert limiter.limit == 6


async def test_a_429_resets_the_streak():
    limiter = AIMDLimiter(16)
    (ticket,) = await hold(limiter, 1)
    limiter.on_rate_limited(ticket)
    limiter.release()
    assert limiter.limit == 8
    for _ in range(7):
        limiter.on_success()
    limiter.on_rate_limited(ticket)  # from before the decrease: the streak starts over
    limiter.on_success()
    assert limiter.limit == 8


async def test_a_burst_of_timeouts_collapses_the_window_once_then_slow_starts():
    limiter = AIMDLimiter(16)
    tickets = await hold(limiter, 8)
    for ticket in tickets:
        limiter.on_timeout(ticket)
    assert limiter.limit == 1
    assert limiter.stats["timeouts"] == 8 and limiter.stats["decreases"] == 1
    for _ in tickets:
        limiter.release()
    # Slow start: +1 per success (doubling per window) up to half the old window (8) ...
    for _ in range(7):
        limiter.on_success()
    assert limiter.limit == 8
    # ... then additive: +1 after a streak as long as the window.
    for _ in range(7):
        limiter.on_success()
    assert limiter.limit == 8
    limiter.on_success()
    assert limiter.limit == 9


async def test_a_held_release_keeps_the_slot_taken_for_a_while():
    limiter = AIMDLimiter(1)
    (ticket,) = await hold(limiter, 1)
    limiter.on_timeout(ticket)
    limiter.release(hold=0.2)
    assert limiter.in_flight == 1 and limiter.stats["held"] == 1
    began = time.monotonic()
    async with limiter.slot():
        waited = time.monotonic() - began
    assert waited >= 0.15
    assert limiter.in_flight == 0


async def test_never_above_the_budget():
    limiter = AIMDLimiter(4)
    for _ in range(100):
        limiter.on_success()
    assert limiter.limit == 4
    (ticket,) = await hold(limiter, 1)
    limiter.on_rate_limited(ticket)
    limiter.release()
    assert limiter.limit == 2
    for _ in range(100):
        limiter.on_success()
    assert limiter.limit == 4


async def test_set_budget_lowers_the_ceiling():
    limiter = AIMDLimiter(8)
    tickets = await hold(limiter, 4)
    limiter.set_budget(2)
    assert (limiter.budget, limiter.limit) == (2, 2)
    waiter = asyncio.ensure_future(limiter.acquire())
    for _ in tickets[:2]:
        limiter.release()
    await settle()
    assert not waiter.done()  # 2 still in flight, the window is 2
    limiter.release()
    await asyncio.wait_for(waiter, 1)
    assert limiter.in_flight == 2
    for _ in range(100):
        limiter.on_success()
    assert limiter.limit == 2  # additive increase stays under the new ceiling
    limiter.release()
    limiter.release()


async def test_set_budget_raises_the_ceiling_and_wakes_waiters():
    limiter = AIMDLimiter(8)
    limiter.set_budget(2)  # e.g. a leased share of a global limit
    await hold(limiter, 2)
    waiters = [asyncio.ensure_future(limiter.acquire()) for _ in range(5)]
    await settle()
    assert not any(w.done() for w in waiters)
    limiter.set_budget(6)
    assert (limiter.budget, limiter.limit) == (6, 6)
    await settle()
    assert sum(w.done() for w in waiters) == 4
    assert limiter.in_flight == 6
    limiter.set_budget(12)  # above the model's own limit is allowed: it is the ceiling
    await asyncio.wait_for(asyncio.gather(*waiters), 1)
    assert limiter.in_flight == 7
    for _ in range(7):
        limiter.release()


async def test_raising_the_budget_keeps_a_window_learned_from_429s():
    limiter = AIMDLimiter(8)
    (ticket,) = await hold(limiter, 1)
    limiter.on_rate_limited(ticket)
    limiter.release()
    assert limiter.limit == 4
    limiter.set_budget(16)
    assert (limiter.budget, limiter.limit) == (16, 4)
    for _ in range(4):
        limiter.on_success()
    assert limiter.limit == 5  # grows additively from there


async def test_cooldown_delays_acquires():
    limiter = AIMDLimiter(4)
    (ticket,) = await hold(limiter, 1)
    began = time.monotonic()
    limiter.on_rate_limited(ticket, retry_after=0.2)
    limiter.release()
    await limiter.acquire()
    assert time.monotonic() - began >= 0.18
    limiter.release()
    # Once over, acquires are immediate again.
    began = time.monotonic()
    await limiter.acquire()
    assert time.monotonic() - began < 0.1
    limiter.release()


async def test_cooldown_never_shortens():
    limiter = AIMDLimiter(4)
    a, b = await hold(limiter, 2)
    began = time.monotonic()
    limiter.on_rate_limited(a, retry_after=0.2)
    limiter.on_rate_limited(b, retry_after=0.01)
    limiter.release()
    limiter.release()
    await limiter.acquire()
    assert time.monotonic() - began >= 0.18
    limiter.release()


async def test_cancelled_waiter_does_not_leak_a_slot():
    limiter = AIMDLimiter(1)
    await hold(limiter, 1)
    a = asyncio.ensure_future(limiter.acquire())
    b = asyncio.ensure_future(limiter.acquire())
    await settle()
    a.cancel()
    await settle()
    limiter.release()
    assert await asyncio.wait_for(b, 1) > 0
    assert a.cancelled()
    assert limiter.in_flight == 1
    limiter.release()
    assert limiter.in_flight == 0
    await asyncio.wait_for(limiter.acquire(), 1)
    limiter.release()


async def test_woken_then_cancelled_waiter_passes_the_slot_on():
    limiter = AIMDLimiter(1)
    await hold(limiter, 1)
    a = asyncio.ensure_future(limiter.acquire())
    b = asyncio.ensure_future(limiter.acquire())
    await settle()
    limiter.release()  # wakes a ...
    a.cancel()  # ... which is cancelled before it runs
    await asyncio.wait_for(b, 1)
    assert a.cancelled()
    assert limiter.in_flight == 1
    limiter.release()
    assert limiter.in_flight == 0


async def test_cancelled_slot_holder_releases():
    limiter = AIMDLimiter(2)

    async def holder() -> None:
        async with limiter.slot():
            await asyncio.sleep(10)

    tasks = [asyncio.ensure_future(holder()) for _ in range(5)]
    await settle()
    assert limiter.in_flight == 2
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert limiter.in_flight == 0
    assert not limiter._waiters
    await asyncio.wait_for(hold(limiter, 2), 1)


async def test_waiter_cancelled_in_a_cooldown_does_not_strand_the_others():
    limiter = AIMDLimiter(1)
    (ticket,) = await hold(limiter, 1)
    a = asyncio.ensure_future(limiter.acquire())
    b = asyncio.ensure_future(limiter.acquire())
    await settle()
    limiter.on_rate_limited(ticket, retry_after=0.1)
    limiter.release()  # wakes a, which sleeps out the cooldown ...
    await settle()
    a.cancel()  # ... and is cancelled there
    await asyncio.wait_for(b, 1)
    assert a.cancelled() and limiter.in_flight == 1
    limiter.release()


async def test_a_woken_waiter_keeps_its_turn():
    limiter = AIMDLimiter(1)
    await hold(limiter, 1)
    order: list[str] = []

    async def take(name: str) -> None:
        await limiter.acquire()
        order.append(name)

    async def release_and_take() -> None:
        limiter.release()  # wakes the waiter ...
        await take("newcomer")  # ... whose slot a request arriving right after can't take

    waiter = asyncio.ensure_future(take("waiter"))
    await settle()
    newcomer = asyncio.ensure_future(release_and_take())
    await settle()
    assert order == ["waiter"] and limiter.in_flight == 1
    limiter.release()
    await asyncio.wait_for(asyncio.gather(waiter, newcomer), 1)
    assert order == ["waiter", "newcomer"]
    limiter.release()


async def test_invariants_under_churn():
    """Random 429s, cooldowns, budget changes and cancellations: no slot leaks, no overshoot."""
    rng = random.Random(7)
    limiter = AIMDLimiter(8)
    overshoot = []

    async def request() -> None:
        ticket = await limiter.acquire()
        try:
            if limiter.in_flight > limiter.limit:  # checked as the slot is granted
                overshoot.append(limiter.in_flight)
            await asyncio.sleep(rng.random() * 0.003)
            if rng.random() < 0.1:
                limiter.on_rate_limited(ticket, retry_after=rng.choice([None, 0.002]))
            else:
                limiter.on_success()
        finally:
            limiter.release()

    tasks = [asyncio.ensure_future(request()) for _ in range(300)]
    for step in range(30):
        await asyncio.sleep(0.001)
        for task in rng.sample(tasks, 5):
            task.cancel()
        if step % 10 == 5:
            limiter.set_budget(rng.randint(2, 12))
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
    assert not overshoot
    assert limiter.in_flight == 0 and limiter._woken == 0 and not limiter._waiters
    assert limiter.stats["max_in_flight"] <= 12
    await asyncio.wait_for(hold(limiter, limiter.limit), 1)


async def test_wait_in_flight_returns_once_enough_slots_are_back():
    limiter = AIMDLimiter(4)
    await hold(limiter, 4)
    await limiter.wait_in_flight(4)  # already there
    limiter.set_budget(2)  # a share given back: first no new requests beyond it...
    waiting = asyncio.create_task(limiter.wait_in_flight(2))
    await settle()
    assert not waiting.done()
    limiter.release()
    await settle()
    assert not waiting.done()
    limiter.release(hold=0.05)  # a held slot counts until it is really released
    await settle()
    assert not waiting.done()
    await asyncio.wait_for(waiting, 1)  # ...then the slots can go
    assert limiter.in_flight == 2
    cancelled = asyncio.create_task(limiter.wait_in_flight(0))
    await settle()
    cancelled.cancel()
    await settle()
    assert limiter._drains == []
