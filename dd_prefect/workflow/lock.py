"""One run at a time per dataset or workflow directory.

A run holds an exclusive OS lock (``filelock``: ``flock`` on Linux) on
``<artifact_path>/.<name>.lock`` for as long as it may write ``<artifact_path>/<name>/``,
and records who holds it beside it (``.<name>.lock.json``: host, pid, start time). The
kernel drops the lock when its holder dies, however it died; the record it leaves behind
is how the next run knows it took over from a dead run (and says so).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import filelock

from dd_prefect.config.io import atomic_write_text
from dd_prefect.errors import RunLockedError

logger = logging.getLogger("dd_prefect")


def lock_paths(run_dir: Path) -> tuple[Path, Path]:
    """The lock file and the holder record of a run directory (beside it, not in it: a
    fresh run may remove the directory)."""
    return (
        run_dir.parent / f".{run_dir.name}.lock",
        run_dir.parent / f".{run_dir.name}.lock.json",
    )


@contextmanager
def run_lock(run_dir: Path, *, wait: bool = False, poll: float = 1.0) -> Iterator[None]:
    """Hold `run_dir` for one run.

    Raises RunLockedError naming the holder when another run holds it, or with `wait`,
    waits until it is free (saying once what it waits for).
    """
    lock_path, info_path = lock_paths(run_dir)
    new_parent = not lock_path.parent.exists()
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(lock_path), is_singleton=False)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        holder = _describe(_read(info_path))
        if not wait:
            raise RunLockedError(
                f"{run_dir} is in use by another run ({holder}); wait for it to finish, or "
                "ask to wait (--wait in the CLI)"
            ) from None
        logger.warning("%s is in use by another run (%s); waiting for it", run_dir, holder)
        lock.acquire(poll_interval=poll)
    try:
        left = _read(info_path)
        if left is not None:  # its holder died without releasing the directory
            logger.warning(
                "%s: taking over from a run that did not finish (%s)", run_dir, _describe(left)
            )
        atomic_write_text(
            info_path,
            json.dumps(
                {"host": socket.gethostname(), "pid": os.getpid(), "started_at": time.time()}
            )
            + "\n",
        )
        try:
            yield
        finally:
            info_path.unlink(missing_ok=True)
    finally:
        lock.release()
        if new_parent and not run_dir.exists():  # the run wrote nothing: leave no trace
            lock_path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                lock_path.parent.rmdir()


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else {}


def _describe(info: dict[str, Any] | None) -> str:
    if not info:
        return "holder unknown"
    started = info.get("started_at")
    when = (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
        if isinstance(started, int | float)
        else "?"
    )
    return f"pid {info.get('pid', '?')} on {info.get('host', '?')}, started {when}"
