"""Abuse benchmark: the API under 32 good clients, alone and with 8 clients pouring in wrong API keys.

A bounded load test on loopback only (issue 20, item 2). `churnml serve` (the serving benchmark's world and
model, `--workers` processes) is loaded by `wrk` with 32 keep-alive connections sending one account per
`POST /v1/score` with a valid key; in the abuse phases a second `wrk` runs at the same time with 8 connections,
each request carrying a different wrong `X-API-Key` (`ROTATE_KEY` in `benchmarks/wrk/post_bodies.lua`), as
fast as the server answers. Phases alternate (baseline, abuse) `--rounds` times. Answers are counted by HTTP
status, so the run shows that the wrong keys get 401 then 429 (with `Retry-After`, from `serving/limits.py`)
and that nobody gets a 5xx. Target: the good clients' p95 under abuse within 2x of the baseline phases' p95.

Writes the "Abuse" section of docs/benchmarks.md and prints a JSON summary on its last line (read by
`benchmarks/reliability.py`).

    .venv/bin/python -m benchmarks.abuse [--seconds 10] [--rounds 2] [--workers 2] [--reuse]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.serving import KEY, _free_port, _start, _wait_ready, build, wrk

#: The wrong keys' prefix; each request appends its own counter, so no two are alike.
WRONG = "not-a-key-of-this-server"
GOOD_CLIENTS, BAD_CLIENTS = 32, 8


def _world(root: Path, reuse: bool) -> Path:
    """The serving benchmark's world under `root` (built unless `reuse` finds one); returns bodies' file."""
    bodies_file = root / "bodies.json"
    if not (reuse and bodies_file.exists()):
        _, bodies = build(root)
        bodies_file.write_text(json.dumps(bodies))
    lines = root / "bodies.lines"
    lines.write_text("".join(json.dumps(b) + "\n" for b in json.loads(bodies_file.read_text())))
    return lines


def _phase(url: str, lines: Path, seconds: float, abuse: bool) -> dict[str, Any]:
    """One phase: the good clients' wrk result, with the wrong-key clients' result under "abuse" if any."""
    bad: subprocess.Popen | None = None
    if abuse:
        env = {**os.environ, "BODIES": str(lines), "API_KEY": WRONG, "TARGET_PATH": "/v1/score",
               "ROTATE_KEY": "1", "COUNT_STATUS": "1"}
        lua = Path(__file__).parent / "wrk" / "post_bodies.lua"
        bad = subprocess.Popen(["wrk", "-t", "1", "-c", str(BAD_CLIENTS), "-d", f"{seconds + 1:g}s", "--timeout",
                                "10s", "-s", str(lua), url], env=env, stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)  # the flood is under way before the good clients start, and lasts past their end
    good = wrk(url, lines, GOOD_CLIENTS, seconds, key=KEY, extra_env={"COUNT_STATUS": "1"})
    if bad is not None:
        out, _ = bad.communicate()
        if bad.returncode != 0:
            raise RuntimeError(f"wrk (wrong keys) failed (exit {bad.returncode}): {out[-500:]}")
        b = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
        b["rps"] = b["requests"] / (b["duration_us"] / 1e6)
        good["abuse"] = b
    print(json.dumps(good), file=sys.stderr)
    return good


def _count(statuses: dict[str, int], lo: int, hi: int) -> int:
    return sum(n for s, n in statuses.items() if s.isdigit() and lo <= int(s) < hi)


def _row(label: str, r: dict[str, Any]) -> str:
    st = r["statuses"]
    line = (f"| {label} | {r['requests']:,} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {_count(st, 200, 300):,} | {_count(st, 500, 600)} | {r['errors']} |")
    if "abuse" in r:
        b = r["abuse"]["statuses"]
        line += (f" {r['abuse']['requests']:,} ({r['abuse']['rps']:.0f}/s): 401 × {b.get('401', 0):,}, "
                 f"429 × {b.get('429', 0):,}, 5xx × {_count(b, 500, 600)} |")
    else:
        line += " — |"
    return line


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--root", type=Path, default=Path("work/bench/serving"))
    ap.add_argument("--reuse", action="store_true", help="Reuse the serving benchmark's world under --root.")
    ap.add_argument("--no-doc", action="store_true", help="Print the results only; leave docs/benchmarks.md.")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk; .ci/system-deps.sh does it)")
    from benchmarks.report import machine, update_section

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    lines = _world(args.root, args.reuse)
    config = args.root / "serve.yaml"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    server = _start([sys.executable, "-c", "from churnml.cli.app import app; app()", "serve", "--config",
                     str(config), "--port", str(port), "--workers", str(args.workers), "--log-level", "warning"],
                    env)
    phases: dict[str, list[dict[str, Any]]] = {"baseline": [], "abuse": []}
    try:
        _wait_ready(url, "/readyz")
        wrk(url, lines, 8, 3)  # warm-up: every worker verifies (and caches) the good key before any abuse
        for _ in range(args.rounds):
            for name in phases:
                phases[name].append(_phase(url, lines, args.seconds, abuse=name == "abuse"))
    finally:
        server.terminate()
        server.wait(timeout=60)

    base_p95 = float(np.mean([r["p95_ms"] for r in phases["baseline"]]))
    abuse_p95 = float(np.mean([r["p95_ms"] for r in phases["abuse"]]))
    ratio = abuse_p95 / base_p95
    all_runs = [r for rs in phases.values() for r in rs]
    five = sum(_count(r["statuses"], 500, 600) for r in all_runs)
    five += sum(_count(r["abuse"]["statuses"], 500, 600) for r in phases["abuse"])
    good_failed = sum(r["errors"] + r["requests"] - _count(r["statuses"], 200, 300) for r in all_runs)
    bad = {s: sum(r["abuse"]["statuses"].get(s, 0) for r in phases["abuse"]) for s in ("401", "429")}
    met = ratio <= 2 and five == 0 and good_failed == 0
    rows = [_row(f"{name} (round {i + 1})", r) for i in range(args.rounds) for name, rs in phases.items()
            for r in [rs[i]]]
    body = f"""Command: `.venv/bin/python -m benchmarks.abuse --seconds {args.seconds:g} --rounds {args.rounds}
--workers {args.workers}` (measured {dt.date.today()}, {machine()}; loopback only; the machine is shared, so read
the ratio of phases run alternately in the same run).

