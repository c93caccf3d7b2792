"""Cohort analysis the way CS analysts do it: pure functions from frames to frames (plus one I/O helper).

- `churn_by_decile`: churn rate by decile of a feature over labelled (account, as-of) rows, i.e. which
  behaviours go with churn; `key_features` ranks features by how far churn moves across their deciles.
- `retention_curves`: share of each signup cohort (month of first subscription) still a customer k months
  after signing up, only where that date is before the as-of date.
- `band_outcomes`: the model's risk bands against realised churn, for past scorings whose horizon has passed
  (is the model still right?). `realised_labels` computes the outcomes with the training label definition.
- `revenue_at_risk`: MRR at risk (probability x MRR) by segment or CSM from one scoring.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from churnml.reporting.kpi import coverage_blocks

if TYPE_CHECKING:
    from churnml.config import LabelsConfig
    from churnml.data.sources import Tables

BANDS: tuple[str, ...] = ("low", "medium", "high")


# --------------------------------------------------------------------------- behaviours that go with churn


def churn_by_decile(frame: pd.DataFrame, feature: str, label: str = "churned", bins: int = 10) -> pd.DataFrame:
    """Churn rate per equal-count bin (decile by default) of one numeric feature over labelled rows.

    Tied values share a bin, so fewer than `bins` rows may come back (and numbers may skip). Rows where the
    feature is missing form their own row (`decile` 0, bounds NaN):
    a missing signal (no survey answered, say) often tells its own story.

    Returns:
        feature, decile (1 = lowest values), lower, upper, rows, churners, churn_rate.
    """
    f = frame.loc[frame[label].notna(), [feature, label]]
    y = f[label].astype(float)
    x = pd.to_numeric(f[feature], errors="coerce").astype(float)
    known = x.notna()
    rows = []
    if known.sum() > 0:
        n = int(known.sum())
        codes = ((x[known].rank(method="min") - 1) * bins // n).astype(int) + 1  # ties share a bin
        for code in sorted(codes.unique()):
            sel = codes == code
            xs, ys = x[known][sel], y[known][sel]
            rows.append((int(code), xs.min(), xs.max(), len(ys), ys.sum(), ys.mean()))
    if (~known).any():
        ys = y[~known]
        rows.append((0, np.nan, np.nan, len(ys), ys.sum(), ys.mean()))
    out = pd.DataFrame(rows, columns=["decile", "lower", "upper", "rows", "churners", "churn_rate"])
    out.insert(0, "feature", feature)
    out[["rows", "churners"]] = out[["rows", "churners"]].astype("int64")
    return out


def key_features(frame: pd.DataFrame, candidates: Sequence[str], label: str = "churned", top: int = 6,
                 min_rows: int = 20) -> list[str]:
    """The numeric features whose decile churn rates spread most (max - min over deciles of >= `min_rows`)."""
    spread = {}
    for name in candidates:
        if name not in frame.columns or not pd.api.types.is_numeric_dtype(frame[name]):
            continue
        d = churn_by_decile(frame, name, label)
        d = d[(d["decile"] > 0) & (d["rows"] >= min_rows)]
        if len(d) >= 2:
            spread[name] = float(d["churn_rate"].max() - d["churn_rate"].min())
    return sorted(spread, key=lambda k: (-spread[k], k))[:top]


# --------------------------------------------------------------------------- retention by signup cohort


def retention_curves(
    subscriptions: pd.DataFrame, as_of: dt.date, *, grace_days: int = 0, max_months: int = 12,
    since: dt.date | None = None,
) -> pd.DataFrame:
    """Share of each signup cohort still a customer `months` after signup (0..max_months), point in time.

    The signup date is an account's first subscription start; its cohort is that month. A point is kept only
    if signup + `months` is before `as_of`, and for a cohort only once every account in it can be judged
    (so the latest cohorts have shorter curves instead of optimistic ones).

    Returns:
        cohort (first day of the month), months, accounts, retained, retention.
    """
    cutoff = pd.Timestamp(as_of)
    subs = subscriptions[pd.to_datetime(subscriptions["start_date"]) < cutoff]
    blocks = coverage_blocks(subs, grace_days)
    blocks["block_end"] = blocks["block_end"].where(blocks["block_end"] < cutoff)  # unknown future: still open
    first = blocks.groupby("account_id")["block_start"].min().rename("signup").reset_index()
    first["cohort"] = first["signup"].dt.to_period("M").dt.to_timestamp()
    if since is not None:
        first = first[first["cohort"] >= pd.Timestamp(since)]
    b = blocks.merge(first, on="account_id")
    size = first.groupby("cohort").size()
    last_signup = first.groupby("cohort")["signup"].max()
    rows = []
    for k in range(max_months + 1):
        judged = last_signup[last_signup + pd.DateOffset(months=k) < cutoff].index  # every member can be judged
        if judged.empty:
            break
        day = b["signup"] + pd.DateOffset(months=k)
        open_then = b["block_end"].isna() | (b["block_end"] >= day)
        covered = b["cohort"].isin(judged) & (b["block_start"] <= day) & open_then
        kept = b.loc[covered].groupby("cohort")["account_id"].nunique().reindex(judged, fill_value=0)
        rows += [(c, k, int(size[c]), int(kept[c]), kept[c] / size[c]) for c in judged]
    out = pd.DataFrame(rows, columns=["cohort", "months", "accounts", "retained", "retention"])
    return out.sort_values(["cohort", "months"]).reset_index(drop=True)


# --------------------------------------------------------------------------- model health


def realised_labels(tables: Tables, dates: Sequence[dt.date], cfg: LabelsConfig, until: dt.date) -> pd.DataFrame:
    """Outcomes of the accounts active at `dates` (account_id, as_of, churned), null where the horizon (plus
    grace) has not passed by `until` — the label definition the model was trained on."""
    from churnml.training.labels import labels_expr

    if not dates:
        return pd.DataFrame(columns=["account_id", "as_of", "churned"])
    df = labels_expr(tables, sorted(set(dates)), cfg, until=until).select("account_id", "as_of", "churned").to_pandas()
    df["account_id"] = df["account_id"].astype(str)
    df["as_of"] = pd.to_datetime(df["as_of"])
    df["churned"] = df["churned"].astype("boolean")
    return df


def scored_outcomes(scores: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Stored scores joined to their realised outcome (`y`), only rows whose outcome is known."""
    s = scores.assign(account_id=scores["account_id"].astype(str), as_of=pd.to_datetime(scores["as_of"]))
    lab = labels.assign(account_id=labels["account_id"].astype(str), as_of=pd.to_datetime(labels["as_of"]))
    j = s.merge(lab[["account_id", "as_of", "churned"]], on=["account_id", "as_of"], how="inner")
    j = j[j["churned"].notna()].copy()
    j["y"] = j["churned"].astype(float)
    j["mrr"] = j["mrr"].astype(float).fillna(0.0) if "mrr" in j.columns else 0.0
    j["churned_mrr"] = j["mrr"] * j["y"]
    return j


