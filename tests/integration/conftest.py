"""Integration fixtures: one real Prefect server per session, clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.prefect_server import PrefectServer


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """`prefect server start` on loopback; this process's Prefect settings point at it."""
    server = PrefectServer(tmp_path_factory.mktemp("prefect-home")).start()
    try:
        with server.client_settings():
            yield server
            from dd_prefect.orchestration.runtime import drain_prefect_workers

            drain_prefect_workers()
    finally:
        server.stop()
