"""Serving benchmark: single-account POST /v1/score with explanations through uvicorn on loopback.

The server (`churnml serve`, uvicorn, one process) and the load generator (httpx, one thread per client,
keep-alive connections) run as two separate processes. Each request scores and explains one account, rotating
through real feature rows of a simulated world. Measured: p50/p99 latency and throughput at 1 and 32
concurrent clients, with zero errors required; then a run at 32 clients during which the champion alias is
moved to another version (the server's background check swaps models) must fail no request. Writes the
"Serving" section of docs/benchmarks.md.

    .venv/bin/python -m benchmarks.serving [--seconds 20] [--root work/bench/serving] [--reuse] [--cpus 0,1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

KEY = "bench-score-key-not-secret-0123456789"
#: How often the server checks the alias. Each check is a registry query (~6 ms holding the GIL on the shared
#: machine), so a very short interval shows in the tail; 2 s still catches the mid-run swap quickly.
RELOAD_SECONDS = 2.0


# --------------------------------------------------------------------------- the world (a real model)


def build(root: Path) -> tuple[Path, list[dict[str, Any]]]:
    """Simulate, train the product model (early stopping, calibration), register it twice (v1 champion).

    Returns the config file for `churnml serve` and request bodies (one account each).
    """
    import pandas as pd

    from churnml.config import Settings
    from churnml.data.load import load_data
    from churnml.features import FEATURES
    from churnml.lifecycle.registry import ModelRegistry
    from churnml.lifecycle.run_record import RunRecord
    from churnml.lifecycle.tracking import configure, log_run
    from churnml.model.model import ChurnModel
    from churnml.simulate import simulate_world
    from churnml.training.backtest import final_layout, fit_on_fold, fold_parts
    from churnml.training.frames import build_training_frame, training_dates
    from serving.auth import hash_key

    shutil.rmtree(root, ignore_errors=True)
    data, work = root / "data", root / "work"
    simulate_world(data, accounts=600, start=dt.date(2023, 1, 1), months=24, seed=5, progress=False)
    loaded = load_data(Settings(work_dir=work), data)
    frame, _ = build_training_frame(loaded.tables, training_dates(loaded.tables, 7, 90))
    lab = frame[frame["churned"].notna()]
    parts = fold_parts(lab, final_layout(lab["as_of"], 90))  # the production fit's layout (`churnml train`)
    client = configure(work)
    registry = ModelRegistry.from_work_dir(work)
    for seed in (0, 1):
        model = fit_on_fold(ChurnModel(random_state=seed), parts, label="churned")
        run = log_run(client, RunRecord(model, frame.head(10), metrics={"roc_auc": 0.8}, run_name=f"bench{seed}"))
        version = registry.register(run.run_id)
        if seed == 0:
            registry.promote(version, "benchmark champion")
    config = root / "serve.yaml"
    config.write_text(json.dumps({
        "work_dir": str(work), "data": {"dir": str(data)},
        "serving": {"reload_seconds": RELOAD_SECONDS,
                    "api_keys": [{"name": "bench", "role": "score", "hash": hash_key(KEY)}]},
    }))
    names = {f.name for f in FEATURES}
    last = frame[frame["as_of"] == frame["as_of"].max()].drop(columns=["churned", "churn_date"]).head(200)
    bodies = []
    for row in last.to_dict("records"):
        values = {k: (None if pd.isna(v) else v if isinstance(v, str) else float(v))
                  for k, v in row.items() if k not in ("account_id", "as_of")}
        bodies.append({"accounts": [{
            "account_id": str(row["account_id"]), "as_of": str(pd.Timestamp(row["as_of"]).date()),
            "features": {k: v for k, v in values.items() if k in names},
            "attributes": {k: v for k, v in values.items() if k not in names},
        }]})
    trees = model.best_iteration_
    (root / "meta.json").write_text(json.dumps({"trees": int(trees), "features": len(model.feature_names_)}))
    return config, bodies


# --------------------------------------------------------------------------- the load generator (child process)


def load(url: str, clients: int, seconds: float, bodies_file: Path) -> dict[str, Any]:
    """`clients` threads posting back to back for `seconds`; latencies in ms, statuses, versions seen."""
    import httpx

    bodies = [json.dumps(b).encode() for b in json.loads(bodies_file.read_text())]
    lat: list[list[float]] = [[] for _ in range(clients)]
    bad: list[str] = []
    versions: dict[str, int] = {}
    lock = threading.Lock()
    start_at = time.perf_counter() + 0.2
    stop_at = start_at + seconds

    def worker(i: int) -> None:
        headers = {"X-API-Key": KEY, "content-type": "application/json"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as h:
            h.get("/healthz")  # open the connection before the clock starts
            n = i
            while time.perf_counter() < start_at:
                time.sleep(0.001)
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                try:
                    r = h.post("/v1/score", content=bodies[n % len(bodies)])
                    ok = r.status_code == 200
                    version = r.headers.get("x-model-version", "?")
                except httpx.HTTPError as exc:
                    ok, version, r = False, "?", None
                    with lock:
                        bad.append(type(exc).__name__)
                lat[i].append((time.perf_counter() - t0) * 1000)
                with lock:
                    versions[version] = versions.get(version, 0) + 1
                    if r is not None and not ok:
                        bad.append(str(r.status_code))
                n += clients

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_ms = np.concatenate([np.asarray(x) for x in lat])
    return {"clients": clients, "requests": len(all_ms), "errors": len(bad), "error_kinds": sorted(set(bad)),
            "p50_ms": float(np.percentile(all_ms, 50)), "p99_ms": float(np.percentile(all_ms, 99)),
            "mean_ms": float(all_ms.mean()), "rps": len(all_ms) / seconds, "versions": versions}


# --------------------------------------------------------------------------- orchestration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the server process has used: per request, robust to a busy machine."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _taskset(cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus] if cpus and shutil.which("taskset") else []


def _run_load(url: str, clients: int, seconds: float, bodies: Path, cpus: str | None) -> subprocess.Popen:
    return subprocess.Popen([*_taskset(cpus), sys.executable, "-m", "benchmarks.serving", "--load", url,
                             "--clients", str(clients), "--seconds", str(seconds), "--bodies", str(bodies)],
                            stdout=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen) -> dict[str, Any]:
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed (exit {proc.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def _row(label: str, r: dict[str, Any], bold: bool = False) -> str:
    p99 = f"**{r['p99_ms']:.1f}**" if bold else f"{r['p99_ms']:.1f}"
    return (f"| {label} | {r['requests']:,} | {r['errors']} | {r['p50_ms']:.1f} | {p99} | {r['mean_ms']:.1f} | "
            f"{r['rps']:.0f} |")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--root", type=Path, default=Path("work/bench/serving"))
    ap.add_argument("--cpus", default=None, help="Pin the server to these CPUs (e.g. 0,1) with taskset.")
    ap.add_argument("--load-cpus", default=None, help="Pin the load generator to these CPUs.")
    ap.add_argument("--reuse", action="store_true", help="Reuse the world under --root from a previous run.")
    ap.add_argument("--no-doc", action="store_true", help="Print the results only; leave docs/benchmarks.md.")
    ap.add_argument("--load", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--clients", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--bodies", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.load:
        print(json.dumps(load(args.load, args.clients, args.seconds, args.bodies)))
        return 0

    import httpx

    from benchmarks.report import machine, update_section

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    t0 = time.perf_counter()
    bodies_file = args.root / "bodies.json"
    if args.reuse and bodies_file.exists():
        from churnml.lifecycle.registry import ModelRegistry

        config, bodies = args.root / "serve.yaml", json.loads(bodies_file.read_text())
        cfg = json.loads(config.read_text())
        cfg["serving"]["reload_seconds"] = RELOAD_SECONDS
        config.write_text(json.dumps(cfg))
        registry = ModelRegistry.from_work_dir(args.root / "work")
        if registry.champion() != 1:
            registry.promote(1, "benchmark: start from v1")
    else:
        config, bodies = build(args.root)
        bodies_file.write_text(json.dumps(bodies))
    meta = json.loads((args.root / "meta.json").read_text())
    print(f"world built in {time.perf_counter() - t0:.0f}s", file=sys.stderr)

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    serve = [sys.executable, "-c", "from churnml.cli.app import app; app()", "serve", "--config", str(config),
             "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen([*_taskset(args.cpus), *serve],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    results: dict[str, Any] = {}
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("server did not become ready")
        _result(_run_load(url, 4, 3, bodies_file, args.load_cpus))  # warm-up
        for clients in (1, 32):
            cpu0 = _cpu_s(server.pid)
            results[str(clients)] = _result(_run_load(url, clients, args.seconds, bodies_file, args.load_cpus))
            results[str(clients)]["server_cpu_ms"] = (_cpu_s(server.pid) - cpu0) * 1000 / results[str(clients)][
                "requests"]
            print(json.dumps(results[str(clients)]), file=sys.stderr)
            if clients == 1:
                results["load1"] = os.getloadavg()[0]
        # the swap: move the champion alias mid-run; the server's background check swaps the model
        from churnml.lifecycle.registry import ModelRegistry

        proc = _run_load(url, 32, args.seconds, bodies_file, args.load_cpus)
        time.sleep(args.seconds / 2)
        ModelRegistry.from_work_dir(args.root / "work").promote(2, "benchmark: swap under load")
        results["swap"] = _result(proc)
        print(json.dumps(results["swap"]), file=sys.stderr)
        model_now = httpx.get(f"{url}/v1/model", headers={"X-API-Key": KEY}).json()
    finally:
        server.terminate()
        server.wait(timeout=30)

    one, many, swap = results["1"], results["32"], results["swap"]
    target = "met" if one["p99_ms"] < 25 and one["errors"] == 0 else "**NOT met**"
    swapped = len([v for v in swap["versions"] if v != "?"]) >= 2
    body = f"""Command: `.venv/bin/python -m benchmarks.serving --seconds {args.seconds:g}` (measured {dt.date.today()},
{machine()}{f"; server pinned to CPUs {args.cpus}" if args.cpus else ""}{
f", load generator to CPUs {args.load_cpus}" if args.load_cpus else ""}).
Server: `churnml serve` (uvicorn, one process) on loopback; load generator: a second process, httpx, one
thread and keep-alive connection per client. Each request is `POST /v1/score` for **one account with
explanations** (score, SHAP, reasons grouped by theme), rotating over {len(bodies)} real feature rows.
Model: LightGBM, {meta["trees"]} trees (early stopping), {meta["features"]} features, calibrated.