`churnml serve` ({args.workers} worker processes, the serving benchmark's model and bodies) under {GOOD_CLIENTS}
keep-alive `wrk` connections with a valid key, alone (baseline) and with {BAD_CLIENTS} more connections sending a
different wrong `X-API-Key` on every request as fast as they are answered (abuse). The wrong keys' first
`serving.auth_limits.free_failures` checks cost a scrypt check each (on `check_workers` threads); then that
address gets 429 with `Retry-After` (doubling) without any check, while a key already verified is never held up.

| phase | good requests | req/s | p50 ms | p95 ms | p99 ms | good 2xx | 5xx | socket errors | wrong-key requests |
|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

- **Good clients' p95 under abuse: {ratio:.2f}× the baseline** ({abuse_p95:.0f} ms vs {base_p95:.0f} ms; target
  ≤ 2×: {"met" if ratio <= 2 else "**NOT met**"}). 5xx answers in all phases: {five}; good requests not answered
  2xx: {good_failed}. Wrong keys answered 401 × {bad["401"]:,} and 429 × {bad["429"]:,}.
"""
    print(body, file=sys.stderr)
    if not args.no_doc:
        update_section("Abuse", body)
    print(json.dumps({"p95_ratio": ratio, "baseline_p95_ms": base_p95, "abuse_p95_ms": abuse_p95,
                      "five_xx": five, "good_failed": good_failed, "wrong_401": bad["401"],
                      "wrong_429": bad["429"], "met": met, "measured": str(dt.date.today())}))
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
