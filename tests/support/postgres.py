"""A throwaway PostgreSQL server for tests and benchmarks: `initdb` + `pg_ctl` into a temp folder, on a free port.

`postgres_server` (tests) skips (with the reason) when the server binaries are absent, or when running as root
without a `postgres` user to run them as (PostgreSQL refuses to run as root); `start_postgres` raises instead.
`make test` installs the binaries when it can (`.ci/system-deps.sh`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from tests.support.system import missing


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    hits = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(hits[-1]).parent if hits else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started here (binaries absent, or root without a `postgres` user)."""


@contextmanager
def start_postgres() -> Iterator[str]:
    """Start a server; yield a URL to its `postgres` database; stop and delete it afterwards.

    Raises:
        PostgresUnavailable: with the reason, when no server can be started.
    """
    bin_dir = _bin_dir()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        raise PostgresUnavailable("PostgreSQL server binaries (initdb, pg_ctl) not found; run ./.ci/system-deps.sh")
    prefix: list[str] = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable("running as root and no 'postgres' user to run the server as") from None
        prefix = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="churnml_pg_"))
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data, log = root / "data", root / "server.log"
    port = _free_port()
    run = lambda *args: subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)  # noqa: E731
    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", "churnml", "--auth=trust", "-E", "UTF8")
        opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(log), "-w", "-t", "60", "start")
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        why = exc.stderr.decode(errors="replace")[-300:]
        raise PostgresUnavailable(f"could not start a PostgreSQL server: {why}") from None
    try:
        yield f"postgresql://churnml@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """`start_postgres` for tests: skips (with the reason) where no server can be started."""
    with ExitStack() as stack:
        try:
            url = stack.enter_context(start_postgres())
        except PostgresUnavailable as exc:
            missing(str(exc))
        yield url
