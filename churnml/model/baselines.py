"""Baselines a sceptic would pick, which the model must beat beyond noise before it is worth its complexity.

* `RecencyBaseline`: "days since the last activity" alone, mapped to a probability by a monotone fit.
* `RFMBaseline`: a logistic regression on recency, frequency and monetary columns (whichever the data has).
* `LogisticBaseline`: a regularised logistic regression on every feature.
* `HealthScoreBaseline`: a hand-weighted Gainsight/ChurnZero-style health score.

All share ChurnModel's interface — `fit(X, y, *, X_valid=, y_valid=, X_calib=, y_calib=)` and
`predict_proba(X)` on frames, features by name — so the backtest treats all three alike. Baselines have no
use for early-stopping or calibration folds, so they simply learn from every row they are given. Each one
works with whatever columns the frame has (`required_columns` says which it needs, `applicable` whether a
frame has them), so a business without money or without surveys still gets every baseline that makes sense.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from churnml.model.model import infer_features, is_categorical, to_binary

_EPS = 1e-6
_MISSING = "__missing__"


def _all_rows(X: pd.DataFrame, y: Any, extra: Sequence[tuple[pd.DataFrame | None, Any]]) -> tuple[pd.DataFrame, Any]:
    """Training rows plus any valid/calib rows (baselines do not hold data out)."""
    xs, ys = [X], [pd.Series(to_binary(y))]
    for Xe, ye in extra:
        if Xe is not None and len(Xe):
            xs.append(Xe)
            ys.append(pd.Series(to_binary(ye)))
    if len(xs) == 1:
        return X, to_binary(y)
    return pd.concat(xs, ignore_index=True), pd.concat(ys, ignore_index=True).to_numpy()


def _signed_log1p(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


class LogisticBaseline(ClassifierMixin, BaseEstimator):
    """Regularised logistic regression: median impute with missing indicators, scale, one-hot categoricals.

    Args:
        features / categorical_features / exclude: as for ChurnModel.
        C: inverse L2 strength.
        log_counts: apply sign(x)·log1p(|x|) to numeric features first (counts and MRR are heavy-tailed;
            without it the baseline is needlessly weak).
        max_iter: solver iterations.
    """

    def __init__(
        self,
        features: Sequence[str] | None = None,
        categorical_features: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        C: float = 1.0,
        log_counts: bool = True,
        max_iter: int = 500,
    ) -> None:
        self.features = features
        self.categorical_features = categorical_features
        self.exclude = exclude
        self.C = C
        self.log_counts = log_counts
        self.max_iter = max_iter

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        missing = [f for f in self.feature_names_ if f not in X.columns]
        if missing:
            raise KeyError(f"frame lacks features: {missing}")
        out = {}
        for f in self.feature_names_:
            if f in self.categorical_features_:
                out[f] = X[f].astype("object").where(X[f].notna(), _MISSING).astype(str).to_numpy()
            else:
                out[f] = pd.to_numeric(X[f], errors="raise").astype("float64").to_numpy()
        return pd.DataFrame(out)

    def fit(
        self,
        X: pd.DataFrame,
        y: Any,
        *,
        X_valid: pd.DataFrame | None = None,
        y_valid: Any = None,
        X_calib: pd.DataFrame | None = None,
        y_calib: Any = None,
    ) -> LogisticBaseline:
        """Fit on every given row (train + valid + calib)."""
        X, y_arr = _all_rows(X, y, [(X_valid, y_valid), (X_calib, y_calib)])
        self.feature_names_ = list(self.features) if self.features is not None else infer_features(X, self.exclude)
        cats = set(self.categorical_features) if self.categorical_features is not None else {
            f for f in self.feature_names_ if is_categorical(X[f])
        }
        self.categorical_features_ = [f for f in self.feature_names_ if f in cats]
        numeric = [f for f in self.feature_names_ if f not in cats]
        num_steps = [SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)]
        if self.log_counts:
            num_steps.insert(0, FunctionTransformer(_signed_log1p, feature_names_out="one-to-one"))
        num_steps.append(StandardScaler())
        pre = ColumnTransformer(
            [
                ("num", make_pipeline(*num_steps), numeric),
                ("cat", OneHotEncoder(handle_unknown="ignore"), self.categorical_features_),
            ]
        )
        self.pipeline_ = Pipeline(
            [("pre", pre), ("lr", LogisticRegression(C=self.C, max_iter=self.max_iter))]
        ).fit(self._frame(X), y_arr)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities, shape (n, 2)."""
        return self.pipeline_.predict_proba(self._frame(X))


#: Default health score: theme -> (weight, {feature: +1 if higher is healthier else -1}).
DEFAULT_HEALTH_CONFIG: dict[str, tuple[float, dict[str, int]]] = {
    "usage": (
        0.5,
        {
            "active_days_30d": 1,
            "seat_utilisation_30d": 1,
            "active_users_trend_30d": 1,
            "events_trend_30d": 1,
            "days_since_last_event": -1,
        },
    ),
    "support": (
        0.25,
        {"tickets_open_high_14d": -1, "tickets_30d": -1, "effort_mean_90d": -1, "reopen_rate_90d": -1},
    ),
    "sentiment": (0.25, {"nps_latest": 1, "csat_mean_90d": 1, "ces_mean_90d": -1}),
}