def rate_interval(y: pd.Series, account: pd.Series, n_boot: int = 200, level: float = 0.95,
                  seed: int = 0) -> tuple[float, float]:
    """Bootstrap-by-account interval of a churn rate: an account scored at several dates is one unit, so its
    rows are drawn together (a plain binomial interval would be too narrow)."""
    per = pd.DataFrame({"y": y.to_numpy(dtype=float), "a": account.to_numpy()}).groupby("a")["y"].agg(["sum", "size"])
    if len(per) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(per), size=(n_boot, len(per)))
    rates = per["sum"].to_numpy()[idx].sum(axis=1) / per["size"].to_numpy()[idx].sum(axis=1)
    a = (1 - level) / 2
    return float(np.quantile(rates, a)), float(np.quantile(rates, 1 - a))


def band_outcomes(scores: pd.DataFrame, labels: pd.DataFrame, by_date: bool = False) -> pd.DataFrame:
    """Predicted risk against realised churn by risk band, over scorings whose outcome is known.

    Args:
        scores: score-store rows (account_id, as_of, churn_probability, risk_band, mrr).
        labels: account_id, as_of, churned (null = not yet known; those rows are left out).
        by_date: one row per (as_of, band) instead of pooling the scorings.

    Returns:
        [as_of,] band, accounts, predicted (mean probability), realised (churn rate), realised_lo /
        realised_hi (its 95% interval, bootstrap by account), churned, mrr, churned_mrr — bands in low,
        medium, high order.
    """
    j = scored_outcomes(scores, labels)
    keys = (["as_of"] if by_date else []) + ["risk_band"]
    out = j.groupby(keys).agg(
        accounts=("account_id", "size"), predicted=("churn_probability", "mean"), realised=("y", "mean"),
        churned=("y", "sum"), mrr=("mrr", "sum"), churned_mrr=("churned_mrr", "sum"),
    ).reset_index().rename(columns={"risk_band": "band"})
    out["churned"] = out["churned"].astype("int64")
    bounds = {tuple(k): rate_interval(g["y"], g["account_id"]) for k, g in j.groupby(keys)}
    key_of = out[[k.replace("risk_band", "band") for k in keys]].itertuples(index=False, name=None)
    lo_hi = [bounds[tuple(k)] for k in key_of]
    out["realised_lo"] = [b[0] for b in lo_hi]
    out["realised_hi"] = [b[1] for b in lo_hi]
    out["_o"] = out["band"].map({b: i for i, b in enumerate(BANDS)})
    return out.sort_values((["as_of"] if by_date else []) + ["_o"]).drop(columns="_o").reset_index(drop=True)


