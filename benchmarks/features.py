"""Feature pipeline benchmark: full feature set on DuckDB vs a straightforward pandas baseline.

Data: the simulator's 20k accounts × 24 months (~100M events), 52 weekly as-of dates. Each part runs in its
own child process so peak memory is measured alone. Writes the "Features" section of docs/benchmarks.md.

    .venv/bin/python -m benchmarks.features [--data work/bench/sim20k] [--dates 52] [--repeat 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

SUBSET = ["events_7d", "events_30d", "events_90d", "active_days_30d", "active_users_30d"]


def _dates(data: Path, n: int) -> list[dt.date]:
    params = json.loads((data / "truth" / "params.json").read_text())
    end = dt.date.fromisoformat(params["end_exclusive"])
    return [end - dt.timedelta(days=7 * (n - i)) for i in range(n)]


def part_duckdb(data: Path, n: int, subset: bool) -> dict:
    """The product path: open → validate → feature expression → Parquet, all in the engine."""
    from benchmarks.report import peak_rss_mb
    from churnml.config import Settings
    from churnml.data.load import load_data
    from churnml.features import feature_set
    from churnml.training.frames import write_features

    settings = Settings()
    t0 = time.perf_counter()
    loaded = load_data(settings, data)
    t_valid = time.perf_counter() - t0
    fs = feature_set(loaded.tables, _dates(data, n), settings.labels, only=SUBSET if subset else None,
                     features=settings.features)
    out = settings.work_dir / "bench" / ("features_subset.parquet" if subset else "features.parquet")
    t1 = time.perf_counter()
    rows = write_features(fs, out)
    return {
        "validate_s": t_valid,
        "features_s": time.perf_counter() - t1,
        "rows": rows,
        "features": len(SUBSET) if subset else len(fs.specs),
        "out": str(out),
        "peak_rss_mb": peak_rss_mb(),
    }


def part_pandas(data: Path, n: int) -> dict:
    """A straightforward pandas implementation of SUBSET: load the events, then filter/group per date."""
    from benchmarks.report import peak_rss_mb

    t0 = time.perf_counter()
    ev = pd.read_parquet(data / "events", columns=["account_id", "ts", "user_id"])
    ev["account_id"] = ev["account_id"].astype("category")
    ev["day"] = ev["ts"].dt.normalize()
    t_load = time.perf_counter() - t0
    frames = []
    for d in _dates(data, n):
        cut = pd.Timestamp(d)
        w90 = ev[(ev.ts < cut) & (ev.ts >= cut - pd.Timedelta(days=90))]
        age = (cut - w90.ts).dt.days  # whole days before the cut: lag - 1
        w30 = w90[age < 30]
        g = pd.DataFrame(
            {
                "events_7d": w90[age < 7].groupby("account_id", observed=True).size(),
                "events_30d": w30.groupby("account_id", observed=True).size(),
                "events_90d": w90.groupby("account_id", observed=True).size(),
                "active_days_30d": w30.groupby("account_id", observed=True)["day"].nunique(),
                "active_users_30d": w30.groupby("account_id", observed=True)["user_id"].nunique(),
            }
        ).fillna(0)
        g["as_of"] = cut
        frames.append(g.reset_index())
    out = pd.concat(frames, ignore_index=True)
    path = Path("work/bench/features_pandas.parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_parquet(path)
    return {"load_s": t_load, "total_s": time.perf_counter() - t0, "rows": len(out), "out": str(path),
            "peak_rss_mb": peak_rss_mb()}


def _check_equal(ours: str, theirs: str) -> int:
    """The baseline must compute the same numbers (on accounts it sees): returns mismatching cells."""
    a = pd.read_parquet(ours).assign(as_of=lambda f: pd.to_datetime(f.as_of)).set_index(["account_id", "as_of"])
    b = pd.read_parquet(theirs).assign(account_id=lambda f: f.account_id.astype(str)).set_index(
        ["account_id", "as_of"])
    common = a.index.intersection(b.index)
    diff = ~np.isclose(a.loc[common, SUBSET].to_numpy(float), b.loc[common, SUBSET].to_numpy(float))
    return int(diff.sum())


def _fastest(args: list[str], key: str, repeat: int) -> tuple[float, dict]:
    """Run a part `repeat` times (each in a fresh process); the fastest run's result and the highest peak memory.

    Both sides get the same treatment, so the ratio is not at the mercy of one noisy run on a shared machine.
    """
    from benchmarks.report import run_part

    runs = [run_part(args) for _ in range(max(1, repeat))]
    best = min(runs, key=lambda r: r[2][key])[2]
    best["times"] = [round(r[2][key], 2) for r in runs]
    return max(r[1] for r in runs), best


def _met(ok: bool) -> str:
    return "met" if ok else "**NOT met**"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("work/bench/sim20k"))
    ap.add_argument("--dates", type=int, default=52)
    ap.add_argument("--repeat", type=int, default=2, help="runs of each part; the fastest counts (min of N)")
    ap.add_argument("--part", choices=["duckdb", "duckdb-subset", "pandas"])
    args = ap.parse_args()
    if args.part:
        result = {"duckdb": lambda: part_duckdb(args.data, args.dates, False),
                  "duckdb-subset": lambda: part_duckdb(args.data, args.dates, True),
                  "pandas": lambda: part_pandas(args.data, args.dates)}[args.part]()
        print(json.dumps(result))
        return 0

    from benchmarks.report import machine, update_section

    if not (args.data / "truth" / "params.json").exists():
        from churnml.simulate import simulate_world

        simulate_world(args.data, accounts=20_000, start=dt.date(2023, 1, 1), months=24, seed=42)
    n_events = int(pd.read_parquet(args.data / "events", columns=["account_id"]).shape[0])
    me = ["-m", "benchmarks.features"]
    common = ["--data", str(args.data), "--dates", str(args.dates)]
    full_mem, full = _fastest([*me, *common, "--part", "duckdb"], "features_s", args.repeat)
    sub_mem, sub = _fastest([*me, *common, "--part", "duckdb-subset"], "features_s", args.repeat)
    pd_mem, pan = _fastest([*me, *common, "--part", "pandas"], "total_s", args.repeat)
    mismatches = _check_equal(sub["out"], pan["out"])
    ratio_subset = pan["total_s"] / sub["features_s"]
    ratio_full = pan["total_s"] / full["features_s"]
    cmd = f".venv/bin/python -m benchmarks.features --data {args.data} --dates {args.dates} --repeat {args.repeat}"
    body = f"""Command: `{cmd}`
