"""Hold a DuckDB file from another process (DuckDB locks per process, so a thread cannot stand in for it)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
print("released", flush=True)
time.sleep(60)
"""


@contextmanager
def held_by_another_process(path: Path, release_after_s: float = 60.0) -> Iterator[subprocess.Popen[str]]:
    """A child process opens `path` for writing and keeps it `release_after_s` seconds; yields the child."""
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path), str(release_after_s)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        yield child
    finally:
        child.kill()
        child.wait(timeout=10)
