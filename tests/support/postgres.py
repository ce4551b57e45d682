"""A throwaway PostgreSQL server for the tests: Debian's `postgresql` package, started here.

`postgres_server` (session-scoped) runs `initdb` in a temp folder and `postgres` on a free
loopback port with a Unix socket in that folder; fsync is off (a crash loses nothing we keep).
initdb refuses to run as root, so under root (CI's containers) the server runs as the
`postgres` system user the package created (`setpriv`). A missing binary FAILS the test that
needs it: `bash .ci/install-postgresql.sh` installs it. Nothing here is faked.

Each test gets its own database, cloned from a template migrated once per session
(`CREATE DATABASE ... TEMPLATE`, a file copy: ~20 ms), dropped afterwards.
"""

from __future__ import annotations

import asyncio
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

USER = "releasebot"
TEMPLATE = "releasebot_template"
INSTALL_HINT = "run `bash .ci/install-postgresql.sh` (Debian's postgresql package)"


def postgres_bin() -> Path:
    """Return the folder of initdb/postgres (RELEASEBOT_PG_BIN, else the newest Debian one)."""
    given = os.environ.get("RELEASEBOT_PG_BIN")
    if given:
        return Path(given)
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4])
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    pytest.fail(f"PostgreSQL's initdb is not installed: {INSTALL_HINT}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """A running server: URLs for databases on it and a way to make fresh ones."""

    host: str
    port: int
    socket_dir: Path
    process: subprocess.Popen[bytes]
    names: Iterator[int] = field(default_factory=itertools.count)

    def url(self, database: str, driver: str = "asyncpg") -> str:
        """Return the SQLAlchemy URL of `database` on this server."""
        return f"postgresql+{driver}://{USER}@{self.host}:{self.port}/{database}"

    async def _admin(self, *statements: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(host=self.host, port=self.port, user=USER, database="postgres")
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    async def create_database(self, *, template: str | None = TEMPLATE) -> str:
        """Create a new database (a copy of the migrated template by default); return its name."""
        name = f"rb_test_{os.getpid()}_{next(self.names)}"
        clause = f" TEMPLATE {template}" if template else ""
        await self._admin(f"CREATE DATABASE {name}{clause}")
        return name

    async def drop_database(self, name: str) -> None:
        """Drop `name`, closing whatever still connects to it."""
        await self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _as_server_user() -> list[str]:
    """Return the command prefix that runs the server as a non-root user when we are root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail(
            "running as root and there is no 'postgres' user to run the test server as "
            f"(initdb refuses root): {INSTALL_HINT}"
        )
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


def start_server() -> PostgresServer:
    """Initialise a cluster in a temp folder and start it on a free loopback port."""
    bindir = postgres_bin()
    for tool in ("initdb", "postgres"):
        if not (bindir / tool).is_file():
            pytest.fail(f"{bindir / tool} is missing: {INSTALL_HINT}")
    root = Path(tempfile.mkdtemp(prefix="releasebot-pg-"))
    data = root / "data"
    prefix = _as_server_user()
    if prefix:
        shutil.chown(root, "postgres", "postgres")
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust",
         "--no-sync", "-E", "UTF8", "--locale=C"],
        check=True, capture_output=True,
    )  # fmt: skip
    port = _free_port()
    log = open(root / "server.log", "wb")  # noqa: SIM115  (kept open for the server's life)
    process = subprocess.Popen(
        [*prefix, str(bindir / "postgres"), "-D", str(data), "-k", str(root), "-p", str(port),
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
         "-c", "full_page_writes=off", "-c", "max_connections=200"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            pytest.fail(f"postgres exited at start: {(root / 'server.log').read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
            ready = subprocess.run(
                [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", USER],
                capture_output=True,
            )
            if ready.returncode == 0:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("postgres did not accept connections within 30 s")
        time.sleep(0.1)
    return PostgresServer("127.0.0.1", port, root, process)


def stop_server(server: PostgresServer) -> None:
    """Stop the server (fast shutdown) and remove its folder."""
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    shutil.rmtree(server.socket_dir, ignore_errors=True)


async def _migrate_template(server: PostgresServer) -> None:
    from bot.store import migrate
    from bot.store.db import make_engine

    await server._admin(f"CREATE DATABASE {TEMPLATE}")
    engine = make_engine(server.url(TEMPLATE))
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Start one PostgreSQL server for the session, with a migrated template database."""
    server = start_server()
    try:
        # In a thread: this may be set up from inside a test's running event loop.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _migrate_template(server)).result()
        yield server
    finally:
        stop_server(server)
