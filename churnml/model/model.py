"""`ChurnModel`: LightGBM on the feature frame, calibrated on held-out time, explained by exact SHAP values.

Everything learned at fit time that scoring needs — feature names and order, categorical levels, the
booster, the best iteration and the calibrator — lives on the estimator, so one pickled object (the MLflow
artifact) scores identically in batch, in the API and in notebooks. Columns are always taken by name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from churnml.model.calibration import CalibrationMethod, choose_calibrator, fit_calibrator
from churnml.model.patterns import PatternContributions
from churnml.model.rowpredict import RowPredictor

#: Columns that are never features: keys, labels and bookkeeping.
NON_FEATURES: tuple[str, ...] = ("account_id", "as_of", "churned", "churn_date")

BASE_VALUE = "_base_value"
#: From this many rows on, contributions are computed per distinct decision pattern (`PatternContributions`).
PATTERN_ROWS = 2000


def infer_features(frame: pd.DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    """Default feature list: every column except keys, labels, `exclude` and datetime columns.

    Datetime columns are skipped because a raw date is never a stable feature (it identifies the period).
    """
    drop = set(NON_FEATURES) | set(exclude)
    return [
        c for c in frame.columns
        if c not in drop and not pd.api.types.is_datetime64_any_dtype(frame[c])
    ]


def is_categorical(series: pd.Series) -> bool:
    """Categorical if pandas `category`, string or object dtype (booleans are numeric 0/1)."""
    return isinstance(series.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(series) or (
        series.dtype == object
    )


def to_binary(y: Any) -> np.ndarray:
    """Outcomes as int 0/1; refuses missing labels (unobserved horizons must be dropped before fitting)."""
    s = pd.Series(y)
    if s.isna().any():
        raise ValueError("labels contain missing values; drop rows whose horizon is not yet observed")
    return s.astype(int).to_numpy()


class ChurnModel(ClassifierMixin, BaseEstimator):
    """Calibrated LightGBM churn classifier with native categoricals and SHAP contributions.

    Args:
        features: feature columns (default: inferred at fit, see `infer_features`).
        categorical_features: categorical columns (default: inferred from dtype).
        exclude: columns never used as features, beyond keys and labels.
        n_estimators: maximum boosting rounds; early stopping on the time-later, gap-separated validation
            window decides the actual number (about 60–130 on the simulator). Without a gap before that window
            the validation loss keeps falling for hundreds of rounds while out-of-time ranking gets worse —
            and explaining costs time in proportion to the trees.
        learning_rate / num_leaves / min_child_samples / subsample / colsample_bytree / reg_lambda /
            max_bin: LightGBM parameters (`max_bin` kept low: histograms of 63 bins lose little signal
            and make a million rows cheap).
        early_stopping_rounds: stop when the time-later validation log loss has not improved this long.
        calibration: "auto" (isotonic vs Platt by held-out log loss), "isotonic", "sigmoid" or "none".
        monotone_constraints: feature name -> +1 (risk never falls as it grows) / -1 / 0.
        num_threads: LightGBM threads.
        random_state: seed for bagging and feature sampling.
        lgbm_params: any further LightGBM parameters (win over the ones above).
    """

    def __init__(
        self,
        features: Sequence[str] | None = None,
        categorical_features: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        n_estimators: int = 1000,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 300,
        subsample: float = 0.8,
        colsample_bytree: float = 0.5,
        reg_lambda: float = 10.0,
        max_bin: int = 63,
        early_stopping_rounds: int | None = 100,
        calibration: CalibrationMethod = "auto",
        monotone_constraints: Mapping[str, int] | None = None,
        num_threads: int = 2,
        random_state: int = 0,
        lgbm_params: Mapping[str, Any] | None = None,
    ) -> None:
        self.features = features
        self.categorical_features = categorical_features
        self.exclude = exclude
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.max_bin = max_bin
        self.early_stopping_rounds = early_stopping_rounds
        self.calibration = calibration
        self.monotone_constraints = monotone_constraints
        self.num_threads = num_threads
        self.random_state = random_state
        self.lgbm_params = lgbm_params

    # ------------------------------------------------------------------ fitting

    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1 else 0,
            "feature_fraction": self.colsample_bytree,
            "lambda_l2": self.reg_lambda,
            "max_bin": self.max_bin,
            "num_threads": self.num_threads,
            "seed": self.random_state,
            "deterministic": True,
            "force_col_wise": True,
            "verbosity": -1,
            # Probabilities must mean what they say: no class re-weighting.
            "is_unbalance": False,
        }
        if self.monotone_constraints:
            unknown = set(self.monotone_constraints) - set(self.feature_names_)
            if unknown:
                raise ValueError(f"monotone constraints on unknown features: {sorted(unknown)}")
            params["monotone_constraints"] = [int(self.monotone_constraints.get(f, 0)) for f in self.feature_names_]
            params["monotone_constraints_method"] = "advanced"
        params.update(self.lgbm_params or {})
        return params

    def fit(
        self,
        X: pd.DataFrame,
        y: Any,
        *,
        X_valid: pd.DataFrame | None = None,
        y_valid: Any = None,
        X_calib: pd.DataFrame | None = None,
        y_calib: Any = None,
    ) -> ChurnModel:
        """Fit the booster (early stopping on the valid fold) and the calibrator (on the calib fold).

        Both the valid and the calib fold should be later in time than X: early stopping and calibration
        then judge the model as it will be used, on a future it has not seen. Without a calib fold the
        probabilities are the booster's own (calibration "none").

        Args:
            X: training frame (extra columns are ignored; features are taken by name).
            y: outcomes (bool/0-1, no missing values).
            X_valid / y_valid: early-stopping fold.
            X_calib / y_calib: calibration fold; if it has an `as_of` column, "auto" chooses on its later half.
        """
        self.feature_names_ = list(self.features) if self.features is not None else infer_features(X, self.exclude)
        missing = [f for f in self.feature_names_ if f not in X.columns]
        if missing:
            raise KeyError(f"training frame lacks features: {missing}")
        if self.categorical_features is not None:
            self.categorical_features_ = [f for f in self.feature_names_ if f in set(self.categorical_features)]
        else:
            self.categorical_features_ = [f for f in self.feature_names_ if is_categorical(X[f])]
        self.categories_ = {f: _levels(X[f]) for f in self.categorical_features_}
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = len(self.feature_names_)

        y_arr = to_binary(y)
        train_set = lgb.Dataset(
            self._matrix(X), label=y_arr, feature_name=self.feature_names_,
            categorical_feature=self.categorical_features_, free_raw_data=True,
        )
        valid_sets, callbacks = [], []
        if X_valid is not None and len(X_valid) and self.early_stopping_rounds:
            valid_sets.append(
                lgb.Dataset(self._matrix(X_valid), label=to_binary(y_valid), reference=train_set)
            )
            callbacks.append(lgb.early_stopping(self.early_stopping_rounds, first_metric_only=True, verbose=False))
        params = {"metric": "binary_logloss", **self._params()}  # lgbm_params may choose another metric
        self.booster_ = lgb.train(
            params, train_set, num_boost_round=self.n_estimators, valid_sets=valid_sets, callbacks=callbacks
        )
        best = self.booster_.best_iteration
        self.best_iteration_ = int(best) if best and best > 0 else self.booster_.current_iteration()

        if X_calib is not None and len(X_calib) and self.calibration != "none":
            times = X_calib["as_of"].to_numpy() if "as_of" in X_calib.columns else None
            self.calibrator_ = choose_calibrator(
                self.predict_raw(X_calib), to_binary(y_calib), self.calibration, times=times
            )
        else:
            self.calibrator_ = fit_calibrator(np.zeros(0), np.zeros(0), "none")
        return self

    # ------------------------------------------------------------------ inputs

    def prepare(self, X: pd.DataFrame) -> pd.DataFrame:
        """The model's view of a frame: learned feature columns, in learned order, with learned categories.

        Columns are matched by name, never by position. Categorical values not seen at fit become missing
        (the booster treats them like an absent value, the same at training and scoring); numeric
        features become float64 with missing values left missing.

        Raises:
            KeyError: a feature is absent, naming every missing one.
        """
        self._check_columns(X)
        cats = set(self.categorical_features_)
        out = {}
        for f in self.feature_names_:
            if f in cats:
                out[f] = pd.Categorical(_strings(X[f]), categories=self.categories_[f])
            else:
                out[f] = pd.to_numeric(X[f], errors="raise").astype("float64").to_numpy()
        return pd.DataFrame(out, index=X.index)

    def _check_columns(self, X: pd.DataFrame) -> None:
        missing = [f for f in self.feature_names_ if f not in X.columns]
        if missing:
            raise KeyError(f"frame lacks {len(missing)} feature(s) the model was trained on: {missing}")

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        """`prepare(X)` as the booster's float matrix: categories as their index in the learned levels, missing
        or unseen values as NaN. Built straight from the columns (no intermediate frame): for the one-account
        requests of the API, pandas overhead per column was most of the scoring time."""
        self._check_columns(X)
        cats = set(self.categorical_features_)
        out = np.empty((len(X), len(self.feature_names_)), dtype="float64")
        for j, f in enumerate(self.feature_names_):
            col = X[f]
            if f in cats:
                out[:, j] = _codes(col, self.categories_[f])
            elif col.dtype == np.float64:
                out[:, j] = col.to_numpy()
            else:
                out[:, j] = pd.to_numeric(col, errors="raise").astype("float64").to_numpy()
        return out

    # ------------------------------------------------------------------ outputs

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        """Raw margin: log-odds of the uncalibrated booster at its best iteration."""
        return self._raw(self._matrix(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities, shape (n, 2): columns "stays", "churns"."""
        p = self.calibrator_.transform(self.predict_raw(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where the calibrated churn probability is at least 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Exact TreeSHAP contributions per feature (log-odds) plus `_base_value`; each row sums to predict_raw."""
        return self._contributions(self._matrix(X), X.index)

    def score(self, X: pd.DataFrame, explain: bool = False) -> tuple[np.ndarray, np.ndarray, pd.DataFrame | None]:
        """Raw margin, calibrated probability and (with `explain`) `contributions`, from one input matrix.

        What `predict_raw`, `predict_proba` and `contributions` give one by one, without preparing the frame
        three times (scoring and the API want all three).
        """
        matrix = self._matrix(X)
        if explain and len(matrix) == 1:  # one account (fresh scores): LightGBM's single-row API, same numbers
            raw, prob, contrib = self.score_row(matrix[0])
            return raw, prob, pd.DataFrame(contrib[None, :], columns=[*self.feature_names_, BASE_VALUE], index=X.index)
        raw = self._raw(matrix)
        return raw, self.calibrator_.transform(raw), self._contributions(matrix, X.index, raw) if explain else None

    def score_matrix(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw margin, calibrated probability and contributions (features, then the base value) of the rows of
        a model matrix (`_matrix` layout); one row goes through `score_row`. Same numbers either way."""
        if len(matrix) == 1:
            raw, prob, contrib = self.score_row(matrix[0])
            return raw, prob, contrib[None, :]
        raw = self._raw(matrix)
        return raw, self.calibrator_.transform(raw), self._contributions(matrix, pd.RangeIndex(len(matrix)),
                                                                          raw).to_numpy()

    def score_row(self, row: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`score(..., explain=True)` for one row of the model matrix (`_matrix` layout), without pandas.

        Returns the raw margin and calibrated probability (arrays of one) and the contributions (one per
        feature, then the base value). LightGBM's single-row C API (`RowPredictor`), prepared once per loaded
        model: the same numbers as `Booster.predict`, for a fraction of its per-call cost.
        """
        predictor = self.__dict__.get("_row_predictor")
        if predictor is None:
            predictor = self._row_predictor = RowPredictor(self.booster_, self.best_iteration_)
        raw = np.array([predictor.raw(row)])
        return raw, self.calibrator_.transform(raw), predictor.contributions(row)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_row_predictor", None)  # C handles: rebuilt from the booster after loading
        state.pop("_patterns", None)
        return state

    def _raw(self, matrix: np.ndarray) -> np.ndarray:
        return self.booster_.predict(matrix, raw_score=True, num_iteration=self.best_iteration_)

    def _contributions(self, matrix: np.ndarray, index: pd.Index, raw: np.ndarray | None = None) -> pd.DataFrame:
        """LightGBM's TreeSHAP; for many rows once per distinct decision pattern of each tree (same numbers)."""
        patterns = self.__dict__.get("_patterns")
        if patterns is None and len(matrix) >= PATTERN_ROWS:
            patterns = self._patterns = PatternContributions(self.booster_, self.best_iteration_, self.num_threads)
        if patterns is not None and patterns.supported and len(matrix) >= PATTERN_ROWS:
            values = patterns(matrix, raw)
        else:
            values = self.booster_.predict(matrix, pred_contrib=True, num_iteration=self.best_iteration_)
        return pd.DataFrame(values, columns=[*self.feature_names_, BASE_VALUE], index=index)

    def feature_importance(self, importance_type: str = "gain") -> pd.Series:
        """Booster importance per feature ("gain" or "split"), largest first."""
        values = self.booster_.feature_importance(importance_type=importance_type, iteration=self.best_iteration_)
        return pd.Series(values, index=self.feature_names_, name=importance_type).sort_values(ascending=False)


def _strings(col: pd.Series) -> pd.Series:
    """Categorical values as strings (None where missing): levels are matched by their text, whatever the dtype."""
    return col.astype("object").where(col.notna(), None).map(lambda v: None if v is None else str(v))


def _codes(col: pd.Series, levels: list[str]) -> np.ndarray:
    """Index of each value's string in `levels` as float, NaN when missing or not a learned level."""
    if len(col) <= 32:  # a dict lookup per value beats building a Categorical for a handful of rows
        index = {level: float(k) for k, level in enumerate(levels)}
        return np.array([np.nan if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
                         else index.get(str(v), np.nan) for v in col.to_numpy(dtype=object)], dtype="float64")
    # each distinct value looked up once (missing values are code -1 -> the table's last entry, NaN)
    codes, uniques = pd.factorize(col)
    index = {level: float(k) for k, level in enumerate(levels)}
    table = np.array([*(index.get(str(u), np.nan) for u in uniques), np.nan], dtype="float64")
    return table[codes]


def _levels(series: pd.Series) -> list[str]:
    """Category levels observed in training, as sorted strings (declared-but-unseen levels are dropped)."""
    values = series.dropna()
    return sorted({str(v) for v in values.unique()})