class HealthScoreBaseline(ClassifierMixin, BaseEstimator):
    """A Gainsight/ChurnZero-style health score (0–100, 100 = healthy) mapped to a churn probability.

    Each configured metric is scored 0–100 by its percentile among the training rows (flipped where lower
    is healthier); a theme's score is the mean of its available metrics, and the health score the weighted
    mean of available themes (weights renormalised when a theme has no data for an account; 50 when none).
    A decreasing isotonic fit on the training rows turns the score into a probability, so metrics compare
    like for like with the models.

    Args:
        config: theme -> (weight, {feature: direction}); features absent from the frame are skipped.
    """

    def __init__(self, config: Mapping[str, tuple[float, Mapping[str, int]]] | None = None) -> None:
        self.config = config

    @staticmethod
    def applicable(columns: Sequence[str], config: Mapping[str, tuple[float, Mapping[str, int]]] | None = None) -> bool:
        """Whether a frame with these columns has at least one of the health-score metrics."""
        cfg = config if config is not None else DEFAULT_HEALTH_CONFIG
        return any(f in set(columns) for _, metrics in cfg.values() for f in metrics)

    def fit(
        self,
        X: pd.DataFrame,
        y: Any,
        *,
        X_valid: pd.DataFrame | None = None,
        y_valid: Any = None,
        X_calib: pd.DataFrame | None = None,
        y_calib: Any = None,
    ) -> HealthScoreBaseline:
        """Learn each metric's percentile grid and the score-to-probability map from every given row."""
        X, y_arr = _all_rows(X, y, [(X_valid, y_valid), (X_calib, y_calib)])
        config = self.config if self.config is not None else DEFAULT_HEALTH_CONFIG
        self.components_: dict[str, tuple[float, dict[str, int]]] = {}
        self.quantiles_: dict[str, np.ndarray] = {}
        for theme, (weight, metrics) in config.items():
            used = {f: int(d) for f, d in metrics.items() if f in X.columns}
            for f in used:
                values = pd.to_numeric(X[f], errors="coerce").dropna().to_numpy(dtype=float)
                self.quantiles_[f] = np.quantile(values, np.linspace(0, 1, 101)) if len(values) else np.zeros(0)
            used = {f: d for f, d in used.items() if len(self.quantiles_[f])}
            if used:
                self.components_[theme] = (float(weight), used)
        if not self.components_:
            raise ValueError("none of the health-score metrics is present in the frame")
        self.feature_names_ = [f for _, m in self.components_.values() for f in m]
        score = self.score(X)
        self.isotonic_ = IsotonicRegression(increasing=False, out_of_bounds="clip", y_min=_EPS, y_max=1 - _EPS)
        self.isotonic_.fit(score, y_arr)
        self.classes_ = np.array([0, 1])
        return self

    def _metric_score(self, values: pd.Series, f: str, direction: int) -> np.ndarray:
        q = self.quantiles_[f]
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        # Percentile by interpolation on the training quantile grid; ties spread evenly.
        pct = np.interp(x, q, np.linspace(0, 100, len(q))) if q[0] < q[-1] else np.full(len(x), 50.0)
        pct = np.where(np.isnan(x), np.nan, pct)
        return pct if direction > 0 else 100 - pct

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """Health score 0–100 per row (higher = healthier)."""
        total = np.zeros(len(X))
        weights = np.zeros(len(X))
        for weight, metrics in self.components_.values():
            scores = np.column_stack([self._metric_score(X[f], f, d) for f, d in metrics.items()])
            counts = (~np.isnan(scores)).sum(axis=1)
            theme = np.where(counts > 0, np.nansum(scores, axis=1) / np.maximum(counts, 1), np.nan)
            has = ~np.isnan(theme)
            total += np.where(has, weight * np.nan_to_num(theme), 0.0)
            weights += np.where(has, weight, 0.0)
        return np.where(weights > 0, total / np.where(weights > 0, weights, 1), 50.0)

    def theme_scores(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-theme 0–100 scores (NaN where the account has no data for a theme), for display."""
        out = {}
        for theme, (_, metrics) in self.components_.items():
            scores = np.column_stack([self._metric_score(X[f], f, d) for f, d in metrics.items()])
            with np.errstate(all="ignore"):
                counts = (~np.isnan(scores)).sum(axis=1)
                out[theme] = np.where(counts > 0, np.nansum(scores, axis=1) / np.maximum(counts, 1), np.nan)
        return pd.DataFrame(out, index=X.index)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities, shape (n, 2), from the monotone score-to-risk fit."""
        p = np.clip(self.isotonic_.predict(self.score(X)), _EPS, 1 - _EPS)
        return np.column_stack([1 - p, p])


#: Column-name patterns of the recency / frequency / monetary blocks (first match order kept).
RECENCY_PATTERNS = (r"days_since_last_event", r"days_since_last_.*")
FREQUENCY_PATTERNS = (r"events_(\d+d|lifetime)", r"active_days_(\d+d|lifetime)", r"active_(weeks|months)_.*")
MONETARY_PATTERNS = (r"mrr", r"(money|spend|revenue|value_sum)_.*")


def matching_columns(columns: Sequence[str], patterns: Sequence[str]) -> list[str]:
    """Columns whose whole name matches one of the patterns, in pattern order then column order."""
    out: list[str] = []
    for pat in patterns:
        rx = re.compile(pat)
        out += [c for c in columns if rx.fullmatch(c) and c not in out]
    return out


def _numeric(X: pd.DataFrame, cols: Sequence[str]) -> list[str]:
    return [c for c in cols if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])]


