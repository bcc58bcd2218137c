"""A throwaway PostgreSQL server for the suite: initdb + pg_ctl as the `postgres` user."""

from __future__ import annotations

import functools
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def _bin_dir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


@dataclass
class PostgresServer:
    data_dir: Path
    port: int
    bin_dir: Path

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database; a copy of `template` (file by file: nothing else may be connected
        to it) when given."""
        import psycopg

        copy = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{copy}')
        return self.url(name)

    @functools.cached_property
    def migrated(self) -> str:
        """The name of a database with today's tables, made once for the server, to copy."""
        from partner_console.storage import make_engine, migrate

        engine = make_engine(self.create_database("migrated_template"))
        migrate(engine)
        engine.dispose()
        return "migrated_template"

    def stop(self) -> None:
        subprocess.run(_as_postgres([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir),
                                     "-m", "immediate", "stop"]), capture_output=True)
        if not os.environ.get("KEEP_PG"):
            # A database per test, a thousand files each: removed by a process of its own (8
            # CPU-seconds over four workers), so that the run's end does not wait for it.
            subprocess.Popen(["rm", "-rf", str(self.data_dir.parent)],  # noqa: S607
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)


def start_postgres() -> PostgresServer:
    """Start a server on a free loopback port; raises RuntimeError saying why it could not."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL binaries (initdb) were not found")
    root = Path(tempfile.mkdtemp(prefix="pc-pg-"))
    data_dir = root / "data"
    data_dir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(data_dir, "postgres")
        os.chmod(root, 0o755)  # noqa: S103  (the postgres user must reach its data folder)
    subprocess.run(_as_postgres([str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres",
                                 "--auth=trust", "-E", "UTF8", "--no-sync"]),
                   check=True, capture_output=True)
    port = _free_port()
    options = (f"-p {port} -k {data_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
    subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-o", options,
                                 "-l", str(data_dir / "server.log"), "-w", "start"]),
                   check=True, capture_output=True)
    return PostgresServer(data_dir, port, bin_dir)
