"""Prefect global concurrency limits as the LLM throttle shared by every worker.

One limit per provider+model, named ``dd-prefect:<provider>:<model>``, created on first
use with ``limit = max_parallel_requests`` (an existing limit, e.g. set by an operator, is
respected). Acquiring from inside a task run costs ~2 s on Prefect's SQLite server, so a
process leases its share once per run and hands it to the engine's AIMD limiter, which
dispenses it locally. The lease is renewed in the background and released at the end; if
the process dies, a real Prefect server repossesses the slots when the lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from dd_prefect.engine.llm import ModelRegistry

LEASE_SECONDS = 60.0  # Prefect's minimum; a killed process's slots come back this soon
_RENEW_EVERY = LEASE_SECONDS / 3
logger = logging.getLogger("dd_prefect.throttle")


def limit_name(limiter_key: str) -> str:
    """The global concurrency limit's name for ``<provider>/<model>``.

    Prefect forbids ``/ % & > <`` in limit names: ``openai/meta/llama-3`` becomes
    ``dd-prefect:openai:meta_llama-3``.
    """
    provider, _, model = limiter_key.partition("/")
    clean = [re.sub(r"[/%&><\s]", "_", part) for part in (provider, model)]
    return "dd-prefect:" + ":".join(clean)


@dataclass
class Lease:
    """Slots of one global limit held by this process."""

    name: str
    slots: int
    lease_id: UUID


async def ensure_limit(client, name: str, limit: int) -> int:
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


async def lease_share(client, name: str, want: int) -> Lease:
    """Lease as many of `want` slots as are free now (at least one; waits for one).

    Asks for `want`, halving on HTTP 423 (not enough free); with one slot still refused it
    waits as long as the server's Retry-After says and asks for `want` again, so a process
    that waited gets every slot freed meanwhile, not just one.
    """
    want = max(1, want)
    slots = want
    while True:
        try:
            response = await client.increment_concurrency_slots_with_lease(
                names=[name], slots=slots, mode="concurrency", lease_duration=LEASE_SECONDS
            )
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 423:
                raise
            if slots > 1:
                slots = max(1, slots // 2)
                continue
            retry_after = float(exc.response.headers.get("Retry-After", "1") or 1)
            await asyncio.sleep(min(max(retry_after, 0.2), 5.0))
            slots = want
            continue
        return Lease(name=name, slots=slots, lease_id=UUID(response.json()["lease_id"]))


@contextlib.asynccontextmanager
async def global_throttle(models: ModelRegistry, aliases: list[str]) -> AsyncIterator[dict]:
    """Lease this process's share of each model's global limit for the block.

    Each model's limiter gets the leased slots as its budget (its own budget is restored
    at the end: a registry may serve later runs). Yields {limit name: slots}.
    """
    keys = sorted({models.limiter_key(alias) for alias in aliases})
    if not keys:
        yield {}
        return
    leases: list[Lease] = []
    budgets: dict[str, int] = {}
    async with get_client() as client:
        # Renewing from the start: waiting for one model's slots must not let the lease
        # already held on another model expire.
        renewer = asyncio.create_task(_renew(client, leases))
        try:
            for key in keys:
                alias = next(a for a in aliases if models.limiter_key(a) == key)
                limiter = models.limiter(alias)
                budgets[alias] = limiter.budget
                name = limit_name(key)
                limit = await ensure_limit(client, name, limiter.budget)
                lease = await lease_share(client, name, min(limiter.budget, limit))
                leases.append(lease)
                limiter.set_budget(lease.slots)
                logger.info("leased %d of %d slots of %s", lease.slots, limit, name)
            yield {lease.name: lease.slots for lease in leases}
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            for lease in leases:
                with contextlib.suppress(Exception):
                    await client.release_concurrency_slots_with_lease(lease.lease_id)
            for alias, budget in budgets.items():
                models.limiter(alias).set_budget(budget)


async def _renew(client, leases: list[Lease]) -> None:
    while True:
        await asyncio.sleep(_RENEW_EVERY)
        for lease in leases:
            try:
                await client.renew_concurrency_lease(lease.lease_id, lease_duration=LEASE_SECONDS)
            except Exception as exc:  # keep going: the next renewal may succeed
                logger.warning("could not renew lease on %s: %s", lease.name, exc)


@contextlib.asynccontextmanager
async def no_throttle() -> AsyncIterator[dict]:
    """Stand-in for :func:`global_throttle` when the local limiter alone governs."""
    yield {}
