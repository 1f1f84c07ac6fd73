"""Engine test helpers: a model registry pointed at a mock LLM server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

import dd_prefect.config as dd
from dd_prefect.engine.generator import DatasetGenerator
from dd_prefect.engine.llm import ModelRegistry, RetryPolicy
from dd_prefect.testing import MockLLMServer


def model(alias: str = "fast", **params) -> dd.ModelConfig:
    return dd.ModelConfig(
        alias=alias,
        model="mock-model",
        provider="mock",
        inference_parameters=dd.ChatCompletionInferenceParams(**params),
    )


@pytest.fixture
async def make_generator() -> AsyncIterator[Callable[..., DatasetGenerator]]:
    """make_generator(builder, server, run_config=None) -> DatasetGenerator."""
    registries: list[ModelRegistry] = []

    def factory(
        builder: dd.DataDesignerConfigBuilder,
        server: MockLLMServer,
        run_config: dd.RunConfig | None = None,
    ) -> DatasetGenerator:
        config = builder.build()
        run_config = run_config or dd.RunConfig()
        registry = ModelRegistry(
            [dd.ModelProvider(name="mock", endpoint=server.url)],
            config.model_configs,
            retry=RetryPolicy(max_retries=run_config.max_llm_retries, initial_wait=0.01),
        )
        registries.append(registry)
        return DatasetGenerator(config, run_config, registry)

    yield factory
    for registry in registries:
        await registry.aclose()
