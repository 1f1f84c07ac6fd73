"""A real `prefect server start` on a loopback port, for integration and end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrefectServer:
    """`prefect server start` with its own PREFECT_HOME; `env` points clients at it.

    `server_env` adds to (or overrides) the server process's environment only, e.g.
    ``{"PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1"}``. `database_url` (e.g.
    `tests.postgres.PostgresServer.url`) replaces the server's SQLite database; the server
    migrates it on start, before its health check answers.
    """

    def __init__(
        self,
        home: Path,
        server_env: dict[str, str] | None = None,
        database_url: str | None = None,
    ) -> None:
        self.home = home
        self.server_env = dict(server_env or {})
        if database_url is not None:
            self.server_env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
        self.port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.storage = home / "storage"
        self.proc: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        """Environment for processes that should use this server and its result storage."""
        return {
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_LOCAL_STORAGE_PATH": str(self.storage),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }

    @property
    def worker_env(self) -> dict[str, str]:
        """Environment of a `prefect` command or worker against this server: workers poll
        every second and log at INFO (their log explains a failing test)."""
        return {
            **os.environ,
            **self.env,
            "PREFECT_LOGGING_LEVEL": "INFO",
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "PREFECT_WORKER_PREFETCH_SECONDS": "1",
            "COLUMNS": "200",
        }

    def cli(self, *args: str, cwd: Path, timeout: float = 120) -> str:
        """Run ``prefect *args`` against this server in `cwd`; its stdout (the test fails
        with its output when it does)."""
        done = subprocess.run(
            [sys.executable, "-m", "prefect", *args],
            env=self.worker_env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise AssertionError(f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    @contextlib.contextmanager
    def client_settings(self) -> Iterator[None]:
        """Point this process's Prefect settings (API URL, result storage, a quiet log) at
        this server while inside."""
        from prefect.settings import (
            PREFECT_API_URL,
            PREFECT_LOCAL_STORAGE_PATH,
            PREFECT_LOGGING_LEVEL,
            temporary_settings,
        )

        with temporary_settings(
            updates={
                PREFECT_API_URL: self.api_url,
                PREFECT_LOCAL_STORAGE_PATH: str(self.storage),
                PREFECT_LOGGING_LEVEL: "WARNING",
            }
        ):
            yield

    def start(self, timeout: float = 90.0) -> PrefectServer:
        env = {
            **os.environ,
            **self.env,
            # Expired concurrency leases are repossessed within a second of expiring.
            "PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS": "1",
            **self.server_env,
        }
        env.pop("PREFECT_API_URL")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=env,
            stdout=open(self.home / "server.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    "prefect server exited early:\n" + (self.home / "server.log").read_text()
                )
            try:
                if httpx.get(f"{self.api_url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("prefect server did not become healthy in time")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
