"""Pytest fixtures for the mock LLM server.

Enable in the root ``conftest.py`` with::

    pytest_plugins = ["dd_prefect.testing.pytest_plugin"]

Fixtures:

- ``mock_llm``: a :class:`MockLLMServer` with default knobs, started for one test.
- ``mock_llm_factory``: a callable ``factory(config=None, **knobs) -> MockLLMServer`` that
  starts servers with the given knobs; all of them are stopped at teardown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dd_prefect.testing.mock_llm import MockLLMConfig, MockLLMServer

MockLLMFactory = Callable[..., MockLLMServer]


@pytest.fixture
def mock_llm() -> Iterator[MockLLMServer]:
    """A running mock LLM server with default knobs (``mock_llm.url`` is the base_url)."""
    with MockLLMServer() as server:
        yield server


@pytest.fixture
def mock_llm_factory() -> Iterator[MockLLMFactory]:
    """Start mock LLM servers with given knobs: ``mock_llm_factory(latency=0.1, rate_429=0.5)``."""
    servers: list[MockLLMServer] = []

    def factory(config: MockLLMConfig | None = None, **knobs: Any) -> MockLLMServer:
        if config is None:
            config = MockLLMConfig(**knobs)
        elif knobs:
            config = dataclasses.replace(config, **knobs)
        server = MockLLMServer(config)
        servers.append(server)
        return server.start()

    yield factory
    for server in servers:
        server.stop()
