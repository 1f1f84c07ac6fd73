"""A provider's HTTP transport: aiohttp by default, httpx when asked, each with a pool as large
as its models' max_parallel_requests; failures, retries and their counts are the same on
both. Through the real openai client, against the mock over HTTP."""

from __future__ import annotations

import json
from types import SimpleNamespace

import aiohttp
import httpx2
import pytest

import dd_prefect.config as dd
from dd_prefect.engine.generator import DatasetGenerator
from dd_prefect.engine.llm import ModelRegistry, RetryPolicy
from dd_prefect.testing import in_process_client
from tests.engine.conftest import model
from tests.engine.test_failures import closed_port_url, llm_builder

TRANSPORTS = [None, "aiohttp", "httpx"]


def other_model(alias: str, max_parallel_requests: int) -> dd.ModelConfig:
    """A model on the same provider with another model name (a limiter of its own)."""
    return model(alias, max_parallel_requests=max_parallel_requests).model_copy(
        update={"model": "other-model"}
    )


def registry_for(url: str, transport: str | None, *models: dd.ModelConfig) -> ModelRegistry:
    provider = dd.ModelProvider(name="mock", endpoint=url, http_transport=transport)
    return ModelRegistry(
        [provider], list(models) or [model()], retry=RetryPolicy(max_retries=1, initial_wait=0.01)
    )


def pool_of(registry: ModelRegistry, alias: str = "fast") -> tuple[str, int]:
    """(library, pool size) of the HTTP client behind `alias`, after a request was sent."""
    transport = registry.handle(alias).client._client._transport
    if isinstance(transport, httpx2.AsyncHTTPTransport):
        return "httpx", transport._pool._max_connections
    session = transport._inner.client
    assert isinstance(session, aiohttp.ClientSession)
    return "aiohttp", session.connector.limit


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_transport_and_pool_size(mock_llm, transport):
    models = [
        model("a", max_parallel_requests=24),
        model("b", max_parallel_requests=40),  # same provider and model: the larger counts
        other_model("c", 8),
    ]
    async with registry_for(mock_llm.url, transport, *models) as registry:
        answer = await registry.handle("a").complete([{"role": "user", "content": "hi"}])
        assert answer.startswith("Mock answer")
        assert pool_of(registry, "a") == (transport or "aiohttp", 48)


async def test_a_model_added_later_gets_a_larger_pool(mock_llm):
    async with registry_for(mock_llm.url, None, model("a", max_parallel_requests=4)) as registry:
        await registry.handle("a").complete([{"role": "user", "content": "hi"}])
        assert pool_of(registry, "a") == ("aiohttp", 4)
        registry.update_models([model("a", max_parallel_requests=4), other_model("b", 4)])
        await registry.handle("b").complete([{"role": "user", "content": "hi"}])
        assert pool_of(registry, "a") == pool_of(registry, "b") == ("aiohttp", 8)


async def test_an_injected_client_is_kept(mock_llm):
    """The in-process mock provider keeps the ASGI client it was given (no endpoint)."""
    client = in_process_client()
    async with ModelRegistry(
        [dd.ModelProvider(name="mock", provider_type="mock")],
        [model()],
        http_clients={"mock": client},
    ) as registry:
        handle = registry.handle("fast")
        assert handle.client._client is client
        assert (await handle.complete([{"role": "user", "content": "hi"}])).startswith("Mock")


async def generate(url: str, transport: str | None, rows: int, **params):
    run = dd.RunConfig(max_llm_retries=1, disable_early_shutdown=True)
    config = llm_builder(**params).build()
    async with registry_for(url, transport, *config.model_configs) as registry:
        result = await DatasetGenerator(config, run, registry).generate(0, 0, rows)
        (limiter,) = registry.limiters().values()
        usage = registry.usage["mock/mock-model"].as_dict()
        return result, usage, limiter.stats


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_429s_and_500s_are_retried_alike(mock_llm_factory, transport):
    server = mock_llm_factory(rate_429=0.3, retry_after=0.0, fail_next_500=3, seed=7)
    result, usage, limiter = await generate(server.url, transport, 20, max_parallel_requests=4)
    stats = server.stats()["by_status"]
    assert len(result.frame) + result.dropped_rows == 20 and stats["500"] == 3
    assert stats["429"] > 0 and limiter["rate_limited"] == stats["429"]
    assert usage["requests"] == sum(stats.values())
    assert usage["retries"] == stats["429"] + stats["500"] - sum(result.errors.values())


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("knobs", "params", "kind"),
    [
        ({"rate_500": 1.0}, {}, "http_500"),
        ({"latency": 1.0}, {"timeout": 0.1}, "timeout"),
        (None, {}, "connection"),  # nothing listens
    ],
)
async def test_failures_are_counted_alike(mock_llm_factory, transport, knobs, params, kind):
    server = mock_llm_factory(**knobs) if knobs else SimpleNamespace(url=closed_port_url())
    result, usage, _ = await generate(server.url, transport, 3, max_parallel_requests=4, **params)
    assert len(result.frame) == 0 and result.dropped_rows == 3
    assert result.errors == {kind: 3}
    assert usage["requests"] == 6 and usage["failures"] == {kind: 3}


def test_an_unknown_transport_is_refused():
    with pytest.raises(ValueError, match="http_transport"):
        dd.ModelProvider(name="p", endpoint="http://x/v1", http_transport="requests")
    assert dd.ModelProvider(name="p").http_transport is None  # unset: aiohttp


async def test_a_chat_request_on_the_wire(monkeypatch):
    """What a chat completion sends (it goes through the client's ``post``, not
    ``chat.completions.create``): the bearer key, the provider's headers, the body with the
    model's and the provider's extra_body, and the model's timeout."""
    monkeypatch.setenv("WIRE_API_KEY", "sk-wire")
    seen: list[httpx2.Request] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        message = {"role": "assistant", "content": "fine"}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        return httpx2.Response(
            200,
            json={
                "id": "c1",
                "object": "chat.completion",
                "created": 0,
                "model": "m",
                "choices": [choice],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
            },
        )

    provider = dd.ModelProvider(
        name="wire",
        endpoint="http://wire.test/v1",
        api_key="WIRE_API_KEY",
        extra_headers={"X-Team": "data"},
        extra_body={"priority": "low"},
    )
    chat = dd.ModelConfig(
        alias="chat",
        model="wire-model",
        provider="wire",
        inference_parameters={"temperature": 0.5, "timeout": 7, "extra_body": {"top_k": 4}},
    )
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(answer))
    async with ModelRegistry([provider], [chat], http_clients={"wire": client}) as registry:
        handle = registry.handle("chat")
        assert await handle.complete([{"role": "user", "content": "hi"}]) == "fine"
        assert handle.usage.prompt_tokens == 3 and handle.usage.completion_tokens == 1

    (request,) = seen
    assert request.method == "POST" and str(request.url) == "http://wire.test/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-wire"
    assert request.headers["x-team"] == "data"
    assert json.loads(request.content) == {
        "model": "wire-model",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.5,
        "top_k": 4,
        "priority": "low",
    }
    assert request.extensions["timeout"]["read"] == 7
