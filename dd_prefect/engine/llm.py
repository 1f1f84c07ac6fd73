"""LLM calls: one AsyncOpenAI client per provider, and the per-model limiters and handles.

API keys are resolved when a client is first needed, from the environment variable the
provider names (only one the worker allows: a config may come from anyone) or through a
registered resolver for ``secret:<block>`` names (the orchestration layer registers one
that reads Prefect Secret blocks). Keys are held only by the client object; they are never
logged or stored.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

import httpx2
import openai

from dd_prefect.config.mcp import LocalStdioMCPProvider, MCPProvider
from dd_prefect.config.models import KeyedProvider, ModelConfig, ModelProvider, api_key_refusal
from dd_prefect.engine.http_clients import pooled_client
from dd_prefect.engine.model_handle import (
    USAGE_COUNTERS,
    LLMUsage,
    ModelHandle,
    RetryPolicy,
    failure_kind,
)
from dd_prefect.engine.throttle import AIMDLimiter
from dd_prefect.engine.tools import ToolRegistry
from dd_prefect.errors import GenerationError

__all__ = [
    "USAGE_COUNTERS",
    "LLMUsage",
    "ModelHandle",
    "ModelRegistry",
    "RetryPolicy",
    "failure_kind",
    "register_secret_resolver",
    "resolve_api_key",
]

SecretResolver = Callable[[str], str]
_secret_resolvers: list[SecretResolver] = []


def register_secret_resolver(resolver: SecretResolver) -> None:
    """Register a callable mapping a block name (``secret:<name>``) to the secret's value."""
    if resolver not in _secret_resolvers:
        _secret_resolvers.append(resolver)


def resolve_api_key(
    provider: KeyedProvider, allowed_key_variables: Sequence[str] = ()
) -> str | None:
    """The provider's key, looked up now; GenerationError if its source is missing or is an
    environment variable the worker does not allow (see
    :func:`~dd_prefect.config.models.key_variable_allowed`; `allowed_key_variables` are the
    worker's extra patterns).

    Messages name the provider and the variable or block, never the key.
    """
    ref = provider.api_key
    if ref is None:
        return None
    refusal = api_key_refusal(provider, allowed_key_variables)
    if refusal is not None:
        raise GenerationError(refusal)
    if ref.startswith("secret:"):
        block = ref.removeprefix("secret:")
        if not _secret_resolvers:
            raise GenerationError(
                f"provider '{provider.name}': api_key names Prefect Secret block '{block}', "
                "but no secret resolver is registered (run through dd_prefect's Prefect flows)"
            )
        errors = []
        for resolver in _secret_resolvers:
            try:
                return resolver(block)
            except Exception as exc:  # the message names the block, never holds its value
                errors.append(f"{type(exc).__name__}: {exc}")
        raise GenerationError(
            f"provider '{provider.name}': could not load Prefect Secret block '{block}' "
            f"({', '.join(errors)})"
        )
    value = os.environ.get(ref)
    if not value:
        raise GenerationError(
            f"provider '{provider.name}': environment variable {ref} (its api_key) is not set"
        )
    return value


