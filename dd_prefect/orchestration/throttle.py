"""Prefect global concurrency limits as the LLM throttle shared by every worker.

One limit per provider+model, named ``dd-prefect:<provider>:<model>``, created on first
use with ``limit = max_parallel_requests`` (an existing limit, e.g. set by an operator, is
respected). Acquiring from inside a task run costs ~2 s on Prefect's SQLite server, so a
process leases its share for a whole dataset (or workflow stage) and hands it to the
engine's AIMD limiter, which dispenses it locally.

The share follows demand while the process holds it. It is held as a few leases (blocks of
at most ``block_size(limit)`` slots, so it can shrink by whole leases), and every second or
two a background task looks at the limit and two counters next to it:

- ``dd-prefect-processes:<provider>:<model>``: one slot per process holding or waiting for
  slots of the limit, so fair = limit // processes;
- ``dd-prefect-waiting:<provider>:<model>``: one slot per process short of its fair share
  (at least a block short) that found no free slot.

It then leases free slots up to the model's ``max_parallel_requests`` (only up to the fair
share while another process waits), or, while another process waits, gives back what it
holds above its fair share: the limiter's budget is lowered first and the slots are
released once no more than the new budget are in flight (the rules:
:func:`dd_prefect.engine.throttle.plan`).

Every lease (counters included) is renewed in the background and released at the end; if
the process dies, a real Prefect server repossesses them when the lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from dd_prefect.engine.llm import ModelRegistry
from dd_prefect.engine.throttle import AIMDLimiter, Seen, block_size, plan, short

LEASE_SECONDS = 60.0  # Prefect's minimum; a killed process's slots come back this soon
_RENEW_EVERY = LEASE_SECONDS / 3
TICK_SECONDS = 1.0  # re-balancing while short of the wanted share, or while others wait
CALM_TICK_SECONDS = 2.0  # ...and otherwise
WAIT_LOG_SECONDS = 15.0  # "waiting for slots" is repeated this often
COUNTER_LIMIT = 1_000_000  # the counters' own limit: never reached
logger = logging.getLogger("dd_prefect.throttle")

Logger = logging.Logger | logging.LoggerAdapter[Any]


def limit_name(limiter_key: str) -> str:
    """The global concurrency limit's name for ``<provider>/<model>``.

    Prefect forbids ``/ % & > <`` in limit names: ``openai/meta/llama-3`` becomes
    ``dd-prefect:openai:meta_llama-3``.
    """
    provider, _, model = limiter_key.partition("/")
    clean = [re.sub(r"[/%&><\s]", "_", part) for part in (provider, model)]
    return "dd-prefect:" + ":".join(clean)


def counter_names(name: str) -> tuple[str, str]:
    """The limits counting processes that use, and that wait for, the limit `name`."""
    rest = name.removeprefix("dd-prefect:")
    return f"dd-prefect-processes:{rest}", f"dd-prefect-waiting:{rest}"


@dataclass
class Lease:
    """Slots of one global limit held by this process."""

    name: str
    slots: int
    lease_id: UUID


async def ensure_limit(client: Any, name: str, limit: int) -> int:
    """Create the limit if absent; returns its limit (an existing one is left as it is)."""
    try:
        return (await client.read_global_concurrency_limit_by_name(name)).limit
    except ObjectNotFound:
        pass
    try:
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=name, limit=limit)
        )
        return limit
    except ObjectAlreadyExists:  # another process created it meanwhile
        return (await client.read_global_concurrency_limit_by_name(name)).limit


async def try_lease(client: Any, name: str, slots: int) -> Lease | None:
    """Lease `slots` of `name` if that many are free now (None on HTTP 423)."""
    try:
        response = await client.increment_concurrency_slots_with_lease(
            names=[name], slots=slots, mode="concurrency", lease_duration=LEASE_SECONDS
        )
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code != 423:
            raise
        return None
    return Lease(name=name, slots=slots, lease_id=UUID(response.json()["lease_id"]))


def run_logger() -> Logger:
    """The current flow (or task) run's logger, so messages reach the run's log in the UI;
    the module logger outside a run."""
    from prefect.logging import get_run_logger

    try:
        return get_run_logger()
    except Exception:  # MissingContextError: not in a run
        return logger


@dataclass
class Share:
    """This process's share of one global limit, fed to one limiter."""

    client: Any
    name: str
    limiter: AIMDLimiter
    wanted: int  # max_parallel_requests: the most this process asks for
    log: Logger = logger
    limit: int = 0
    blocks: list[Lease] = field(default_factory=list)
    member: Lease | None = None  # our slot in the processes counter
    waiting: Lease | None = None  # our slot in the waiting counter, while short
    interval: float = TICK_SECONDS
    _warned_at: float = -1e9

    @property
    def held(self) -> int:
        return sum(block.slots for block in self.blocks)

    @property
    def want(self) -> int:
        return max(1, min(self.wanted, self.limit))

    @property
    def block(self) -> int:
        return block_size(self.limit)

    def leases(self) -> list[Lease]:
        """Every lease to renew."""
        return [*self.blocks, *(x for x in (self.member, self.waiting) if x)]

    async def join(self) -> None:
        """Count this process in, then lease what is free (waits for one slot at least)."""
        processes, waiting = counter_names(self.name)
        self.limit = await ensure_limit(self.client, self.name, self.wanted)
        await ensure_limit(self.client, processes, COUNTER_LIMIT)
        await ensure_limit(self.client, waiting, COUNTER_LIMIT)
        self.member = await try_lease(self.client, processes, 1)
        began = time.monotonic()
        logged_at: float | None = None
        while True:
            seen = await self.look(full=True)
            step = plan(0, self.want, seen, self.block)
            if step.grow:
                await self.grow(step.grow)
            if self.held:
                break
            await self.mark_waiting(True)
            now = time.monotonic()
            if logged_at is None or now - logged_at >= WAIT_LOG_SECONDS:
                logged_at = now
                self.log.info(
                    "waiting for slots of %s%s: wants %d, %d of %d held by other processes "
                    "(processes sharing the limit: %d); a process that died holds its slots "
                    "until its lease expires (up to %.0f s)",
                    self.name,
                    f" (for {now - began:.0f} s now)" if now > began + 1 else "",
                    self.want,
                    seen.active,
                    seen.limit,
                    seen.processes,
                    LEASE_SECONDS,
                )
            await asyncio.sleep(TICK_SECONDS)
        await self.mark_waiting(short(self.held, self.want, seen, self.block))
        self.limiter.set_budget(self.held)
        waited = time.monotonic() - began
        self.log.info(
            "leased %d of %d slots of %s%s",
            self.held,
            self.limit,
            self.name,
            f" after waiting {waited:.1f} s" if logged_at is not None else "",
        )

    async def look(self, full: bool = False) -> Seen:
        """Read the limit and its counters (the processes counter only when it matters)."""
        processes, waiting = counter_names(self.name)
        read = self.client.read_global_concurrency_limit_by_name
        others_waiting = (await read(waiting)).active_slots - (1 if self.waiting else 0)
        main = await read(self.name)
        self.limit = main.limit
        count = 1
        if full or others_waiting > 0 or self.held < self.want:
            count = (await read(processes)).active_slots
        return Seen(
            limit=main.limit,
            active=main.active_slots,
            processes=max(1, count),
            waiting=max(0, others_waiting),
        )

    async def grow(self, slots: int) -> None:
        """Lease up to `slots` more, a block at a time; a 423 halves the block, and stops
        the growth once a single slot is refused."""
        size = min(self.block, slots)
        while slots > 0 and size > 0:
            lease = await try_lease(self.client, self.name, min(size, slots))
            if lease is None:
                size = min(size, slots) // 2
                continue
            self.blocks.append(lease)
            slots -= lease.slots
            self.limiter.set_budget(self.held)

    async def give_back(self, keep: int, most: int | None) -> None:
        """Release whole blocks, largest first, keeping at least `keep` (then smallest
        first while above `most`). The limiter's budget goes down first; the leases are
        released once no more than the new budget are in flight."""
        chosen: list[Lease] = []
        held = self.held
        for lease in sorted(self.blocks, key=lambda b: -b.slots):
            if held - lease.slots >= keep:
                chosen.append(lease)
                held -= lease.slots
        for lease in sorted(self.blocks, key=lambda b: b.slots):
            if most is None or held <= most or held - lease.slots < 1:
                break
            if lease not in chosen:
                chosen.append(lease)
                held -= lease.slots
        if not chosen:
            return
        self.limiter.set_budget(held)
        await self.limiter.wait_in_flight(held)
        for lease in chosen:
            self.blocks.remove(lease)
            await self.client.release_concurrency_slots_with_lease(lease.lease_id)

    async def mark_waiting(self, waiting: bool) -> None:
        """Hold (or give back) our slot in the waiting counter."""
        if waiting and self.waiting is None:
            self.waiting = await try_lease(self.client, counter_names(self.name)[1], 1)
        elif not waiting and self.waiting is not None:
            lease, self.waiting = self.waiting, None
            await self.client.release_concurrency_slots_with_lease(lease.lease_id)

    async def rebalance(self) -> None:
        """One look, then grow, shrink or nothing."""
        before = self.held
        seen = await self.look()
        if self.held == self.want and seen.waiting == 0:
            await self.mark_waiting(False)
            self.interval = CALM_TICK_SECONDS
            return
        step = plan(self.held, self.want, seen, self.block)
        if step.keep is not None:
            await self.give_back(step.keep, step.most)
        elif step.grow:
            await self.grow(step.grow)
        await self.mark_waiting(short(self.held, self.want, seen, self.block))
        # Quicker while someone waits or the share just moved; calm otherwise (a share
        # short of `want` grows within CALM_TICK_SECONDS of slots coming free).
        busy = seen.waiting > 0 or self.waiting is not None or self.held != before
        self.interval = TICK_SECONDS if busy else CALM_TICK_SECONDS
        if self.held != before:
            self.log.info(
                "share of %s now %d of %d slots (was %d; processes: %d, others waiting: %d)",
                self.name,
                self.held,
                seen.limit,
                before,
                seen.processes,
                seen.waiting,
            )

    async def follow(self) -> None:
        """Re-balance every second or two until cancelled; errors wait for the next look."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.rebalance()
            except Exception as exc:
                now = time.monotonic()
                if now - self._warned_at >= WAIT_LOG_SECONDS:
                    self._warned_at = now
                    self.log.warning("could not re-balance the share of %s: %s", self.name, exc)
                self.interval = TICK_SECONDS

    async def leave(self) -> None:
        """Give back every lease: the slots first, then the counters."""
        for lease in [*self.blocks, self.waiting, self.member]:
            if lease is not None:
                with contextlib.suppress(Exception):
                    await self.client.release_concurrency_slots_with_lease(lease.lease_id)
        self.blocks.clear()
        self.waiting = self.member = None


@contextlib.asynccontextmanager
async def global_throttle(models: ModelRegistry, aliases: list[str]) -> AsyncIterator[dict]:
    """Hold this process's share of each model's global limit for the block.

    Each model's limiter gets the leased slots as its budget, and follows the share as it
    grows and shrinks (its own budget is restored at the end: a registry may serve later
    runs). Yields {limit name: slots leased at the start}.
    """
    keys = sorted({models.limiter_key(alias) for alias in aliases})
    if not keys:
        yield {}
        return
    log = run_logger()
    shares: list[Share] = []
    followers: list[asyncio.Task[None]] = []
    budgets: dict[str, int] = {}
    async with get_client() as client:
        # Renewing from the start: waiting for one model's slots must not let the lease
        # already held on another model expire.
        renewer = asyncio.create_task(_renew(client, shares))
        try:
            for key in keys:
                alias = next(a for a in aliases if models.limiter_key(a) == key)
                limiter = models.limiter(alias)
                budgets[alias] = limiter.budget
                share = Share(client, limit_name(key), limiter, limiter.budget, log)
                shares.append(share)
                await share.join()
                followers.append(asyncio.create_task(share.follow()))
            yield {share.name: share.held for share in shares}
        finally:
            for task in [*followers, renewer]:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for share in shares:
                await share.leave()
            for alias, budget in budgets.items():
                models.limiter(alias).set_budget(budget)


async def _renew(client: Any, shares: list[Share]) -> None:
    while True:
        await asyncio.sleep(_RENEW_EVERY)
        for share in list(shares):
            for lease in share.leases():
                try:
                    await client.renew_concurrency_lease(
                        lease.lease_id, lease_duration=LEASE_SECONDS
                    )
                except Exception as exc:  # keep going: the next renewal may succeed
                    if lease in share.leases():  # not given back meanwhile
                        logger.warning("could not renew lease on %s: %s", lease.name, exc)


@contextlib.asynccontextmanager
async def no_throttle() -> AsyncIterator[dict]:
    """Stand-in for :func:`global_throttle` when the local limiter alone governs."""
    yield {}
