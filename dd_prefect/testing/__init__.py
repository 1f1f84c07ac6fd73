"""Test helpers for dd_prefect: a fast mock of OpenAI's chat-completions API.

Importing this package never imports Prefect. The pytest fixtures live in
``dd_prefect.testing.pytest_plugin`` (enable with ``pytest_plugins = [...]``).

The names below are loaded lazily, so importing this package stays cheap (the mock, with
Starlette and uvicorn, is imported on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dd_prefect.testing.mock_llm import (
        MockLLMConfig,
        MockLLMServer,
        in_process_client,
        mock_llm_subprocess,
        run_in_subprocess,
        serve,
        stop_subprocess,
    )

__all__ = [
    "MockLLMConfig",
    "MockLLMServer",
    "in_process_client",
    "mock_llm_subprocess",
    "run_in_subprocess",
    "serve",
    "stop_subprocess",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from dd_prefect.testing import mock_llm

        return getattr(mock_llm, name)
    raise AttributeError(f"module 'dd_prefect.testing' has no attribute {name!r}")
