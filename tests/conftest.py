"""Shared test set-up: the mock LLM fixtures, quiet Prefect settings, helpers."""

from __future__ import annotations

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

pytest_plugins = ["dd_prefect.testing.pytest_plugin"]
