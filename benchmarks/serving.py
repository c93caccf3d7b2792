"""Serving benchmark: `churnml serve` against a hand-built FastAPI service, same load generator, same run.

Both servers (uvicorn, the same number of worker processes, `OMP_NUM_THREADS=1`) serve the same MLflow model on
loopback; the load generator is `wrk` (C, keep-alive, `benchmarks/wrk/post_bodies.lua` for the POST bodies),
one request = one account scored and explained, rotating over 200 real feature rows. Phases alternate
(churnml, hand-built) at 1 and 32 connections, `--rounds` times; then 32 connections on churnml while the
champion alias moves to v2 (answers counted by `X-Model-Version`: the swap must be seen), and 1 connection on
`POST /v1/accounts/{id}/rescore` (fresh scores from the raw data, DuckDB). Server and client CPU come from the
OS. A per-stage timing of one request of each service, in process, says where the time goes. Writes the
"Serving" section of docs/benchmarks.md.

    .venv/bin/python -m benchmarks.serving [--seconds 15] [--rounds 2] [--workers 2] [--reuse]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

KEY = "bench-score-key-not-secret-0123456789"
#: How often each churnml worker checks the alias (a registry query); the swap is seen within this.
RELOAD_SECONDS = 2.0
LUA = Path(__file__).parent / "wrk" / "post_bodies.lua"


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
    from churnml.lifecycle.run_log import log_run
    from churnml.lifecycle.run_record import RunRecord
    from churnml.lifecycle.tracking import configure
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
    (root / "meta.json").write_text(json.dumps({
        "trees": int(trees), "features": len(model.feature_names_),
        "as_of": str(pd.Timestamp(last["as_of"].iloc[0]).date()), "ids": [str(i) for i in last["account_id"]],
    }))
    return config, bodies


# --------------------------------------------------------------------------- servers and load


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and all its children (uvicorn's workers)."""
    import psutil

    procs = [psutil.Process(pid)]
    procs += procs[0].children(recursive=True)
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def _wait_ready(url: str, path: str) -> None:
    import httpx

    for _ in range(900):
        try:
            if httpx.get(f"{url}{path}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become ready")


