"""A fast, deterministic mock of OpenAI's chat-completions, embeddings and images HTTP API.

Used by tests, benchmarks and the demo ("dry-run" provider), always through the real
``openai`` client. Answers are derived from the request (never random); faults (429s, 500s,
broken JSON, latency, an in-flight cap) are driven by runtime knobs and a seeded RNG, so runs
are reproducible.

The app is Starlette (:class:`MockLLMApp`), served by uvicorn or called in-process:

- :class:`MockLLMServer` -- uvicorn in a background thread (``server.url`` is the base_url);
- :func:`serve` -- uvicorn inside the running event loop;
- :func:`run_in_subprocess` / :func:`mock_llm_subprocess` -- the CLI in a child process
  (``dd-prefect mock-llm``, ``python -m dd_prefect.testing.mock_llm``);
- :func:`in_process_client` -- an ``httpx2.AsyncClient`` over ``httpx2.ASGITransport``: no
  socket, no thread.

Modules: ``config`` (knobs), ``instances`` / ``answers`` / ``media`` (deterministic content:
text, JSON, embeddings, images, reasoning), ``state``
(counters and chat handling), ``app`` (routes), ``server`` (uvicorn), ``cli``. Nothing here
imports Prefect or the rest of ``dd_prefect``.
"""

from __future__ import annotations

from .answers import build_answer, build_instance
from .app import IN_PROCESS_BASE_URL, MockLLMApp, in_process_client
from .cli import main, mock_llm_subprocess, run_in_subprocess, stop_subprocess
from .config import DEFAULT_MODEL, MockLLMConfig
from .server import MockLLMServer, serve
from .state import MockLLMState

__all__ = [
    "DEFAULT_MODEL",
    "IN_PROCESS_BASE_URL",
    "MockLLMApp",
    "MockLLMConfig",
    "MockLLMServer",
    "MockLLMState",
    "build_answer",
    "build_instance",
    "in_process_client",
    "main",
    "mock_llm_subprocess",
    "run_in_subprocess",
    "serve",
    "stop_subprocess",
]
