"""How far outcomes stray from the calibrated probabilities together: the random effect's σ, point in time.

Accounts of one segment share market, season and product changes, and a calibrated model drifts out of
calibration as the world moves away from its training period, so the outcome counts of a (date, segment) group
vary more than independent Bernoulli draws allow. The Monte Carlo draws (`churnml.forecast.montecarlo`) model
that as a logit shift per draw, z = a + b_segment, a shared by every segment (a date-wide drift) and b
per segment; σ² = Var(z) and `shared` = Var(a) / σ².

Estimated on the count scale by the method of moments, in closed form. For a group with calibrated
probabilities p and realised count Y, r = Y − Σp and V = Σp(1−p); under the shift, E[r² − V] ≈ V²(e^{σ²} − 1)
(log-normal for small p, linear for small σ), so e^{σ²} − 1 = Σ(r² − V) / ΣV² over groups (floored at 0):
large groups weigh most, and a group with no event (the usual case for a small segment) counts as it is, not
clipped. The shared part likewise from the cross-segment products of one date:
e^{Var(a)} − 1 = Σ_d Σ_{s≠s'} r_s r_s' / Σ_d Σ_{s≠s'} V_s V_s'.

Point in time: at a forecast date d only groups whose outcome is known by then count, those dated on or before
d − (horizon + grace). Two sources:
- the models' own backtest residuals (`model_groups`), the thing to measure, but only the dates of the
  backtest, which start late: a backtest's first forecasts have none;
- the prior (`prior_groups`): every labelled date of the data, each segment's count against the segment's
  latest rate known at that date (the "last period" naive forecast) — what a forecaster without a model would
  have seen stray; available from the first labelled cohorts on.
σ² at d = (n_model · σ²_model + `PRIOR_DATES` · σ²_prior) / (n_model + `PRIOR_DATES`), n_model the number of
known backtest dates (the shared share likewise): the prior leads while the backtest has few known dates, the
model's residuals once it has many. The same rule fits the stored parameters (every backtest date known).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Weight of the prior, in as-of dates: about one horizon of weekly dates (they overlap, so together they are
#: closer to one observation of the drift than to thirteen).
PRIOR_DATES = 12
_POOLED = "__all__"
_COLUMNS = ("as_of", "segment", "r", "v", "outcome")


def _segment(df: pd.DataFrame) -> pd.Series:
    return df["segment"].astype(str) if "segment" in df else pd.Series(_POOLED, index=df.index)


def model_groups(pred: pd.DataFrame, outcomes: Sequence[str]) -> pd.DataFrame:
    """Per (as_of, segment, outcome) of backtest predictions (`p_<o>`, `y_<o>`): r = Y − Σp and V = Σp(1−p)."""
    parts = []
    keys = [pd.to_datetime(pred["as_of"]).rename("as_of"), _segment(pred).rename("segment")]
    for o in outcomes:
        p, y = pred[f"p_{o}"].astype(float), pred[f"y_{o}"].astype(float)
        g = pd.DataFrame({"r": y - p, "v": p * (1 - p)}).groupby(keys, observed=True).sum().reset_index()
        parts.append(g.assign(outcome=o))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[*_COLUMNS])


def prior_groups(frame: pd.DataFrame, outcomes: Sequence[str], lag_days: int) -> pd.DataFrame:
    """Per (as_of, segment, outcome) of labelled rows with MRR: r = Y − n·q and V = n·q(1−q), q the segment's
    realised rate at its latest cohort dated on or before as_of − `lag_days` (dates with none are left out)."""
    rows = frame[frame["churned"].notna() & (frame["mrr"] > 0)]
    keys = [pd.to_datetime(rows["as_of"]).rename("as_of"), _segment(rows).rename("segment")]
    parts = []
    for o in outcomes:
        rate = rows[o].astype(float).groupby(keys, observed=True).agg(["sum", "size"]).reset_index()
        for _, g in rate.groupby("segment"):
            g = g.sort_values("as_of")
            when = g["as_of"].to_numpy()
            i = np.searchsorted(when, when - np.timedelta64(lag_days, "D"), side="right") - 1
            ok = i >= 0
            q = (g["sum"] / g["size"]).to_numpy()[i[ok]]
            n, y = g["size"].to_numpy()[ok], g["sum"].to_numpy()[ok]
            parts.append(pd.DataFrame({"as_of": when[ok], "segment": g["segment"].to_numpy()[ok],
                                       "r": y - n * q, "v": n * q * (1 - q), "outcome": o}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[*_COLUMNS])


def moments(groups: pd.DataFrame) -> tuple[float, float, int]:
    """(σ², shared share of σ², dates) of one outcome's groups by the closed-form moments of the module docstring."""
    if groups.empty:
        return 0.0, 0.0, 0
    den = float((groups["v"] ** 2).sum())
    excess = float((groups["r"] ** 2 - groups["v"]).sum())
    s2 = float(np.log1p(max(excess, 0.0) / den)) if den > 0 else 0.0
    by_date = groups.groupby("as_of")
    cross = float((by_date["r"].sum() ** 2 - by_date["r"].apply(lambda r: (r**2).sum())).sum())
    cross_den = float((by_date["v"].sum() ** 2 - by_date["v"].apply(lambda v: (v**2).sum())).sum())
    tau2 = float(np.log1p(max(cross, 0.0) / cross_den)) if cross_den > 0 else 0.0
    shared = min(1.0, tau2 / s2) if s2 > 0 else 0.0
    return s2, shared, int(groups["as_of"].nunique())


def effect_at(
    model: pd.DataFrame, prior: pd.DataFrame, outcomes: Sequence[str], as_of: pd.Timestamp | None, lag_days: int,
    prior_dates: int = PRIOR_DATES,
) -> tuple[dict[str, float], dict[str, float], int]:
    """σ and shared share per outcome for a forecast at `as_of` (None: every group counts), and how many
    backtest dates the model part used; groups from `model_groups` and `prior_groups`."""
    if as_of is not None:
        cut = pd.Timestamp(as_of) - pd.Timedelta(days=lag_days)
        model = model[model["as_of"] <= cut]
        prior = prior[prior["as_of"] <= cut]
    sigma, shared, used = {}, {}, 0
    for o in outcomes:
        s2_m, sh_m, n_m = moments(model[model["outcome"] == o])
        s2_p, sh_p, n_p = moments(prior[prior["outcome"] == o])
        w_p = prior_dates if n_p else 0
        if n_m + w_p == 0:
            sigma[o], shared[o] = 0.0, 0.0
            continue
        sigma[o] = float(np.sqrt((n_m * s2_m + w_p * s2_p) / (n_m + w_p)))
        shared[o] = float((n_m * sh_m + w_p * sh_p) / (n_m + w_p))
        used = max(used, n_m)
    return sigma, shared, used
