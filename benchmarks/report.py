"""Shared by the benchmarks: run a part in a child process (clean peak memory) and update docs/benchmarks.md."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Every figure here is written by a script in `benchmarks/` (the command is given with each section), measured
as a ratio against a baseline run in the same process tree on the same data, on this project's reference
machine size (2 cores, 24 GB). Re-run a script to refresh its section.
"""


def run_part(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float, dict]:
    """Run `python <args>` as a child; return (seconds, its peak RSS in MB, JSON it printed on its last line).

    The child reports its own peak RSS (`peak_rss_mb`, from getrusage), so each part's memory is measured
    alone, DuckDB's native allocations included.
    """
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], stdout=subprocess.PIPE, env={**os.environ, **(env or {})})
    out = proc.stdout
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark part failed: {' '.join(args)} (exit {proc.returncode})")
    last = out.decode().strip().splitlines()[-1]
    result = json.loads(last)
    peak_mb = float(result.get("peak_rss_mb", float("nan")))
    return seconds, peak_mb, result


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def update_section(name: str, body: str, doc: Path = DOC, header: str = HEADER) -> None:
    """Replace (or append) the section `## name` of `doc` (docs/benchmarks.md unless told; a missing file starts
    with `header`)."""
    doc.parent.mkdir(parents=True, exist_ok=True)
    text = doc.read_text() if doc.exists() else header
    block = f"<!-- {name}:start -->\n## {name}\n\n{body.strip()}\n<!-- {name}:end -->\n"
    pattern = re.compile(rf"<!-- {re.escape(name)}:start -->.*?<!-- {re.escape(name)}:end -->\n", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block
    doc.write_text(text)
