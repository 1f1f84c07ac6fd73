"""Prefect's ephemeral server never outlives the ``dd-prefect`` process that started it.

With no PREFECT_API_URL, Prefect starts a temporary API server (``uvicorn ...
prefect.server.api.server:create_app``) as a child of the CLI and stops it at interpreter
exit. A CLI killed with SIGKILL, or with SIGTERM (what ``timeout`` sends), never gets to
that exit: the server used to stay up for good, reparented to init, ~200 MB each.

Each run here has its own PREFECT_HOME, which is also how its server is told apart from
any other on the machine (it inherits the CLI's environment).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.processes import descendants

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "deployments" / "demo.yaml"
SERVER_MODULE = b"prefect.server.api.server"
# How long a server may take to go once its CLI is gone.
GONE_WITHIN = 10.0


def cli_env(prefect_home: Path) -> dict[str, str]:
    """This environment without any Prefect setting (ephemeral mode), its own PREFECT_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(prefect_home)
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return env


def servers_of(prefect_home: Path) -> list[int]:
    """Live Prefect API server processes whose environment holds this PREFECT_HOME."""
    marker = f"PREFECT_HOME={prefect_home}".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if SERVER_MODULE not in (proc / "cmdline").read_bytes():
                continue
            if marker in (proc / "environ").read_bytes().split(b"\0") and alive(int(proc.name)):
                found.append(int(proc.name))
    return found


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie nobody reaped yet has exited: it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_for(predicate, timeout: float, interval: float = 0.1) -> float | None:
    """Seconds until `predicate()` held (None if it did not within `timeout`)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(interval)
    return None


def slow_spec(path: Path, mock_url: str) -> Path:
    """A dataset spec that keeps the CLI busy for a while: 40 requests of 0.5 s, two at a time."""
    data = {
        "name": "slow-dataset",
        "num_records": 20,
        "model_providers": [{"name": "mock", "endpoint": mock_url}],
        "run_config": {"buffer_size": 5, "seed": 1},
        "config": {
            "model_configs": [
                {
                    "alias": "slow",
                    "model": "mock-model",
                    "provider": "mock",
                    "inference_parameters": {"max_parallel_requests": 2},
                }
            ],
            "columns": [
                {
                    "name": "topic",
                    "column_type": "sampler",
                    "sampler_type": "category",
                    "params": {"values": ["tea", "coffee"]},
                },
                {
                    "name": "question",
                    "column_type": "llm-text",
                    "model_alias": "slow",
                    "prompt": "Ask about {{ topic }}",
                },
                {
                    "name": "answer",
                    "column_type": "llm-text",
                    "model_alias": "slow",
                    "prompt": "Answer: {{ question }}",
                },
            ],
        },
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def start_cli(spec: Path, tmp_path: Path, prefect_home: Path) -> subprocess.Popen[bytes]:
    """``dd-prefect run SPEC`` in ephemeral mode, its output to ``tmp_path/cli.out``.

    A file, not a pipe: a server left behind would hold a pipe open for good.
    """
    script = Path(sys.executable).with_name("dd-prefect")
    assert script.exists(), script
    with (tmp_path / "cli.out").open("wb") as out:
        return subprocess.Popen(
            [str(script), "run", str(spec), "--artifact-path", str(tmp_path / "art")],
            env=cli_env(prefect_home),
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture
def prefect_home(tmp_path: Path) -> Iterator[Path]:
    """A fresh PREFECT_HOME; whatever server still runs with it at the end is killed."""
    home = tmp_path / "prefect-home"
    yield home
    for pid in servers_of(home):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_cli_takes_its_server_with_it(mock_llm_factory, tmp_path, prefect_home, sig):
    mock = mock_llm_factory(latency=0.5)
    proc = start_cli(slow_spec(tmp_path / "slow.yaml", mock.url), tmp_path, prefect_home)
    try:
        # Mid-run: the server is up and the first LLM requests were made.
        started = wait_for(lambda: mock.stats()["requests"] >= 2 or proc.poll() is not None, 120)
        assert started is not None and proc.poll() is None, (tmp_path / "cli.out").read_text()
        servers = servers_of(prefect_home)
        assert len(servers) == 1, servers
        assert servers[0] in descendants(proc.pid)  # the one this CLI started

        proc.send_signal(sig)
        proc.wait(timeout=30)
        gone = wait_for(lambda: not alive(servers[0]), GONE_WITHIN)
        assert gone is not None, f"server {servers[0]} still runs {GONE_WITHIN}s after the CLI"
        assert servers_of(prefect_home) == []
    finally:
        stop(proc)
    if sig == signal.SIGTERM:  # a CLI that could still say something says one line
        output = (tmp_path / "cli.out").read_text()
        assert proc.returncode == 143, output
        assert "dd-prefect: error: terminated" in output.splitlines(), output
        assert "Traceback" not in output, output


def test_a_finished_run_stops_its_server_cleanly(tmp_path, prefect_home):
    proc = start_cli(DEMO, tmp_path, prefect_home)
    try:
        seen = wait_for(lambda: servers_of(prefect_home) or proc.poll() is not None, 120)
        assert seen is not None
        servers = servers_of(prefect_home)
        proc.wait(timeout=300)
    finally:
        stop(proc)
    output = (tmp_path / "cli.out").read_text()
    assert proc.returncode == 0, output
    assert "Traceback" not in output and "CancelledError" not in output, output
    assert len(servers) == 1, servers
    assert wait_for(lambda: not alive(servers[0]), 5) is not None
    assert servers_of(prefect_home) == []


# The watchdog on its own: a parent that starts a watched child, then dies at once.
WATCHED_CHILD = """
import os, signal, sys, time
from dd_prefect.orchestration.ephemeral import watch_parent
if sys.argv[1] == "deaf":  # a server whose graceful shutdown hangs
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
watch_parent(int(sys.argv[2]), interval=0.1, grace=1.0)
print("watching", flush=True)
time.sleep(60)
"""
PARENT = """
import os, subprocess, sys
child = subprocess.Popen(
    [sys.executable, "-c", sys.argv[1], sys.argv[2], str(os.getpid())],
    stdout=subprocess.PIPE,
    stderr=subprocess.DEVNULL,  # not this process's: the test waits for that pipe's end
)
assert child.stdout.readline() == b"watching\\n"
print(child.pid, flush=True)
os._exit(0)
"""


@pytest.mark.parametrize("child", ["plain", "deaf"])
def test_the_watchdog_stops_a_child_whose_parent_died(child):
    parent = subprocess.run(
        [sys.executable, "-c", PARENT, WATCHED_CHILD, child],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert parent.returncode == 0, parent.stderr
    pid = int(parent.stdout)
    try:
        assert wait_for(lambda: not alive(pid), 5) is not None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
