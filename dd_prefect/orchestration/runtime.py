"""The runtime of a run: providers, run config, retry policy, models, throttle, settings.

The facade (:class:`~dd_prefect.DataDesigner`) builds one; the flows take it (through
:mod:`~dd_prefect.orchestration.handoff`) and never reach back into the facade.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx2

from dd_prefect.config.builder import DataDesignerConfig
from dd_prefect.config.mcp import LocalStdioMCPProvider, MCPProvider, provider_problems
from dd_prefect.config.models import ModelConfig, ModelProvider, api_key_refusal
from dd_prefect.config.run_config import RunConfig
from dd_prefect.engine.llm import ModelRegistry, RetryPolicy
from dd_prefect.errors import ConfigIssue, ConfigValidationError
from dd_prefect.orchestration.settings import Settings
from dd_prefect.orchestration.throttle import global_throttle, no_throttle

T = TypeVar("T")


@dataclass
class Runtime:
    """Everything a run needs besides its config: where to write, which endpoints, how to
    retry and throttle, and the process's settings."""

    artifact_path: Path
    providers: list[ModelProvider] = field(default_factory=list)
    mcp_providers: list[MCPProvider | LocalStdioMCPProvider] = field(default_factory=list)
    run_config: RunConfig = field(default_factory=RunConfig)
    retry: RetryPolicy | None = None
    global_throttle: bool | None = None
    flow_retries: int = 0
    wait_for_lock: bool = False  # wait for another run of the same directory, not fail
    settings: Settings = field(default_factory=Settings)
    shard_deployment: str | None = None  # whose flow runs generate shards (None: in process)

    def __post_init__(self) -> None:
        self.artifact_path = Path(self.artifact_path)
        if self.shard_deployment is None:
            self.shard_deployment = self.settings.shard_deployment
        if self.retry is None:
            self.retry = RetryPolicy(max_retries=self.run_config.max_llm_retries)

    def check_providers(self, config: DataDesignerConfig) -> None:
        """Every model an LLM column uses resolves to a provider whose api_key names only
        what this worker allows, and so does every MCP provider of a tool config a column
        uses (else ConfigValidationError, naming provider and variable)."""
        names = {p.name for p in self.providers}
        known = ", ".join(sorted(names)) or "none"
        issues = []
        used = {getattr(c, "model_alias", None) for c in config.columns}
        serving: set[str] = set()
        for model in config.model_configs:
            if model.alias not in used:
                continue
            if model.provider is not None and model.provider in names:
                serving.add(model.provider)
            elif model.provider is None and len(names) == 1:
                serving |= names
            if model.provider is not None and model.provider not in names:
                issues.append(
                    ConfigIssue(
                        f"model '{model.alias}' names provider '{model.provider}', which is not "
                        f"among DataDesigner's model_providers ({known})",
                        field="model_configs",
                    )
                )
            elif model.provider is None and len(names) != 1:
                issues.append(
                    ConfigIssue(
                        f"model '{model.alias}' names no provider; set ModelConfig.provider "
                        f"(there are {len(names)} providers)",
                        field="model_configs",
                    )
                )
        for provider in self.providers:
            refusal = api_key_refusal(provider, self.settings.allowed_key_variables)
            if provider.name in serving and refusal is not None:
                issues.append(ConfigIssue(refusal, field="model_providers"))
        aliases = {a for c in config.columns if (a := getattr(c, "tool_alias", None))}
        for problem in provider_problems(
            config.tool_configs,
            aliases,
            self.mcp_providers,
            self.settings.allowed_key_variables,
        ):
            issues.append(ConfigIssue(problem, field="mcp_providers"))
        if issues:
            raise ConfigValidationError(issues)

    @contextlib.asynccontextmanager
    async def models(self, model_configs: list[ModelConfig]) -> AsyncIterator[ModelRegistry]:
        """A model registry for one run, closed at the end; templates rendered inside the
        block (and in the flows and tasks it starts) follow the run config's template
        limits and null rule.

        A ``mock`` provider without an endpoint talks to the bundled mock LLM app in this
        process (no socket, no thread). MCP sessions are opened on first use and closed with
        the registry.
        """
        clients: dict[str, httpx2.AsyncClient] = {}
        for provider in self.providers:
            if provider.provider_type == "mock" and not provider.endpoint:
                from dd_prefect.testing import in_process_client

                clients[provider.name] = in_process_client()
        registry = ModelRegistry(
            self.providers,
            model_configs,
            retry=self.retry,
            http_clients=clients,
            allowed_key_variables=self.settings.allowed_key_variables,
            mcp_providers=self.mcp_providers,
        )
        try:
            yield registry
        finally:
            await registry.aclose()
            for client in clients.values():
                await client.aclose()

    def remote_shards(self, shards: int) -> bool:
        """Whether a run of `shards` shards runs them on the shard deployment's workers
        (else in this process)."""
        return shards > 1 and bool(self.shard_deployment)

    def use_global_throttle(self) -> bool:
        """Whether runs lease slots from Prefect global concurrency limits: as asked, else
        ``DD_PREFECT_GLOBAL_THROTTLE``, else only with a configured Prefect API URL."""
        if self.global_throttle is not None:
            return self.global_throttle
        if self.settings.global_throttle is not None:
            return self.settings.global_throttle
        return not uses_ephemeral_server()

    def throttle(
        self, registry: ModelRegistry, aliases: list[str]
    ) -> AbstractAsyncContextManager[dict[str, int]]:
        """Lease this process's share of each model's global limit (or nothing)."""
        if self.use_global_throttle():
            return global_throttle(registry, aliases)
        return no_throttle()


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


HEARTBEAT_SECONDS = 30  # Prefect's minimum: a dead process's run is noticed soonest


@contextlib.contextmanager
def heartbeats() -> Iterator[None]:
    """Flow runs started inside heartbeat every 30 s (Prefect's default is 180), unless
    ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` is set: the automation ``dd-prefect setup``
    creates marks a run Crashed when its heartbeats stop, and must not take a live run
    for dead."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    if "PREFECT_FLOWS_HEARTBEAT_FREQUENCY" in os.environ:
        yield
        return
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: HEARTBEAT_SECONDS}):
        yield


def flow_attempt() -> int:
    """Which attempt of the current flow run this is (1 outside a flow run)."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    return ctx.flow_run.run_count if ctx is not None and ctx.flow_run is not None else 1


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


def warn(message: str) -> None:
    """A warning users must see: in the flow run's log (the UI, and Prefect's console)
    inside a flow or task run, else on the ``dd_prefect`` logger. ``dd-prefect`` prints
    both on the console by default."""
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        get_run_logger().warning(message)
    except MissingContextError:
        logging.getLogger("dd_prefect").warning(message)
