"""Who benefits from which play: a T-learner, and the work list ranked by expected saved MRR instead of risk × MRR.

Why plainly written: `scikit-uplift` (0.5.1, last released 2022) installs, but its `TwoModels` is this same
two-model recipe around a scikit-learn estimator, and `causalml` pulls xgboost, statsmodels and a 350 MB NCCL
wheel; neither adds anything the two LightGBM models below do not.

T-learner: one churn model on control rows (no play: held-out alerts and accounts nobody acted on) and one per
play on the rows that got it; a row's uplift for a play is control churn minus treated churn (churn prevented).
Risk × MRR sends CSMs to accounts likely to churn whatever they do; uplift × MRR to those a play can save.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from churnml.plays.shift import fit_logistic, logit

_PARAMS = {"n_estimators": 150, "learning_rate": 0.05, "num_leaves": 8, "min_child_samples": 40,
           "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8, "reg_lambda": 5.0, "verbose": -1}


def fit_churn(x: pd.DataFrame, y: np.ndarray, seed: int) -> lgb.LGBMClassifier | float:
    """A small, regularised LightGBM churn classifier (a constant rate when `y` has one class)."""
    if len(np.unique(y)) < 2:
        return float(np.mean(y)) if len(y) else 0.0
    return lgb.LGBMClassifier(**_PARAMS, random_state=seed).fit(x, y)


def predict_churn(model: lgb.LGBMClassifier | float, x: pd.DataFrame) -> np.ndarray:
    """Churn probability per row of `x` from `fit_churn`'s model."""
    if isinstance(model, float):
        return np.full(len(x), model)
    return model.predict_proba(x)[:, 1]


@dataclass
class TLearner:
    """Per-play uplift on churn probability: mu_control(x) - mu_play(x).

    Attributes:
        min_rows: a play with fewer treated rows is not modelled (its uplift is 0: no evidence).
    """

    min_rows: int = 50
    seed: int = 0
    control: lgb.LGBMClassifier | float | None = None
    treated: dict[str, lgb.LGBMClassifier | float] = field(default_factory=dict)

    def fit(self, x: pd.DataFrame, play: pd.Series, churned: np.ndarray) -> TLearner:
        """`play` is the play each row got, null for control rows; `churned` the outcome (0/1)."""
        y = np.asarray(churned, dtype=float)
        ctrl = play.isna().to_numpy()
        if ctrl.all() or not ctrl.any():
            raise ValueError("the T-learner needs both control rows (play null) and treated rows")
        self.control = fit_churn(x[ctrl], y[ctrl], self.seed)
        self.treated = {}
        for q in sorted(play.dropna().unique()):
            rows = (play == q).to_numpy()
            if rows.sum() >= self.min_rows:
                self.treated[str(q)] = fit_churn(x[rows], y[rows], self.seed)
        return self

    def predict(self, x: pd.DataFrame) -> pd.DataFrame:
        """One column per modelled play: expected churn prevented by it (can be negative: no benefit)."""
        if self.control is None:
            raise ValueError("fit the T-learner first")
        base = predict_churn(self.control, x)
        return pd.DataFrame({q: base - predict_churn(m, x) for q, m in self.treated.items()}, index=x.index)

    def baseline(self, x: pd.DataFrame) -> np.ndarray:
        """Churn probability without any play (the control model): the risk score of the same data."""
        if self.control is None:
            raise ValueError("fit the T-learner first")
        return predict_churn(self.control, x)


@dataclass
class XLearner(TLearner):
    """X-learner (Künzel et al. 2019): better than the T-learner when treated rows are few and control rows many.

    Stage 1 is the T-learner. Stage 2 imputes each row's effect with the other arm's model (treated:
    mu_control(x) - y; control: y - mu_play(x)), regresses those on x, and blends the two by the play's share
    of rows g: tau(x) = g * tau_control(x) + (1 - g) * tau_treated(x).
    """

    tau: dict[str, tuple[lgb.LGBMRegressor, lgb.LGBMRegressor, float]] = field(default_factory=dict)

    def fit(self, x: pd.DataFrame, play: pd.Series, churned: np.ndarray) -> XLearner:
        super().fit(x, play, churned)
        y = np.asarray(churned, dtype=float)
        ctrl = play.isna().to_numpy()
        reg = dict(_PARAMS)
        self.tau = {}
        for q, mu1 in self.treated.items():
            rows = (play == q).to_numpy()
            d1 = predict_churn(self.control, x[rows]) - y[rows]  # type: ignore[arg-type]
            d0 = y[ctrl] - predict_churn(mu1, x[ctrl])
            t1 = lgb.LGBMRegressor(**reg, random_state=self.seed).fit(x[rows], d1)
            t0 = lgb.LGBMRegressor(**reg, random_state=self.seed).fit(x[ctrl], d0)
            self.tau[q] = (t0, t1, rows.sum() / (rows.sum() + ctrl.sum()))
        return self

    def predict(self, x: pd.DataFrame) -> pd.DataFrame:
        if self.control is None:
            raise ValueError("fit the X-learner first")
        return pd.DataFrame({q: g * t0.predict(x) + (1 - g) * t1.predict(x) for q, (t0, t1, g) in self.tau.items()},
                            index=x.index)


