"""Running coroutines from sync code, and facts about the Prefect server in use."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

from dd_prefect.workflow.resume import ResumeMode

T = TypeVar("T")


def effective_resume(resume: ResumeMode) -> ResumeMode:
    """The resume mode to use in the current flow run: a Prefect retry of a run (its
    run_count > 1) keeps what the failed attempt made, whatever the first one asked."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is not None and ctx.flow_run.run_count > 1 and resume is ResumeMode.NEVER:
        return ResumeMode.IF_POSSIBLE
    return resume


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, also inside a running loop (Jupyter).

    Inside a running loop the coroutine runs on a fresh loop in a worker thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def uses_ephemeral_server() -> bool:
    """True when no Prefect API URL is configured: Prefect runs a temporary local server.

    That server lives as long as this process and runs no lease-expiry service, so the
    global concurrency limits are skipped there (nothing to share it with anyway).
    """
    from prefect.settings import get_current_settings

    return not get_current_settings().api.url


@contextlib.contextmanager
def quiet_prefect_exit() -> Iterator[None]:
    """Flush Prefect's background workers before the process exits.

    With the ephemeral server, Prefect stops the server at interpreter exit while its
    event and log workers are still sending; they then print CancelledError tracebacks.
    Draining them here, while the server is still up, leaves nothing to cancel.
    """
    try:
        yield
    finally:
        drain_prefect_workers()


def drain_prefect_workers(timeout: float = 10.0) -> None:
    """Wait (up to `timeout` s each) for Prefect's event and API-log workers to send."""
    with contextlib.suppress(Exception):
        from prefect.events.worker import EventsWorker

        EventsWorker.drain_all(timeout=timeout)
    with contextlib.suppress(Exception):
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=timeout)


def env_flag(name: str) -> bool | None:
    """An on/off environment variable (1/true/yes, 0/false/no); None when unset."""
    value = os.environ.get(name)
    if value is None:
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")
