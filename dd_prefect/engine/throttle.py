"""An AIMD concurrency limiter per provider+model.

The limiter dispenses request slots locally. Its ceiling is its *budget*: by default the
model's `max_parallel_requests`; the orchestration layer can lease a share of a global
concurrency limit and hand it over with :meth:`AIMDLimiter.set_budget`, again whenever the
share grows or shrinks (to give slots back it lowers the budget, then awaits
:meth:`AIMDLimiter.wait_in_flight`). Within the budget the window shrinks by half on a 429
(multiplicative decrease, at most once per window of requests, so one burst of 429s is one
signal), grows by one after a streak of successes as long as the window (additive
increase), and pauses new requests until a Retry-After has passed (cooldown).

Below the limiter, :func:`plan`: where a process's share of a limit that several processes
use goes next (grow into free slots, or give back to a fair share while another process
waits), free of Prefect so it is tested on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass


class AIMDLimiter:
    """Concurrency window that adapts to 429s; never above its budget, never below 1."""

    def __init__(self, budget: int, *, name: str = "", decrease_factor: float = 0.5) -> None:
        if budget < 1:
            raise ValueError("budget must be >= 1")
        self.name = name
        self._budget = budget
        self._window = float(budget)
        self._factor = decrease_factor
        self._in_flight = 0
        self._streak = 0
        self._cooldown_until = 0.0
        self._last_decrease_seq = -1
        self._slow_start_until = 0.0  # after a timeout: double up to this window, then +1
        self._seq = 0  # number of slots handed out so far
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._woken = 0  # waiters woken for a free slot that have not run yet
        self._drains: list[tuple[int, asyncio.Future[None]]] = []  # see wait_in_flight
        self.stats = {
            "acquired": 0,
            "rate_limited": 0,
            "timeouts": 0,
            "held": 0,
            "decreases": 0,
            "max_in_flight": 0,
        }

    @property
    def budget(self) -> int:
        """The ceiling: slots this process may use at most."""
        return self._budget

    @property
    def limit(self) -> int:
        """The current window (slots usable now)."""
        return max(1, int(self._window))

    @property
    def in_flight(self) -> int:
        """Slots held right now."""
        return self._in_flight

    def set_budget(self, budget: int) -> None:
        """Change the ceiling (e.g. to a leased share of a global limit).

        A window held down only by the old ceiling follows the new one; a window shrunk
        by 429s keeps its learned size (and grows back additively, up to the new ceiling).
        """
        at_ceiling = self._window >= self._budget
        self._budget = max(1, budget)
        if at_ceiling:
            self._window = float(self._budget)
        self._window = max(1.0, min(self._window, float(self._budget)))
        self._slow_start_until = min(self._slow_start_until, float(self._budget))
        self._wake()

    async def wait_in_flight(self, at_most: int) -> None:
        """Return once at most `at_most` slots are held (e.g. before handing leased slots
        back after :meth:`set_budget` lowered the ceiling; a held release counts as held)."""
        while self._in_flight > at_most:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            entry = (at_most, fut)
            self._drains.append(entry)
            try:
                await fut
            finally:
                with contextlib.suppress(ValueError):
                    self._drains.remove(entry)

    async def acquire(self) -> int:
        """Wait for a slot; returns a ticket to pass to :meth:`on_rate_limited`.

        Waiters are served in arrival order: a slot freed for a waiter stays reserved for it
        until it runs, so a request arriving in between queues behind it.
        """
        waited = False
        while True:
            if self._cooldown_until:
                delay = self._cooldown_until - time.monotonic()
                if delay > 0:
                    try:
                        await asyncio.sleep(delay)
                    finally:
                        # Over (or this task was cancelled): queued waiters may go now.
                        self._wake()
                    continue
            if self._in_flight + self._woken < self.limit:
                break
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if waited:  # woken, but the window shrank meanwhile: keep its place
                self._waiters.appendleft(fut)
            else:
                self._waiters.append(fut)
            try:
                await fut
            except BaseException:
                if fut.done() and not fut.cancelled():
                    # Woken but cancelled before it ran: pass the slot on.
                    self._woken -= 1
                    self._wake()
                else:
                    with contextlib.suppress(ValueError):  # _wake may have dropped it
                        self._waiters.remove(fut)
                raise
            self._woken -= 1
            waited = True
        self._in_flight += 1
        self._seq += 1
        self.stats["acquired"] += 1
        self.stats["max_in_flight"] = max(self.stats["max_in_flight"], self._in_flight)
        return self._seq

    def release(self, hold: float = 0.0) -> None:
        """Give a slot back, or `hold` seconds from now (a request that timed out is
        probably still being served: its slot stays taken a while longer)."""
        if hold > 0:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                pass
            else:
                self.stats["held"] += 1
                loop.call_later(hold, self.release)
                return
        self._in_flight -= 1
        for at_most, fut in self._drains:
            if self._in_flight <= at_most and not fut.done():
                fut.set_result(None)
        self._wake()

    def on_success(self) -> None:
        """Slow start after a timeout (+1 per success up to half the old window), else
        additive increase after a streak as long as the window."""
        if self._window < self._slow_start_until:
            self._window = min(self._slow_start_until, self._window + 1.0)
            self._streak = 0
            self._wake()
            return
        self._streak += 1
        if self._streak >= self.limit and self._window < self._budget:
            self._window = min(float(self._budget), self._window + 1.0)
            self._streak = 0
            self._wake()

    def on_timeout(self, ticket: int) -> None:
        """A request timed out: congestion. The window drops to 1 (once per window of
        requests) and slow-starts back to half its size once answers come in time."""
        self.stats["timeouts"] += 1
        self._streak = 0
        if ticket > self._last_decrease_seq:
            self._slow_start_until = max(1.0, float(int(self._window * self._factor)))
            self._window = 1.0
            self._last_decrease_seq = self._seq
            self.stats["decreases"] += 1

    def on_rate_limited(self, ticket: int, retry_after: float | None = None) -> None:
        """Multiplicative decrease (once per window of requests) and a cooldown."""
        self.stats["rate_limited"] += 1
        self._streak = 0
        if ticket > self._last_decrease_seq:
            self._window = max(1.0, self._window * self._factor)
            self._slow_start_until = 0.0
            self._last_decrease_seq = self._seq
            self.stats["decreases"] += 1
        if retry_after:
            self._cooldown_until = max(self._cooldown_until, time.monotonic() + retry_after)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[int]:
        """``async with limiter.slot() as ticket:`` holds one slot for the block."""
        ticket = await self.acquire()
        try:
            yield ticket
        finally:
            self.release()

    def _wake(self) -> None:
        free = self.limit - self._in_flight - self._woken
        while free > 0 and self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                self._woken += 1
                free -= 1


# -- a process's share of a limit shared with other processes --------------------------

MAX_BLOCKS = 8  # leases per limit a process holds at most (each costs a renewal)


def block_size(limit: int) -> int:
    """Slots per lease: one up to a limit of MAX_BLOCKS, so shares shrink slot by slot."""
    return max(1, -(-limit // MAX_BLOCKS))


@dataclass(frozen=True)
class Seen:
    """One look at a limit and its counters."""

    limit: int
    active: int  # slots held by all processes, this one included
    processes: int  # processes holding or waiting for slots, this one included
    waiting: int  # processes short of their fair share, this one excluded

    @property
    def fair(self) -> int:
        """Each process's fair share (at least one slot)."""
        return max(1, self.limit // max(1, self.processes))

    @property
    def free(self) -> int:
        return max(0, self.limit - self.active)


@dataclass(frozen=True)
class Step:
    """What to do with a share: lease `grow` more slots, or give back down to `keep`
    (whole blocks, never below `keep`) and, if still above `most`, further."""

    grow: int = 0
    keep: int | None = None
    most: int | None = None


def plan(held: int, want: int, seen: Seen, block: int) -> Step:
    """Where a share of `held` slots (wanting `want`) goes next.

    - Above what it wants (the limit was lowered): down to it.
    - Another process waits and this one holds more than the fair share: give back whole
      blocks, keeping at least ``fair - block + 1`` (exactly the fair share with blocks of
      one slot), so the giver is never short itself.
    - Free slots and short of `want`: lease them, up to `want` when nobody waits, else up to
      the fair share (the rest is left to those waiting).
    """
    want = max(1, min(want, seen.limit))
    if held > want:
        return Step(keep=want, most=want)
    fair = seen.fair
    if seen.waiting > 0 and held > fair:
        return Step(keep=max(1, fair - min(block, fair) + 1))
    if held < want and seen.free > 0:
        cap = want if seen.waiting == 0 else max(held, min(want, fair))
        return Step(grow=min(cap - held, seen.free))
    return Step()


def short(held: int, want: int, seen: Seen, block: int) -> bool:
    """Whether a share should count as waiting: nothing held, or at least a block short of
    the fair share (or of `want`, if smaller)."""
    wanted = min(max(1, min(want, seen.limit)), seen.fair)
    return held == 0 or held <= wanted - min(block, wanted)
