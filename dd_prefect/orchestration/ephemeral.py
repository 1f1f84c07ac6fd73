"""Prefect's ephemeral API server, tied to the life of the process that started it.

With no PREFECT_API_URL, Prefect starts a temporary API server on first use
(``SubprocessASGIServer``: ``python -m uvicorn ... prefect.server.api.server:create_app``,
a child of this process) and stops it from an ``atexit`` hook. A process killed with
SIGKILL (or any other way that skips ``atexit``) never runs that hook, and the server ran
on for good, reparented to init, ~200 MB each.

:func:`tie_ephemeral_server` has Prefect start that server through this module instead:
``python -m dd_prefect.orchestration.ephemeral <the same uvicorn arguments>`` starts a
watchdog thread, then runs uvicorn exactly as Prefect would. The watchdog polls
``os.getppid()``; once the parent process is gone (the server was reparented), it sends
the server SIGTERM (uvicorn's graceful shutdown) and exits hard if that has not finished
within a few seconds. A normal exit is unchanged: Prefect's ``atexit`` hook stops it.

Why not ``prctl(PR_SET_PDEATHSIG)``: that signal follows the *thread* that forked the
child, and Prefect starts the server from whichever thread first needs the API (its event
or log worker threads, a ``run_sync`` worker thread), which may end long before the
process does; it also needs a ``preexec_fn`` (unsafe in a threaded parent) and is
Linux-only. ``getppid()`` changes only when the whole parent process is gone, on any POSIX
system, and polling it a few times a second costs nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

# The id of the process the server must not outlive, set in the server's environment.
PARENT_PID_ENV = "DD_PREFECT_EPHEMERAL_PARENT_PID"
POLL_INTERVAL = 0.2  # seconds between two looks at the parent
SHUTDOWN_GRACE = 5.0  # seconds uvicorn gets to shut down before a hard exit


def tie_ephemeral_server() -> bool:
    """Have the ephemeral server Prefect may start stop with this process, however it dies.

    Call it before anything talks to Prefect's API. Returns whether it took effect: not
    with a configured Prefect API URL (no ephemeral server) or when Prefect's ephemeral
    server was already set up (started or tied) in this process.
    """
    from dd_prefect.orchestration.runtime import uses_ephemeral_server

    if not uses_ephemeral_server():
        return False
    from prefect.server.api.server import SubprocessASGIServer

    # Prefect finds its ephemeral server as `SubprocessASGIServer()`, one instance per port
    # kept in `_instances` (None: "any free port"); its own test harness registers a server
    # there the same way. An instance of the subclass registered under None is what every
    # later `SubprocessASGIServer()` returns.
    if None in SubprocessASGIServer._instances:
        return isinstance(SubprocessASGIServer._instances[None], _tied_server_class())
    _tied_server_class()()
    return True


_TIED_CLASS: type | None = None


def _tied_server_class() -> type:
    """The ``SubprocessASGIServer`` subclass that starts the server through this module
    (built on first use: importing Prefect's server is slow)."""
    global _TIED_CLASS
    if _TIED_CLASS is not None:
        return _TIED_CLASS
    import prefect
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import get_current_settings

    class TiedASGIServer(SubprocessASGIServer):
        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            # Prefect's command (3.8.8), with this module in front of uvicorn and the
            # parent's id in the environment.
            return subprocess.Popen(
                args=[
                    sys.executable,
                    "-m",
                    __name__,
                    "--app-dir",
                    str(prefect.__module_path__.parent),
                    "--factory",
                    "prefect.server.api.server:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "error",
                    "--lifespan",
                    "on",
                ],
                env={
                    **os.environ,
                    "PREFECT_UI_ENABLED": "0",
                    "PREFECT__SERVER_EPHEMERAL": "1",
                    "PREFECT__SERVER_FINAL": "1",
                    **get_current_settings().to_environment_variables(exclude_unset=True),
                    PARENT_PID_ENV: str(os.getpid()),
                },
            )

    _TIED_CLASS = TiedASGIServer
    return TiedASGIServer


def watch_parent(
    parent: int, interval: float = POLL_INTERVAL, grace: float = SHUTDOWN_GRACE
) -> threading.Thread:
    """Stop this process once `parent` is no longer its parent: SIGTERM to itself, then a
    hard exit after `grace` seconds (runs in a daemon thread, returned started)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace)
        os._exit(1)

    thread = threading.Thread(target=watch, name="dd-prefect-parent-watch", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> None:
    """``python -m dd_prefect.orchestration.ephemeral UVICORN-ARGS``: uvicorn, watched.

    The parent is the process named in ``DD_PREFECT_EPHEMERAL_PARENT_PID`` (else the
    current parent): if it died before this line ran, the watchdog stops the server at once.
    """
    parent = int(os.environ.pop(PARENT_PID_ENV, "") or os.getppid())
    watch_parent(parent)
    from uvicorn.main import main as uvicorn_main

    # click's standalone mode: exits with uvicorn's status (3 when the port is taken,
    # which Prefect answers by trying another port).
    uvicorn_main.main(args=sys.argv[1:] if argv is None else argv, prog_name="uvicorn")


if __name__ == "__main__":
    main()
