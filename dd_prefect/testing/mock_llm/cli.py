"""The mock as a command (``dd-prefect mock-llm``, ``python -m dd_prefect.testing.mock_llm``)
and as a child process (:func:`run_in_subprocess`, :func:`mock_llm_subprocess`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .app import MockLLMApp
from .config import MockLLMConfig
from .server import new_event_loop, serve

__all__ = ["main", "mock_llm_subprocess", "run_in_subprocess", "stop_subprocess"]

_LISTEN_RE = re.compile(r"mock LLM listening on (http://\S+)")
_PACKAGE = __package__ or "dd_prefect.testing.mock_llm"
# The directory that holds the top-level package, for the child's PYTHONPATH.
_IMPORT_ROOT = Path(__file__).resolve().parents[_PACKAGE.count(".") + 1]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {_PACKAGE}",
        description="Mock OpenAI chat-completions server (deterministic answers, fault knobs).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    defaults = MockLLMConfig()
    for field in dataclasses.fields(MockLLMConfig):
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            default=getattr(defaults, field.name),
            metavar="VALUE",
            help=f"default: {getattr(defaults, field.name)}",
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: serve until SIGINT/SIGTERM (exit code 0 then)."""
    args = _parser().parse_args(argv)
    try:
        config = MockLLMConfig(**{name: getattr(args, name) for name in MockLLMConfig.knob_names()})
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(_serve_cli(config, args.host, args.port))
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # e.g. the port is taken
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


def _announce(app: MockLLMApp) -> None:
    print(f"mock LLM listening on {app.url}", flush=True)


async def _serve_cli(config: MockLLMConfig, host: str, port: int) -> None:
    serving = asyncio.create_task(serve(config, host, port, ready=_announce))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, serving.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await serving  # a signal cancels it: serve() then shuts the server down cleanly


def _config_argv(config: MockLLMConfig) -> list[str]:
    argv: list[str] = []
    for name, value in config.to_dict().items():
        argv += ["--" + name.replace("_", "-"), "none" if value is None else repr(value)]
    return argv


def run_in_subprocess(
    config: MockLLMConfig | None = None,
    port: int = 0,
    host: str = "127.0.0.1",
    timeout: float = 20.0,
) -> tuple[subprocess.Popen[str], str]:
    """Start the mock CLI in a separate Python process; returns ``(process, url)``.

    Waits until ``/health`` answers. The child runs ``python -m dd_prefect.testing.mock_llm``,
    which imports neither Prefect nor the rest of ``dd_prefect``. Stop it with
    :func:`stop_subprocess` (or use :func:`mock_llm_subprocess`).
    """
    argv = [sys.executable, "-m", _PACKAGE, "--host", host, "--port", str(port)]
    argv += _config_argv(config or MockLLMConfig())
    path = os.pathsep.join(p for p in (str(_IMPORT_ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:  # keep draining stdout so the child never blocks on a full pipe
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="mock-llm-stdout", daemon=True).start()
    deadline = time.monotonic() + timeout
    url = None
    try:
        while url is None:
            remaining = deadline - time.monotonic()
            line = lines.get(timeout=max(remaining, 0.01))
            if line is None:
                raise RuntimeError(f"mock LLM process exited early (code {proc.wait()})")
            match = _LISTEN_RE.search(line)
            url = match.group(1) if match else None
        _wait_healthy(url.removesuffix("/v1"), deadline)
    except BaseException as exc:
        stop_subprocess(proc)
        if isinstance(exc, queue.Empty):
            raise TimeoutError(f"mock LLM process did not start within {timeout}s") from None
        raise
    return proc, url


def _wait_healthy(base: str, deadline: float) -> None:
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"mock LLM at {base} is not healthy") from None
            time.sleep(0.02)


def stop_subprocess(proc: subprocess.Popen[Any], timeout: float = 10.0) -> int | None:
    """SIGTERM the process started by :func:`run_in_subprocess`, kill it if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


@contextlib.contextmanager
def mock_llm_subprocess(
    config: MockLLMConfig | None = None, port: int = 0, host: str = "127.0.0.1"
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Context manager around :func:`run_in_subprocess` / :func:`stop_subprocess`."""
    proc, url = run_in_subprocess(config, port=port, host=host)
    try:
        yield proc, url
    finally:
        stop_subprocess(proc)
