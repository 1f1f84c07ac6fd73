"""A throwaway PostgreSQL cluster on a loopback port, for a Prefect server that several
processes (server, workers, their flow runs) write to at once, which SQLite cannot take.

It runs Debian's ``postgresql`` package (``.ci/run`` installs it). ``initdb`` and
``postgres`` refuse to run as root, which tests do in CI: then they run as the package's
``postgres`` system user, in a directory of the system temp dir that user can reach
(pytest's own tmp dirs are private to root). The directory goes away in `stop`; the
server log is kept in the directory the caller gives.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.prefect_server import free_port

# Relative to "/", for Path.glob.
DEBIAN_INITDB = "usr/lib/postgresql/*/bin/initdb"
BINARIES = ("initdb", "pg_ctl", "psql")
INSTALL_HINT = "install Debian's postgresql package (.ci/run does)"
USER = "postgres"
DATABASE = "prefect"
# Durability is not wanted from a test database; Prefect's server, two workers and the flow
# runs they start each keep a connection pool.
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}
START_TIMEOUT = 60


def _version(bin_dir: Path) -> tuple[int, ...]:
    """The version in a ``/usr/lib/postgresql/<version>/bin`` path, as numbers."""
    return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name))


def bin_dir() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``psql``: that of ``initdb`` on PATH
    (symlinks followed), else Debian's highest version."""
    on_path = shutil.which("initdb")
    first = [Path(on_path).resolve().parent] if on_path else []
    debian = sorted((path.parent for path in Path("/").glob(DEBIAN_INITDB)), key=_version)
    for candidate in [*first, *reversed(debian)]:
        if all((candidate / name).exists() for name in BINARIES):
            return candidate
    return None


class PostgresServer:
    """A fresh cluster with trust authentication on 127.0.0.1 and a ``prefect`` database.

    `url` is the SQLAlchemy URL for ``PREFECT_API_DATABASE_CONNECTION_URL``; `query` runs
    SQL in that database with ``psql``.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.base: Path | None = None
        self._bin: Path | None = None

    @staticmethod
    def available() -> bool:
        """Whether PostgreSQL's server binaries are installed (not a reason to skip a test:
        `start` fails without them)."""
        return bin_dir() is not None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``prefect`` database (asyncpg driver, as Prefect wants)."""
        return f"postgresql+asyncpg://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    @property
    def _log(self) -> Path:
        assert self.base is not None
        return self.base / "postgres.log"

    def _server_command(self, name: str, *args: str) -> list[str]:
        """`name` from the binaries' directory, as the ``postgres`` user when we are root."""
        assert self._bin is not None
        command = [str(self._bin / name), *args]
        return ["runuser", "-u", USER, "--", *command] if self._as_root else command

    def _run(self, command: list[str]) -> str:
        """Run `command` in the cluster's directory; its output, or an error with the log."""
        done = subprocess.run(
            command, cwd=self.base, capture_output=True, text=True, timeout=START_TIMEOUT
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} exited with {done.returncode}:\n"
                f"{done.stdout}{done.stderr}{self._log_tail()}"
            )
        return done.stdout

    def _log_tail(self, lines: int = 40) -> str:
        if self.base is None or not self._log.exists():
            return ""
        tail = self._log.read_text(errors="replace").splitlines()[-lines:]
        return "\n--- postgres log (tail) ---\n" + "\n".join(tail)

    def start(self) -> PostgresServer:
        """Create the cluster, start it and create the ``prefect`` database."""
        self._bin = bin_dir()
        if self._bin is None:
            raise RuntimeError(
                f"PostgreSQL's {', '.join(BINARIES)} are not installed: {INSTALL_HINT}"
            )
        self.base = Path(tempfile.mkdtemp(prefix="dd-prefect-postgres-"))
        try:
            self._start()
        except BaseException as error:
            try:
                self.stop()
            except RuntimeError as stop_error:
                error.add_note(f"stopping the cluster failed too: {stop_error}")
            raise
        return self

    def _start(self) -> None:
        assert self.base is not None
        data, sockets = self.base / "data", self.base / "sockets"
        data.mkdir(mode=0o700)
        sockets.mkdir()
        self._log.touch()
        if self._as_root:
            try:
                shutil.chown(self.base, USER, USER)
            except LookupError as error:
                raise RuntimeError(f"no {USER!r} system user: {INSTALL_HINT}") from error
            for path in (data, sockets, self._log):
                shutil.chown(path, USER, USER)
            self.base.chmod(0o755)
        self._run(
            self._server_command(
                "initdb",
                f"--pgdata={data}",
                f"--username={USER}",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            )
        )
        settings = {**SETTINGS, "port": str(self.port), "unix_socket_directories": f"'{sockets}'"}
        with (data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        self._run(
            self._server_command(
                "pg_ctl",
                "start",
                f"--pgdata={data}",
                f"--log={self._log}",
                "--wait",
                f"--timeout={START_TIMEOUT}",
            )
        )
        self._psql("postgres", f"CREATE DATABASE {DATABASE}")

    def _psql(self, database: str, sql: str) -> str:
        assert self._bin is not None
        return self._run(
            [
                str(self._bin / "psql"),
                "--host=127.0.0.1",
                f"--port={self.port}",
                f"--username={USER}",
                f"--dbname={database}",
                "--no-psqlrc",
                "--tuples-only",
                "--no-align",
                "--set=ON_ERROR_STOP=1",
                f"--command={sql}",
            ]
        )

    def query(self, sql: str) -> str:
        """Run `sql` in the ``prefect`` database; psql's unaligned output without headers."""
        return self._psql(DATABASE, sql).strip()

    def stop(self) -> None:
        """Stop the server (fast shutdown), keep its log in `directory`, remove the cluster.
        Does nothing when it is not running; a failed shutdown leaves the cluster in place."""
        if self.base is None:
            return
        base, log = self.base, self._log
        if (base / "data" / "postmaster.pid").exists():
            self._run(
                self._server_command(
                    "pg_ctl", "stop", f"--pgdata={base / 'data'}", "--mode=fast", "--wait"
                )
            )
        self.base = None
        if log.exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log, self.directory / "postgres.log")
        shutil.rmtree(base)