class RecencyBaseline(ClassifierMixin, BaseEstimator):
    """Days since the last activity alone: the older the last activity, the higher the risk (isotonic fit).

    "Never active" (null) ranks as the oldest. The column is the first of `RECENCY_PATTERNS` the frame has,
    unless `feature` names one.

    Args:
        feature: the recency column (default: found by pattern).
    """

    def __init__(self, feature: str | None = None) -> None:
        self.feature = feature

    @staticmethod
    def applicable(columns: Sequence[str]) -> bool:
        """Whether a frame with these columns has a recency column."""
        return bool(matching_columns(columns, RECENCY_PATTERNS[:1]))

    def _x(self, X: pd.DataFrame) -> np.ndarray:
        x = pd.to_numeric(X[self.feature_], errors="coerce").to_numpy(dtype=float)
        return np.where(np.isnan(x), self.never_, x)

    def fit(
        self, X: pd.DataFrame, y: Any, *, X_valid: pd.DataFrame | None = None, y_valid: Any = None,
        X_calib: pd.DataFrame | None = None, y_calib: Any = None,
    ) -> RecencyBaseline:
        """Fit the monotone recency-to-risk map on every given row."""
        X, y_arr = _all_rows(X, y, [(X_valid, y_valid), (X_calib, y_calib)])
        found = [self.feature] if self.feature else matching_columns(list(X.columns), RECENCY_PATTERNS[:1])
        if not found or found[0] not in X.columns:
            raise ValueError(f"no recency column ({RECENCY_PATTERNS[0]}) among the features")
        self.feature_ = found[0]
        self.feature_names_ = [self.feature_]
        observed = pd.to_numeric(X[self.feature_], errors="coerce").dropna()
        self.never_ = float(observed.max() + 1) if len(observed) else 0.0
        self.isotonic_ = IsotonicRegression(increasing=True, out_of_bounds="clip", y_min=_EPS, y_max=1 - _EPS)
        self.isotonic_.fit(self._x(X), y_arr)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities, shape (n, 2)."""
        p = np.clip(self.isotonic_.predict(self._x(X)), _EPS, 1 - _EPS)
        return np.column_stack([1 - p, p])


class RFMBaseline(ClassifierMixin, BaseEstimator):
    """Recency-frequency-monetary logistic regression: the classic direct-marketing model.

    Uses the frame's recency, frequency and monetary columns (`RECENCY_PATTERNS`, `FREQUENCY_PATTERNS`,
    `MONETARY_PATTERNS`); a block the data lacks (e.g. no money) is simply left out.

    Args:
        C: inverse L2 strength of the logistic regression.
    """

    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    @staticmethod
    def columns(X: pd.DataFrame | Sequence[str]) -> list[str]:
        """The RFM columns of a frame (numeric only when a frame is given)."""
        cols = list(X.columns) if isinstance(X, pd.DataFrame) else list(X)
        picked = (matching_columns(cols, RECENCY_PATTERNS[:1]) + matching_columns(cols, FREQUENCY_PATTERNS)
                  + matching_columns(cols, MONETARY_PATTERNS))
        return _numeric(X, picked) if isinstance(X, pd.DataFrame) else picked

    @classmethod
    def applicable(cls, columns: Sequence[str]) -> bool:
        """Whether a frame with these columns has at least one RFM column."""
        return bool(cls.columns(columns))

    def fit(
        self, X: pd.DataFrame, y: Any, *, X_valid: pd.DataFrame | None = None, y_valid: Any = None,
        X_calib: pd.DataFrame | None = None, y_calib: Any = None,
    ) -> RFMBaseline:
        """Fit the logistic regression on the RFM columns of every given row."""
        X, y_arr = _all_rows(X, y, [(X_valid, y_valid), (X_calib, y_calib)])
        cols = self.columns(X)
        if not cols:
            raise ValueError("no recency, frequency or monetary column among the features")
        self.lr_ = LogisticBaseline(features=cols, categorical_features=[], C=self.C).fit(X, y_arr)
        self.feature_names_ = cols
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities, shape (n, 2)."""
        return self.lr_.predict_proba(X)
