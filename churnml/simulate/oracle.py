"""The oracle: each row's churn probability computed from the simulator's own day-level hazard.

The simulator writes, for every customer spell and every window month, the hazard it used to decide churn:
a spell alive at the start of month m churns in it with probability p_m, on a day uniform over [lo_m, hi_m]
(in an annual renewal month: on the term end), and a churn followed by a reactivation within the grace period
is no churn at all (probability `bridge_probability`). For a row (account, as_of t) with horizon H the oracle is

    P(label) = 1 - prod_m (1 - c_m * (1 - b)),

where c_m is the probability of churning in month m on a day in [t, t + H), given the account was still a
customer on day t (for the month holding t: p_m * days_in / n_m / (1 - p_m * days_before / n_m)), and b the
bridge probability for the configured grace period. It conditions on the account's true health path, which
every feature only reflects with noise, so in expectation no model can beat its log loss or Brier score: it is
a ceiling. One simplification remains: after a bridged reactivation the new spell is charged the old spell's
hazard (the simulator resets tenure there); with 6% quick reactivations this moves probabilities by well
under 1%.

Evaluation only: the truth is never a feature.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from churnml.simulate.lifecycle import bridge_probability
from churnml.simulate.world import HAZARD_FILE
from churnml.training.metrics import roc_auc

PARAMS_FILE = Path("truth") / "params.json"


def read_truth(data_dir: str | Path) -> pd.DataFrame:
    """The day-level hazard table of a simulated data folder (columns of `HAZARD_FILE`, days as datetime64).

    The world's reactivation shares ride along in `attrs` ("quick_reactivation_share", "winback_share").

    Raises:
        FileNotFoundError: the folder has no hazard table (real data never does; worlds simulated before the
            day-level oracle existed need simulating again).
    """
    path = Path(data_dir) / HAZARD_FILE
    if not path.exists():
        raise FileNotFoundError(f"no hazard table at {path}: the oracle exists only for simulated data")
    truth = pd.read_parquet(path)
    truth["account_id"] = truth["account_id"].astype(str)
    for col in ("spell_start", "month", "lo", "hi", "churn_day"):
        truth[col] = pd.to_datetime(truth[col]).astype("datetime64[ns]")
    params = json.loads((Path(data_dir) / PARAMS_FILE).read_text())["params"]
    truth.attrs["quick_reactivation_share"] = float(params["quick_reactivation_share"])
    truth.attrs["winback_share"] = float(params["winback_share"])
    return truth


def _days(x: pd.Series | np.ndarray) -> np.ndarray:
    return pd.to_datetime(pd.Series(np.asarray(x))).to_numpy().astype("datetime64[D]").astype(np.int64)


def month_churn_mass(
    t: np.ndarray, horizon_days: int, p: np.ndarray, lo: np.ndarray, hi: np.ndarray, fixed: np.ndarray
) -> np.ndarray:
    """Probability of churning in each month row on a day in [t, t + horizon), given a customer on day t.

    All day arguments are integer day numbers; `fixed` is the renewal churn day or -1 (uniform over [lo, hi]).
    """
    last = t + horizon_days - 1
    n = hi - lo + 1
    before = np.clip(t - lo, 0, n)
    inside = np.clip(np.minimum(hi, last) - np.maximum(lo, t) + 1, 0, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        uniform = np.where(n > 0, p * inside / n / np.maximum(1 - p * before / np.where(n > 0, n, 1), 1e-12), 0.0)
    on_day = np.where((fixed >= t) & (fixed <= last), p, 0.0)
    return np.where(fixed >= 0, on_day, uniform)


def oracle_probability(
    keys: pd.DataFrame, truth: pd.DataFrame, horizon_days: int, grace_days: int = 0
) -> np.ndarray:
    """Oracle churn probability of each (account_id, as_of) row over the next `horizon_days` (see module doc).

    Args:
        keys: frame with account_id and as_of (other columns ignored); the result is aligned with it.
        truth: the hazard table (see `read_truth`).
        horizon_days / grace_days: the label definition.

    Rows of accounts with no spell started before their as-of date get probability 0.
    """
    b = bridge_probability(grace_days, truth.attrs.get("quick_reactivation_share", 0.0),
                           truth.attrs.get("winback_share", 0.0))
    rows = pd.DataFrame({"row": np.arange(len(keys)), "account_id": keys["account_id"].astype(str).to_numpy(),
                         "t": _days(keys["as_of"])})
    spells = truth[["account_id", "spell_start"]].drop_duplicates().assign(s=lambda d: _days(d["spell_start"]))
    spell = pd.merge_asof(rows.sort_values("t"), spells.sort_values("s")[["account_id", "s"]], left_on="t",
                          right_on="s", by="account_id", allow_exact_matches=False).dropna(subset=["s"])
    months = truth.assign(s=_days(truth["spell_start"]), lo_d=_days(truth["lo"]), hi_d=_days(truth["hi"]),
                          fixed=np.where(truth["churn_day"].isna(), -1,
                                         _days(truth["churn_day"].fillna(truth["lo"]))))
    j = spell.astype({"s": np.int64}).merge(months[["account_id", "s", "lo_d", "hi_d", "fixed", "p_churn"]],
                                           on=["account_id", "s"])
    j = j[(j["hi_d"] >= j["t"]) & (j["lo_d"] <= j["t"] + horizon_days - 1)]
    c = month_churn_mass(j["t"].to_numpy(), horizon_days, j["p_churn"].to_numpy(dtype=float).clip(0, 1),
                         j["lo_d"].to_numpy(), j["hi_d"].to_numpy(), j["fixed"].to_numpy())
    log_survival = pd.Series(np.log1p(-np.minimum(c * (1 - b), 1 - 1e-12))).groupby(j["row"].to_numpy()).sum()
    return 1 - np.exp(log_survival.reindex(np.arange(len(keys)), fill_value=0.0).to_numpy())


def oracle_auc(y: np.ndarray | pd.Series, p_oracle: np.ndarray | pd.Series) -> float:
    """ROC-AUC of the oracle on the given evaluation rows (the best ranking any model could reach)."""
    return roc_auc(np.asarray(y, dtype=float), np.asarray(p_oracle, dtype=float))
