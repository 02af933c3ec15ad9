"""A throwaway PostgreSQL server for the integration tests, started from the
Debian packages' binaries (``/usr/lib/postgresql/<major>/bin``, not on PATH).

The server runs as the ``postgres`` user when the tests run as root (initdb and
pg_ctl refuse to run as root), listens on 127.0.0.1 at a free port and on a
private unix socket, trusts local connections, and trades durability for speed.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

PG_ROOT = Path("/usr/lib/postgresql")
MISSING_MESSAGE = (
    "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: "
    "run scripts/test, which installs the Debian postgresql package"
)
SUPERUSER = "postgres"


class PgServerError(RuntimeError):
    """The test server could not be set up; the message is one line."""


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<major>/bin`` that holds initdb and pg_ctl."""
    candidates = []
    for bindir in PG_ROOT.glob("*/bin"):
        version = bindir.parent.name
        if re.fullmatch(r"\d+(\.\d+)?", version) and all(
            (bindir / tool).is_file() for tool in ("initdb", "pg_ctl")
        ):
            candidates.append((tuple(int(p) for p in version.split(".")), bindir))
    return max(candidates)[1] if candidates else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    bindir: Path
    base: Path
    port: int
    durable: bool = False
    """Keep PostgreSQL's durability defaults: a commit survives a crash. Off, the
    tests' servers trade that for speed."""
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def sockets(self) -> Path:
        return self.base / "sockets"

    @property
    def log(self) -> Path:
        return self.base / "server.log"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        """Run a server tool as the postgres user (as ourselves when not root)."""
        prefix = ["runuser", "-u", SUPERUSER, "--"] if os.geteuid() == 0 else []
        done = subprocess.run(
            [*prefix, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            output = (done.stderr or done.stdout).strip().splitlines()
            log_tail = (
                self.log.read_text(errors="replace").strip().splitlines()[-5:]
                if self.log.exists()
                else []
            )
            detail = " | ".join([*output[-3:], *log_tail])
            raise PgServerError(f"{Path(args[0]).name} {args[-1]} failed: {detail}")

    def start(self) -> None:
        """Initialise the data directory and start the server."""
        self._run(
            str(self.bindir / "initdb"),
            "--auth=trust",
            f"--username={SUPERUSER}",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
            "-D",
            str(self.data),
        )
        self.resume()

    def resume(self) -> None:
        """Start the server on its existing data directory (after `stop`)."""
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockets}"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )

    def stop(self, *, mode: str = "fast") -> None:
        """`pg_ctl stop`; mode `immediate` is a crash (sessions cut, no checkpoint)."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self, prefix: str, *, template: str | None = None) -> str:
        """A new database named ``<prefix>_<n>``; returns its DSN."""
        return self.create_named_database(f"{prefix}_{next(self._numbers)}", template=template)

    def create_named_database(self, name: str, *, template: str | None = None) -> str:
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
        with psycopg.connect(self.dsn(), autocommit=True) as admin:
            admin.execute(statement)
        return self.dsn(name)

    def create_migrated_template(self, name: str) -> str:
        """A database with every migration applied, to copy others from; its DSN."""
        from leakmesh.store.migrate import MigrationPolicy
        from leakmesh.store.postgres import PostgresDatastore

        dsn = self.create_named_database(name)

        async def migrate() -> None:
            store = await PostgresDatastore.open(dsn, policy=MigrationPolicy.DEV_AUTO_MIGRATE)
            await store.close()  # CREATE DATABASE … TEMPLATE needs it unused

        asyncio.run(migrate())
        return dsn


def start_server(*, durable: bool = False) -> PgServer:
    """Initialise and start a server in a fresh directory; `PgServerError` on failure."""
    bindir = find_bindir()
    if bindir is None:
        raise PgServerError(MISSING_MESSAGE)
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        raise PgServerError("runuser is missing: cannot run the PostgreSQL tools as postgres")
    base = Path(tempfile.mkdtemp(prefix="leakmesh-pg-"))
    server = PgServer(bindir=bindir, base=base, port=free_port(), durable=durable)
    try:
        server.sockets.mkdir()
        if os.geteuid() == 0:
            shutil.chown(base, user=SUPERUSER, group=SUPERUSER)
            shutil.chown(server.sockets, user=SUPERUSER, group=SUPERUSER)
        server.start()
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    return server


def stop_server(server: PgServer) -> None:
    try:
        server.stop()
    finally:
        shutil.rmtree(server.base, ignore_errors=True)