def realised_discrimination(scores: pd.DataFrame, labels: pd.DataFrame, n_boot: int = 200,
                            level: float = 0.95) -> dict[str, float] | None:
    """How well the stored scores ranked the churn that happened: ROC-AUC, Brier and log loss of the pooled
    scorings whose outcome is known, each with its interval (bootstrap by account), or None without both
    classes. The out-of-time figure a CS leader checks the backtest against."""
    from churnml.training.bootstrap import backtest_intervals

    j = scored_outcomes(scores, labels)
    if j["y"].nunique() < 2:
        return None
    pred = j.assign(model="stored", p=j["churn_probability"].astype(float))[
        ["model", "account_id", "as_of", "y", "p", "mrr"]]
    m = backtest_intervals(pred, "stored", versus=[], n_boot=n_boot, level=level).metrics.set_index("metric")
    out: dict[str, float] = {"rows": float(len(j)), "accounts": float(j["account_id"].nunique())}
    for k in ("roc_auc", "brier", "log_loss"):
        out.update({k: float(m.loc[k, "value"]), f"{k}_lo": float(m.loc[k, "lo"]), f"{k}_hi": float(m.loc[k, "hi"])})
    return out


def scorings_with_outcomes(scores: pd.DataFrame, as_of: dt.date, horizon_days: int, grace_days: int = 0
                           ) -> list[dt.date]:
    """Stored as-of dates whose horizon (plus grace) has passed by `as_of`: their outcomes are knowable."""
    dates = sorted({pd.Timestamp(d).date() for d in scores["as_of"]})
    return [d for d in dates if d + dt.timedelta(days=horizon_days + grace_days) <= as_of]


def revenue_at_risk(scores: pd.DataFrame, by: str = "segment") -> pd.DataFrame:
    """One scoring's MRR at risk per `by` group (segment or csm_id), largest first.

    Returns:
        by, accounts, high_risk, expected_churn (sum of probabilities), mrr, mrr_at_risk, share_at_risk.
    """
    s = scores.assign(**{by: scores[by].fillna("(none)").astype(str)})
    s = s.assign(high=s["risk_band"].eq("high"), mrr_at_risk=s["mrr_at_risk"].astype(float).fillna(0.0))
    out = s.groupby(by).agg(
        accounts=("account_id", "size"), high_risk=("high", "sum"), expected_churn=("churn_probability", "sum"),
        mrr=("mrr", "sum"), mrr_at_risk=("mrr_at_risk", "sum"),
    ).reset_index()
    out["high_risk"] = out["high_risk"].astype("int64")
    out["share_at_risk"] = out["mrr_at_risk"] / out["mrr"].where(out["mrr"] > 0)
    return out.sort_values(["mrr_at_risk", by], ascending=[False, True]).reset_index(drop=True)


__all__ = [
    "BANDS",
    "band_outcomes",
    "churn_by_decile",
    "key_features",
    "rate_interval",
    "realised_discrimination",
    "realised_labels",
    "retention_curves",
    "revenue_at_risk",
    "scored_outcomes",
    "scorings_with_outcomes",
]
