"""Running coroutines together where the first failure cancels the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable


async def run_concurrently(jobs: Iterable[Awaitable[None]]) -> None:
    """Run `jobs` at once; the first to fail cancels the others and is raised as itself
    (not wrapped in an ExceptionGroup), after all of them have stopped."""
    try:
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                group.create_task(_awaited(job))
    except BaseExceptionGroup as failed:
        raise first_error(failed) from None


def first_error(exc: BaseException) -> BaseException:
    """The first leaf of nested exception groups (or `exc` itself)."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


async def _awaited(job: Awaitable[None]) -> None:
    await job