class ModelRegistry:
    """Clients (one per provider) and limiters (one per provider+model) for a run.

    Create it once per process and reuse it: clients keep their connection pools and
    limiters their learned windows. `limiter_key(alias)` names the global concurrency
    limit the orchestration layer leases for that model. `http_clients` maps a provider
    name to the httpx client its openai client sends through (e.g. one with an in-process
    transport); its base URL serves when the provider has no endpoint. Any other provider
    gets a client of its own over its `http_transport` (aiohttp unless it asks for httpx)
    whose pool holds as many connections as its models may have requests in flight.
    `allowed_key_variables`: the worker's glob patterns of environment variables an api_key
    may name, besides the default ones (``*_API_KEY``, ``*_TOKEN``); any other is refused
    before the provider's first request. `mcp_providers`: the MCP servers tool configs
    name; `tools` holds the run's tool configs and its MCP sessions (closed with it).
    """

    def __init__(
        self,
        providers: list[ModelProvider],
        model_configs: list[ModelConfig],
        *,
        retry: RetryPolicy | None = None,
        http_clients: Mapping[str, httpx2.AsyncClient] | None = None,
        allowed_key_variables: Sequence[str] = (),
        mcp_providers: Sequence[MCPProvider | LocalStdioMCPProvider] = (),
    ) -> None:
        self._allowed_key_variables = tuple(allowed_key_variables)
        self.tools = ToolRegistry(
            mcp_providers, lambda p: resolve_api_key(p, self._allowed_key_variables)
        )
        self._providers = {p.name: p for p in providers}
        self._models = {m.alias: m for m in model_configs}
        self._retry = retry or RetryPolicy()
        self._http_clients = dict(http_clients or {})
        self._clients: dict[str, openai.AsyncOpenAI] = {}
        self._pool_sizes: dict[str, int] = {}  # by provider, of the clients made here
        self._retired: list[openai.AsyncOpenAI] = []  # outgrown pools, closed with the rest
        self._limiters: dict[str, AIMDLimiter] = {}
        self._handles: dict[str, ModelHandle] = {}
        self.usage: dict[str, LLMUsage] = {}

    def update_models(self, model_configs: list[ModelConfig]) -> None:
        """Add model configs (by alias) from another config run with this registry."""
        for model in model_configs:
            if model.alias not in self._models or self._models[model.alias] != model:
                self._models[model.alias] = model
                self._handles.pop(model.alias, None)
        for name, size in list(self._pool_sizes.items()):
            if self._connections(self._providers[name]) > size:  # a new client, a bigger pool
                self._retired.append(self._clients.pop(name))
                del self._pool_sizes[name]
                for alias in [a for a in self._handles if self.provider_for(a).name == name]:
                    del self._handles[alias]

    def provider_for(self, alias: str) -> ModelProvider:
        """The provider serving the model `alias` (the only one, when none is named)."""
        model = self._model(alias)
        if model.provider is not None:
            if model.provider not in self._providers:
                raise GenerationError(f"model '{alias}' names unknown provider '{model.provider}'")
            return self._providers[model.provider]
        if len(self._providers) == 1:
            return next(iter(self._providers.values()))
        raise GenerationError(
            f"model '{alias}' names no provider and there are {len(self._providers)} "
            "providers; set ModelConfig.provider"
        )

    def limiter_key(self, alias: str) -> str:
        """``<provider>/<model>``: the identity of a model's throttle, in every process."""
        return f"{self.provider_for(alias).name}/{self._model(alias).model}"

    def limiter(self, alias: str) -> AIMDLimiter:
        """The limiter shared by every alias that points at the same provider+model."""
        key = self.limiter_key(alias)
        budget = self._model(alias).inference_parameters.max_parallel_requests
        if key not in self._limiters:
            self._limiters[key] = AIMDLimiter(budget, name=key)
        return self._limiters[key]

    def handle(self, alias: str) -> ModelHandle:
        """The callable handle for model `alias` (clients are created on first use)."""
        if alias not in self._handles:
            provider = self.provider_for(alias)
            key = self.limiter_key(alias)
            usage = self.usage.setdefault(key, LLMUsage())
            self._handles[alias] = ModelHandle(
                self._model(alias),
                self._client(provider),
                self.limiter(alias),
                self._retry,
                usage,
                provider,
            )
        return self._handles[alias]

    def limiters(self) -> dict[str, AIMDLimiter]:
        """Every limiter created so far, by ``provider/model``."""
        return dict(self._limiters)

    async def __aenter__(self) -> ModelRegistry:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every client's connection pool and every MCP session.

        Always close a registry when done (or use ``async with``): an unclosed client that
        is garbage-collected later can break live connections of other clients.
        """
        await self.tools.aclose()
        for client in [*self._clients.values(), *self._retired]:
            await client.close()
        self._clients.clear()
        self._retired.clear()
        self._pool_sizes.clear()
        self._handles.clear()

    def _model(self, alias: str) -> ModelConfig:
        if alias not in self._models:
            raise GenerationError(f"unknown model alias '{alias}'")
        return self._models[alias]

    def _client(self, provider: ModelProvider) -> openai.AsyncOpenAI:
        if provider.name not in self._clients:
            http_client = self._http_clients.get(provider.name)
            endpoint = provider.endpoint or (str(http_client.base_url) if http_client else None)
            if not endpoint:
                raise GenerationError(f"provider '{provider.name}' has no endpoint")
            if http_client is None:
                size = self._connections(provider)
                http_client = pooled_client(provider.http_transport, size)
                self._pool_sizes[provider.name] = size
            self._clients[provider.name] = openai.AsyncOpenAI(
                base_url=endpoint,
                api_key=resolve_api_key(provider, self._allowed_key_variables) or "not-needed",
                max_retries=0,  # retries are ours (tenacity), under the limiter
                timeout=openai.Timeout(120.0, connect=10.0),
                http_client=http_client,
            )
        return self._clients[provider.name]

    def _connections(self, provider: ModelProvider) -> int:
        """The sum of `max_parallel_requests` over the models `provider` serves (for a model
        under several aliases, the largest of theirs)."""
        budgets: dict[str, int] = {}
        for model in self._models.values():
            served = model.provider == provider.name or (
                model.provider is None and len(self._providers) == 1
            )
            if served:
                budget = model.inference_parameters.max_parallel_requests
                budgets[model.model] = max(budget, budgets.get(model.model, 0))
        return max(1, sum(budgets.values()))
