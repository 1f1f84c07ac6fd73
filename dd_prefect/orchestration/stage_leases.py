"""One lease of a model's global limit for every stage of a run that uses it at once.

Stages of a workflow that run at the same time (parallel branches) share the process's
model registry, so they share each model's one limiter; they must share its lease of the
global concurrency limit too, or two branches would ask the server for two shares and
split what one process should hold. A model's lease is taken when the first running stage
that uses it starts and given back when the last one ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from dd_prefect.engine.llm import ModelRegistry
from dd_prefect.orchestration.runtime import Runtime


@dataclass
class _Holder:
    """A task holding one model's lease until released (a lease is entered and left in
    one task, as Prefect's client needs)."""

    users: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class StageLeases:
    """The leases a run's stages hold, one per model (limiter), shared by the stages."""

    def __init__(self, runtime: Runtime, registry: ModelRegistry) -> None:
        self._runtime, self._registry = runtime, registry
        self._holders: dict[str, _Holder] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def hold(self, aliases: list[str]) -> AsyncIterator[None]:
        """Hold the lease of each model `aliases` use while the block runs."""
        by_key = {self._registry.limiter_key(a): a for a in sorted(aliases)}
        held: list[str] = []
        try:
            for key in sorted(by_key):
                await self._join(key, by_key[key])
                held.append(key)
            yield
        finally:
            for key in held:
                await self._leave(key)

    async def _join(self, key: str, alias: str) -> None:
        # One lease per model: a second stage using it waits until the first has it.
        async with self._locks.setdefault(key, asyncio.Lock()):
            holder = self._holders.get(key)
            if holder is None:
                holder = self._holders[key] = _Holder()
                holder.task = asyncio.create_task(self._hold(holder, alias), name=f"lease {key}")
            holder.users += 1
            leasing = holder.task
            assert leasing is not None
            waiter = asyncio.create_task(holder.ready.wait())
            await asyncio.wait([waiter, leasing], return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if not holder.ready.is_set():  # taking the lease failed
                holder.users -= 1
                del self._holders[key]
                await leasing  # raises its error

    async def _leave(self, key: str) -> None:
        holder = self._holders[key]
        holder.users -= 1
        if holder.users == 0:
            del self._holders[key]
            holder.release.set()
            assert holder.task is not None
            await holder.task

    async def _hold(self, holder: _Holder, alias: str) -> None:
        async with self._runtime.throttle(self._registry, [alias]):
            holder.ready.set()
            await holder.release.wait()


__all__ = ["StageLeases"]
