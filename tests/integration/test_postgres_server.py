"""A Prefect server on PostgreSQL runs flows: the set-up several workers share (issue 14).

SQLite serializes writers; a server that a sharded stage's workers and their flow runs
write to at once needs PostgreSQL (`tests.postgres`). The run must show up in PostgreSQL's
``flow_run`` table, which proves the server did not fall back to its SQLite file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import pytest

from tests.postgres import PostgresServer
from tests.prefect_server import PrefectServer

pytestmark = pytest.mark.e2e

# A flow with two async tasks, run in a process of its own; prints the flow run's id.
FLOW = """
import asyncio

from prefect import flow, task


@task
async def double(x: int) -> int:
    return 2 * x


@flow
async def tiny() -> int:
    first, second = await asyncio.gather(double(1), double(2))
    return first + second


state = asyncio.run(tiny(return_state=True))
assert state.is_completed() and state.result() == 6, state
print(state.state_details.flow_run_id)
"""


async def test_flow_runs_on_a_postgres_backed_server(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    home = tmp_path / "prefect-home"
    home.mkdir()
    postgres = PostgresServer(tmp_path / "postgres")
    server = PrefectServer(home, database_url=postgres.url)
    try:
        postgres.start()
        server.start()
        done = subprocess.run(
            [sys.executable, "-c", FLOW],
            env={**os.environ, **server.env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        flow_run_id = UUID(done.stdout.split()[-1])

        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            async with get_client() as client:
                flow_run = await client.read_flow_run(flow_run_id)
        assert flow_run.state is not None and flow_run.state.is_completed(), flow_run.state

        row = postgres.query(f"SELECT state_type FROM flow_run WHERE id = '{flow_run_id}'")
        assert row == "COMPLETED"
    finally:
        server.stop()
        postgres.stop()