def wrk(url: str, lines: Path, clients: int, seconds: float, *, target: str = "/v1/score",
        count_versions: bool = False, during: Any = None, key: str = KEY,
        extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """One wrk run; returns its JSON line plus requests/s, ms latencies and wrk's own CPU seconds.

    `during` is called halfway through the run; `extra_env` passes the Lua script's switches (COUNT_STATUS,
    ROTATE_KEY).
    """
    env = {**os.environ, "BODIES": str(lines), "API_KEY": key, "TARGET_PATH": target, **(extra_env or {})}
    if count_versions:
        env["COUNT_VERSIONS"] = "1"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = ["wrk", "-t", str(min(2, clients)), "-c", str(clients), "-d", f"{seconds:g}s", "--timeout", "10s",
           "-s", str(LUA), url]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    if during is not None:
        time.sleep(seconds / 2)
        during()
    out, _ = proc.communicate()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed (exit {proc.returncode}): {out[-500:]}")
    r = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["p50_ms"], r["p99_ms"], r["mean_ms"] = r["p50_us"] / 1000, r["p99_us"] / 1000, r["mean_us"] / 1000
    r["p95_ms"] = r["p95_us"] / 1000
    r["client_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    r["clients"] = clients
    return r


def _measured(server: subprocess.Popen, url: str, lines: Path, clients: int, seconds: float,
              **kw: Any) -> dict[str, Any]:
    cpu0 = _tree_cpu_s(server.pid)
    r = wrk(url, lines, clients, seconds, **kw)
    r["server_cpu_ms"] = (_tree_cpu_s(server.pid) - cpu0) * 1000 / max(r["requests"], 1)
    r["client_cpu_pct"] = 100 * r["client_cpu_s"] / (r["duration_us"] / 1e6)
    print(json.dumps(r), file=sys.stderr)
    return r


# --------------------------------------------------------------------------- where the time goes (in process)


def stages(work: Path, bodies: list[dict[str, Any]], n: int = 300) -> dict[str, dict[str, float]]:
    """Median microseconds per stage of one single-account request, churnml's path and the hand-built one's
    (in process, no HTTP: what the service does with a body once it has it)."""
    os.environ["CHURNML_HANDBUILT_WORK"] = str(work)
    import orjson

    from benchmarks import handbuilt_service as hb
    from churnml.config import ScoringConfig
    from serving.scoring import OnlineScorer

    scorer = OnlineScorer(hb.MODEL, name="churn-risk", version=1)
    config = ScoringConfig()
    raw = [json.dumps(b).encode() for b in bodies]
    validate: list[float] = []
    timed: dict[str, list[float]] = {"matrix": [], "model": [], "explain": [], "answer": []}
    theirs: dict[str, list[float]] = {k: [] for k in ("validate", "frame", "predict_proba", "shap")}
    for i in range(n):
        body = raw[i % len(raw)]
        t0 = time.perf_counter()
        accounts = scorer.parse(body)
        t1 = time.perf_counter()
        values = scorer._values(accounts)
        matrix = scorer.matrix(values)
        t2 = time.perf_counter()
        hb.MODEL.score_matrix(matrix)
        t3 = time.perf_counter()
        scorer.explain(accounts, config)  # scores again inside: subtract the model stage below
        t4 = time.perf_counter()
        orjson.dumps(scorer.answer(accounts, config))
        t5 = time.perf_counter()
        validate.append(t1 - t0)
        for k, v in zip(timed, (t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            timed[k].append(v)
        t0 = time.perf_counter()
        req = hb.ScoreRequest.model_validate_json(body)
        t1 = time.perf_counter()
        import pandas as pd

        frame = pd.DataFrame([{**a.features, **a.attributes} for a in req.accounts])
        t2 = time.perf_counter()
        hb.MODEL.predict_proba(frame)
        t3 = time.perf_counter()
        hb.EXPLAINER.shap_values(hb.MODEL.prepare(frame), tree_limit=hb.MODEL.best_iteration_)
        t4 = time.perf_counter()
        for k, v in zip(theirs, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            theirs[k].append(v)
    # explain() scores again and answer() explains again: their own stages are differences of medians (a median
    # of per-request differences goes negative when a stage is shorter than the noise)
    med = {k: float(np.median(v)) for k, v in timed.items()}
    mine = {"validate": float(np.median(validate)), "matrix": med["matrix"], "model": med["model"],
            "explain": max(med["explain"] - med["model"] - med["matrix"], 0.0),
            "answer": max(med["answer"] - med["explain"], 0.0)}
    return {"churnml": {k: v * 1e6 for k, v in mine.items()},
            "hand-built": {k: float(np.median(v)) * 1e6 for k, v in theirs.items()}}


# --------------------------------------------------------------------------- orchestration


def _warm_rescore(url: str, ids: Path, target: str, workers: int, limit_s: float = 240) -> None:
    """Warm every worker's fresh scores before they are measured: on its first rescore a worker opens and
    validates the data source, copies it into memory and compiles the one-account query (seconds). One
    keep-alive connection stays on one worker, so several connections, until a whole run answers in time (two
    requests queue per worker: under 2 s each)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        r = wrk(url, ids, 2 * workers, 5, target=target)
        if r["requests"] and r["errors"] + r["non200"] == 0 and r["p99_ms"] < 2000:
            return


def _row(label: str, r: dict[str, Any]) -> str:
    return (f"| {label} | {r['clients']} | {r['requests']:,} | {r['errors'] + r['non200']} | {r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['rps']:.0f} | {r['server_cpu_ms']:.2f} | {r['client_cpu_pct']:.0f}% |")


def _mean(runs: list[dict[str, Any]], key: str) -> float:
    return float(np.mean([r[key] for r in runs]))


def _start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--root", type=Path, default=Path("work/bench/serving"))
    ap.add_argument("--reuse", action="store_true", help="Reuse the world under --root from a previous run.")
    ap.add_argument("--no-doc", action="store_true", help="Print the results only; leave docs/benchmarks.md.")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk; .ci/system-deps.sh does it)")

    from benchmarks.report import machine, update_section
    from churnml.lifecycle.registry import ModelRegistry

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    t0 = time.perf_counter()
    bodies_file = args.root / "bodies.json"
    if args.reuse and bodies_file.exists():
        config, bodies = args.root / "serve.yaml", json.loads(bodies_file.read_text())
        cfg = json.loads(config.read_text())
        cfg["serving"]["reload_seconds"] = RELOAD_SECONDS
        config.write_text(json.dumps(cfg))
    else:
        config, bodies = build(args.root)
        bodies_file.write_text(json.dumps(bodies))
    registry = ModelRegistry.from_work_dir(args.root / "work")
    if registry.champion() != 1:
        registry.promote(1, "benchmark: start from v1")
    meta = json.loads((args.root / "meta.json").read_text())
    lines = args.root / "bodies.lines"
    lines.write_text("".join(json.dumps(b) + "\n" for b in bodies))
    ids = args.root / "ids.lines"
    ids.write_text("".join(f"{i}\n" for i in meta["ids"]))
    print(f"world ready in {time.perf_counter() - t0:.0f}s", file=sys.stderr)

    env = {**os.environ, "OMP_NUM_THREADS": "1", "CHURNML_HANDBUILT_WORK": str(args.root / "work")}
    ports = {"churnml": _free_port(), "hand-built": _free_port()}
    urls = {k: f"http://127.0.0.1:{p}" for k, p in ports.items()}
    servers = {
        "churnml": _start([sys.executable, "-c", "from churnml.cli.app import app; app()", "serve", "--config",
                           str(config), "--port", str(ports["churnml"]), "--workers", str(args.workers),
                           "--log-level", "warning"], env),
        "hand-built": _start([sys.executable, "-m", "uvicorn", "benchmarks.handbuilt_service:app", "--port",
                              str(ports["hand-built"]), "--workers", str(args.workers), "--log-level", "warning",
                              "--no-access-log"], env),
    }
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {k: {1: [], 32: []} for k in servers}
    try:
        _wait_ready(urls["churnml"], "/readyz")
        _wait_ready(urls["hand-built"], "/openapi.json")
        for name in servers:  # warm-up: every worker loads what it lazily needs
            wrk(urls[name], lines, 8, 3)
        for _ in range(args.rounds):
            for clients in (1, 32):
                for name in servers:
                    runs[name][clients].append(_measured(servers[name], urls[name], lines, clients, args.seconds))
        swap = _measured(servers["churnml"], urls["churnml"], lines, 32, args.seconds, count_versions=True,
                         during=lambda: registry.promote(2, "benchmark: swap under load"))
        target = f"/v1/accounts/{{id}}/rescore?as_of={meta['as_of']}"
        _warm_rescore(urls["churnml"], ids, target, args.workers)
        rescore = _measured(servers["churnml"], urls["churnml"], ids, 1, args.seconds, target=target)
    finally:
        for proc in servers.values():
            proc.terminate()
        for proc in servers.values():
            proc.wait(timeout=60)
        registry.promote(1, "benchmark: back to v1")
    where = stages(args.root / "work", bodies)

    ours, base = runs["churnml"], runs["hand-built"]
    rps_ratio = _mean(ours[32], "rps") / _mean(base[32], "rps")
    p99_ratio = _mean(ours[1], "p99_ms") / _mean(base[1], "p99_ms")
    errors = sum(r["errors"] + r["non200"] for rs in runs.values() for c in rs.values() for r in c)
    swap_errors = swap["errors"] + swap["non200"]
    versions = swap["versions"]
    seen = sorted(v for v in versions if v != "?")
    observed = len(seen) >= 2
    rows = [_row(f"{name} (round {i + 1})", r) for clients in (1, 32) for i in range(args.rounds)
            for name, rs in runs.items() for r in [rs[clients][i]]]
    body = f"""Command: `.venv/bin/python -m benchmarks.serving --seconds {args.seconds:g} --rounds {args.rounds}
--workers {args.workers}` (measured {dt.date.today()}, {machine()}; the machine is shared with other jobs, so
the figures to read are the ratios of phases run alternately in the same run).

Both services run under uvicorn with **{args.workers} worker process(es)** and `OMP_NUM_THREADS=1`, serve
the same MLflow model (LightGBM, {meta["trees"]} trees, {meta["features"]} features, calibrated) and get the same
bodies: one account per `POST /v1/score`, rotating over {len(bodies)} real feature rows. churnml answers with
score, band, reasons phrased and grouped by theme; the hand-built service
([handbuilt_service.py](../benchmarks/handbuilt_service.py): FastAPI + pydantic body + pandas frame +
`predict_proba` + `shap.TreeExplainer`) with the probability and the top contributions, unphrased. Load: `wrk`
(keep-alive, {min(2, 32)} threads at 32 connections, `benchmarks/wrk/post_bodies.lua`), {args.seconds:g} s per
phase. Server CPU per request counts every worker (from the OS); client CPU is wrk's share of one core.

| service | connections | requests | errors | p50 ms | p99 ms | requests / s | server CPU ms / req | client CPU |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}
{_row("churnml, alias moved v1 → v2 mid-run", swap)}
{_row("churnml `POST /v1/accounts/{id}/rescore`", rescore)}

- **Throughput at 32 connections: churnml {rps_ratio:.2f}× the hand-built service** (target ≥ 2×:
  {"met" if rps_ratio >= 2 else "**NOT met**"}). **p99 at 1 connection: churnml {p99_ratio:.2f}× the hand-built
  p99** (target ≤ 0.5×: {"met" if p99_ratio <= 0.5 else "**NOT met**"}). Errors in all phases: {errors}.
- Model swap under 32 connections: champion moved v1 → v2 halfway; answers by version
  {", ".join(f"{k}: {v:,}" for k, v in sorted(versions.items()))} —
  {"both versions answered: the swap was observed" if observed else "**the swap was not observed**"};
  {swap_errors} failed requests. Every worker follows the alias itself (`tests/integration/serving/test_workers.py`).
- Fresh score from raw signals (`POST /v1/accounts/{{id}}/rescore`, one account's features computed with the
  batch Ibis definitions on DuckDB over an in-memory copy of the world's Parquet data ordered by account, copied
  again whenever the files change (`churnml.scoring.snapshot`), scored, explained, change since the last
  stored score; every worker warmed first): p50 {rescore["p50_ms"]:.0f} ms, **p99 {rescore["p99_ms"]:.0f} ms**
  (target < 250 ms: {"met" if rescore["p99_ms"] < 250 and rescore["errors"] + rescore["non200"] == 0
  else "**NOT met**"}; {rescore["requests"]} requests, so the p99 is about the second slowest); server CPU
  {rescore["server_cpu_ms"]:.0f} ms per request, most of it DuckDB binding and optimising the ~290-operator
  feature query on each `EXECUTE` (a prepared statement, parsed once; DuckDB 2.0 plans it anew each time).
- Where the time goes, per single-account request in process (median µs, no HTTP):
  churnml {", ".join(f"{k} {v:,.0f}" for k, v in where["churnml"].items())};
  hand-built {", ".join(f"{k} {v:,.0f}" for k, v in where["hand-built"].items())}.
  The rest of each request is uvicorn + FastAPI (routing, the API-key dependency, middlewares).
"""
    print(body)
    if not args.no_doc:
        update_section("Serving", body)
    ok = errors == 0 and swap_errors == 0 and observed
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
