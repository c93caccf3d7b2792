"""Scoring benchmark: score and explain 100k accounts vs predict_proba + `shap.TreeExplainer` done naively.

Data: a simulated world (1,000 accounts × 24 months) gives the training frame and a model trained the product
way (early stopping, calibration); 100k feature rows are sampled from that frame with numeric features
perturbed (±20%, counts kept whole), as one as-of date. Writes the "Scoring" section of docs/benchmarks.md.

    .venv/bin/python -m benchmarks.scoring [--rows 100000] [--data work/bench/sim1k] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def _model_and_frame(data: Path) -> tuple[object, pd.DataFrame]:
    from churnml.config import Settings
    from churnml.data.load import load_data
    from churnml.model.model import ChurnModel
    from churnml.training.backtest import final_layout, fit_on_fold, fold_parts
    from churnml.training.frames import build_training_frame, training_dates

    if not (data / "truth" / "params.json").exists():
        from churnml.simulate import simulate_world

        simulate_world(data, accounts=1000, start=dt.date(2023, 1, 1), months=24, seed=11, progress=False)
    loaded = load_data(Settings(work_dir=Path("work/bench/scoring")), data)
    frame, _ = build_training_frame(loaded.tables, training_dates(loaded.tables, 7, 90))
    lab = frame[frame["churned"].notna()]
    # The production fit's layout (`churnml train`): train, then a gap of one horizon, then the early-stopping
    # and calibration windows.
    parts = fold_parts(lab, final_layout(lab["as_of"], 90))
    model = fit_on_fold(ChurnModel(), parts, label="churned")
    return model, frame


def big_frame(frame: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    """`rows` accounts sampled from `frame` with numeric features perturbed, all at one as-of date."""
    rng = np.random.default_rng(seed)
    out = frame.iloc[rng.integers(0, len(frame), rows)].drop(columns=["churned", "churn_date"]).reset_index(drop=True)
    for c in out.columns:
        if c in ("account_id", "as_of") or not pd.api.types.is_float_dtype(out[c]):
            continue
        x = out[c].to_numpy() * rng.uniform(0.8, 1.2, rows)
        whole = np.nanmax(np.abs(out[c].to_numpy() - np.round(out[c].to_numpy())), initial=0) == 0
        out[c] = np.round(x) if whole else x
    out["account_id"] = [f"B{i:07d}" for i in range(rows)]
    out["as_of"] = pd.Timestamp("2025-01-06")
    return out


def main() -> int:
    import shap

    from benchmarks.report import machine, peak_rss_mb, update_section
    from churnml.scoring.explain import explain_frame
    from churnml.scoring.table import score_accounts

    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--data", type=Path, default=Path("work/bench/sim1k"))
    ap.add_argument("--repeats", type=int, default=3, help="Alternating runs of each side; the best counts.")
    args = ap.parse_args()

    model, frame = _model_and_frame(args.data)
    big = big_frame(frame, args.rows)
    later = big_frame(frame, args.rows, seed=1)  # the "next week" of the same accounts
    later["as_of"] = pd.Timestamp("2025-01-13")

    def ours() -> pd.DataFrame:  # scores, SHAP, reasons, themes, JSON: the whole score table
        return score_accounts(model, big, model_name="churn-risk", model_version=1)

    def naive() -> np.ndarray:  # predict_proba + shap.TreeExplainer(...).shap_values on the whole frame, defaults
        proba = model.predict_proba(big)[:, 1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            explainer = shap.TreeExplainer(model.booster_)
            values = explainer.shap_values(model._matrix(big), tree_limit=model.best_iteration_)
        assert values.shape == (len(big), len(model.feature_names_))
        return proba

    # Alternating, best of --repeats each: the machine is shared, so one pair can land on a busy moment.
    ours_runs, naive_runs = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        first = ours()
        ours_runs.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        proba = naive()
        naive_runs.append(time.perf_counter() - t0)
    ours_s, naive_s = min(ours_runs), min(naive_runs)
    t0 = time.perf_counter()
    second = score_accounts(model, later, model_name="churn-risk", model_version=1, previous=first)
    ours_prev_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    explain_frame(model, big)
    explain_s = time.perf_counter() - t0
    np.testing.assert_allclose(first["churn_probability"], proba, atol=1e-12)
    ratio = naive_s / ours_s
    pairs = [n / o for o, n in zip(ours_runs, naive_runs, strict=True)]
    best = f"best of {args.repeats}"

    def rate(seconds: float) -> str:
        return f"{args.rows / seconds:,.0f}"
    moved = int(second["change_points"].notna().sum())
    example = second.iloc[0]
    body = f"""Command: `.venv/bin/python -m benchmarks.scoring --rows {args.rows} --repeats {args.repeats}` (measured
{dt.date.today()}, {machine()}). The reference machine has **2 cores shared with other engineers' jobs**: timings
vary run to run by tens of percent, so churnml and the naive code run alternately, {args.repeats} times each, and
the best of each counts; LightGBM uses 2 threads.

Data: {args.rows:,} accounts, feature rows sampled from a simulated world (1,000 accounts × 24 months) with
numeric features perturbed ±20%; model trained the product way: {model.best_iteration_} trees (early
stopping), {len(model.feature_names_)} features ({len(model.categorical_features_)} categorical),
{type(model.calibrator_).__name__} calibration.

| run | seconds | accounts / s |
|---|---|---|
| churnml `score_accounts` (score table: SHAP, reasons, themes, JSON), {best} | **{ours_s:.1f}** | {rate(ours_s)} |
| the same + change by theme vs last week ({moved:,}) | {ours_prev_s:.1f} | {args.rows / ours_prev_s:,.0f} |
| `explain_frame` (the same as Python `Explanation` objects, for notebooks) | {explain_s:.1f} | {rate(explain_s)} |
| naive: `predict_proba` + `TreeExplainer.shap_values` (numbers only), {best} | {naive_s:.1f} | {rate(naive_s)} |

- Ratio naive / churnml: **{ratio:.2f}×**, best against best (target ≥ 2×, issue 16: {"met" if ratio >= 2 else
  "**NOT met**"}); each alternating pair: {", ".join(f"{r:.2f}×" for r in pairs)} ({sum(r >= 2 for r in pairs)} of
  {len(pairs)} at or above 2×); all runs, churnml {", ".join(f"{x:.1f}" for x in ours_runs)} s, naive
  {", ".join(f"{x:.1f}" for x in naive_runs)} s;
  churnml also phrases and stores the reasons; on a LightGBM booster
  `shap.TreeExplainer` calls the same `pred_contrib`, so the SHAP numbers are identical — tests check it, and
  check shap's own TreeSHAP on a numeric-only model).
- Target (issue 4): {args.rows:,} accounts scored and explained in under 60 s —
  {"met" if ours_prev_s < 60 and ours_s < 60 else "**NOT met**"}. Peak memory of the whole run {peak_rss_mb():,.0f} MB.
- Example (first account, second week): {example["churn_probability"]:.1%} ({example["risk_band"]});
  {example["change_text"]}.
"""
    update_section("Scoring", body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