(measured {dt.date.today()}, {machine()}; each part runs {args.repeat}× in a fresh process, the fastest counts —
all runs: full {full['times']} s, subset {sub['times']} s, pandas {pan['times']} s).

Data: simulator, 20,000 accounts × 24 months, **{n_events:,} events**; {args.dates} weekly as-of dates;
{full['rows']:,} (account, as-of) rows.

| run | features | seconds | peak memory |
|---|---|---|---|
| churnml on DuckDB, full feature set | {full['features']} | **{full['features_s']:.1f}** | {full_mem:,.0f} MB |
| churnml on DuckDB, the baseline's subset | {sub['features']} | {sub['features_s']:.1f} | {sub_mem:,.0f} MB |
| pandas baseline (load + per-date filter/groupby) | {len(SUBSET)} | {pan['total_s']:.1f} | {pd_mem:,.0f} MB |

- Speed-up on the same features (the baseline's {len(SUBSET)}): **{ratio_subset:.1f}×**. For reference, churnml's
  full {full['features']} features vs the baseline's {len(SUBSET)}: {ratio_full:.1f}×.
- Validation of all input tables (strict, in the engine) before the features: {full['validate_s']:.1f} s.
- The baseline's numbers equal churnml's on every common row: {mismatches} mismatching cells.
- Targets (issue 2): full set under 60 s — {_met(full['features_s'] < 60)}; peak memory under 4 GB —
  {_met(full_mem < 4096)}; ≥ 20× faster than the pandas baseline on the same features — {_met(ratio_subset >= 20)}.
"""
    update_section("Features", body)
    print(body)
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