| clients | requests | errors | p50 ms | p99 ms | mean ms | requests / s |
|---|---|---|---|---|---|---|
{_row("1", one, bold=True)}
{_row("32", many)}
{_row("32, alias moved mid-run", swap)}

- Target p99 < 25 ms at 1 client: {target}. Server CPU per request (user + system, from the OS, so not
  inflated by waiting for a core): {one["server_cpu_ms"]:.1f} ms at 1 client, {many["server_cpu_ms"]:.1f} ms
  at 32. Machine load average (1 min) when the 1-client run ended: {results["load1"]:.1f} on
  {os.cpu_count()} cores (other engineers' jobs share this machine).
- Where the time goes (cProfile, CPU, in process): ~8 ms in `churnml.scoring.table.score_accounts` (of which
  `ChurnModel.score` — one input matrix for margin, probability and TreeSHAP — ~4 ms, phrasing the reasons
  <1 ms, building the score row ~3 ms), the rest HTTP, validation and JSON. Built in: one OpenMP thread per
  prediction, httptools/uvloop, no per-column pandas on the scoring path; see docs/serving.md.
- Model swap during load: champion moved v1 → v2 halfway (the server checks the alias every
  {RELOAD_SECONDS:g} s); answers by version
  {", ".join(f"{k}: {v:,}" for k, v in sorted(swap["versions"].items()))};
  {"both versions answered" if swapped else "**the swap was not observed**"}, {swap["errors"]} failed requests;
  /v1/model afterwards: v{model_now.get("version")}.
- With 32 clients on a shared 2-core machine the server is CPU-bound (one Python process; the load generator
  shares the same cores), so latency there is queueing: throughput is the figure to read.
"""
    print(body)
    if not args.no_doc:
        update_section("Serving", body)
    return 0 if one["errors"] == many["errors"] == swap["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