@dataclass
class OffsetLearner(TLearner):
    """T-learner whose play models boost from the control model: mu_play = sigmoid(logit mu_control + delta(x)).

    With few treated rows a separate play model is mostly noise, and the difference of two noisy models ranks by
    noise; here each play model learns only the shift `delta(x)` the play adds to the control model's log-odds
    (a play acting on the churn hazard is exactly such a shift), strongly regularised, from the treated rows.
    delta(x) = a + trees(x): the constant `a` is fitted first by maximum likelihood, because LightGBM does not
    boost from the average when given an init score, and trees that cannot split (few rows) would otherwise
    leave delta at exactly 0: no uplift for any account, and a work list in arbitrary order.
    """

    offsets: dict[str, tuple[float, lgb.LGBMClassifier | None]] = field(default_factory=dict)

    def fit(self, x: pd.DataFrame, play: pd.Series, churned: np.ndarray) -> OffsetLearner:
        super().fit(x, play, churned)
        y = np.asarray(churned, dtype=float)
        self.offsets = {}
        for q in self.treated:
            rows = (play == q).to_numpy()
            if len(np.unique(y[rows])) < 2:
                continue
            init = logit(predict_churn(self.control, x[rows]))  # type: ignore[arg-type]
            a = float(fit_logistic(np.ones((int(rows.sum()), 1)), y[rows], init)[0])
            leaf = max(10, int(rows.sum()) // 8)  # a split must be possible on a few hundred rows
            params = {**_PARAMS, "n_estimators": 60, "num_leaves": 4, "min_child_samples": leaf}
            trees = lgb.LGBMClassifier(**params, random_state=self.seed).fit(x[rows], y[rows], init_score=init + a)
            self.offsets[q] = (a, trees if trees.booster_.num_trees() else None)
        return self

    def predict(self, x: pd.DataFrame) -> pd.DataFrame:
        if self.control is None:
            raise ValueError("fit the learner first")
        base = predict_churn(self.control, x)
        lb = logit(base)
        out = {}
        for q, (a, trees) in self.offsets.items():
            delta = a + (trees.predict(x, raw_score=True) if trees is not None else 0.0)
            out[q] = base - 1 / (1 + np.exp(-(lb + delta)))
        return pd.DataFrame(out, index=x.index)


def work_list(accounts: pd.DataFrame, uplift: pd.DataFrame, risk: np.ndarray) -> pd.DataFrame:
    """The work list with both rankings: best play, saved MRR (uplift × MRR) and risk × MRR, with ranks.

    Args:
        accounts: rows with account_id and mrr, aligned with `uplift` and `risk`.
        uplift: per-play uplift (`TLearner.predict`).
        risk: churn probability per row.

    Ranked by saved MRR; accounts with equal saved MRR (no play expected to help: 0) by risk × MRR.
    """
    best = uplift.idxmax(axis=1) if len(uplift.columns) else pd.Series(None, index=uplift.index)
    gain = uplift.max(axis=1).clip(lower=0.0) if len(uplift.columns) else pd.Series(0.0, index=uplift.index)
    mrr = accounts["mrr"].fillna(0.0).to_numpy(float)
    out = pd.DataFrame({
        "account_id": accounts["account_id"].astype(str).to_numpy(), "mrr": mrr,
        "churn_probability": np.asarray(risk, float), "best_play": best.to_numpy(),
        "uplift": gain.to_numpy(float), "saved_mrr": gain.to_numpy(float) * mrr,
        "risk_mrr": np.asarray(risk, float) * mrr,
    })
    # ties (above all: accounts no play is expected to help, saved MRR 0) fall back to risk × MRR, not row order
    by_saved = np.lexsort((-out["risk_mrr"].to_numpy(), -out["saved_mrr"].to_numpy()))
    out["rank_saved"] = np.empty(len(out), int)
    out.loc[by_saved, "rank_saved"] = np.arange(1, len(out) + 1)
    out["rank_risk"] = out["risk_mrr"].rank(ascending=False, method="first").astype(int)
    return out.sort_values("rank_saved").reset_index(drop=True)
