"""Shared test set-up: the mock LLM fixtures, quiet Prefect settings, helpers."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

pytest_plugins = ["dd_prefect.testing.pytest_plugin"]


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Each test gets the environment back as it found it. The CLI's ``main()`` sets
    variables for its own process (e.g. Prefect's console handler level); a test that
    calls it in-process must not change what later tests' subprocesses inherit."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)
