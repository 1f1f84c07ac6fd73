"""A Prefect set-up for shards on workers: PostgreSQL, `prefect server start` on it, the
shard deployment and process workers (tests/integration/test_shard_workers.py and
benchmarks/shards.py).

Every worker runs in a mount namespace of its own (``unshare -m``, root) where the
directory `blind` is an empty tmpfs: a worker that does not see that part of the
artifact path.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.integration.processes import stop_tree
from tests.postgres import PostgresServer
from tests.prefect_server import PrefectServer

ROOT = Path(__file__).resolve().parents[1]
POOL = "dd-prefect-pool"
DEPLOYMENT = "dd-prefect-shard/default"


class ShardCluster:
    """PostgreSQL, a Prefect server on it, this repo's shard deployment (`prefect deploy`
    of prefect.yaml's ``dd-prefect-shard/default``) and `workers` process workers."""

    def __init__(self, home: Path, workers: int = 2, limit: int = 2) -> None:
        self.home, self.count, self.limit = home, workers, limit
        self.database = PostgresServer(home / "postgres")
        (home / "prefect").mkdir()
        self.server = PrefectServer(home / "prefect", database_url=self.database.url)
        self.blind = home / "blind"  # an empty tmpfs for the workers
        self.workers: list[subprocess.Popen] = []

    def start(self) -> ShardCluster:
        self.database.start()
        self.server.start()
        self.blind.mkdir(parents=True, exist_ok=True)
        self.prefect("work-pool", "create", POOL, "--type", "process")
        out = self.prefect("--no-prompt", "deploy", "--name", "default")
        assert "successfully created" in out, out
        for k in range(self.count):
            self.start_worker(k)
        return self

    def start_worker(self, k: int) -> subprocess.Popen:
        """A process worker taking at most `limit` flow runs at once (so every worker gets
        shards), in a mount namespace where `blind` is an empty tmpfs."""
        command = [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL]
        command += ["--limit", str(self.limit), "--name", f"worker-{k}"]
        mount = 'mount -t tmpfs tmpfs "$0" && exec "$@"'
        isolated = ["unshare", "-m", "--propagation", "private", "sh", "-c", mount]
        worker = subprocess.Popen(
            [*isolated, str(self.blind), *command],
            env=self.server.worker_env,
            cwd=ROOT,
            stdout=open(self.home / f"worker-{k}.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers.append(worker)
        return worker

    def prefect(self, *args: str) -> str:
        return self.server.cli(*args, cwd=ROOT)

    def stop(self) -> None:
        for worker in self.workers:
            stop_tree(worker)
        self.server.stop()
        self.database.stop()

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(self.home.glob("worker-*.log"))
        )
