"""One-row prediction through LightGBM's own single-row C API (`LGBM_BoosterPredictForMatSingleRowFast`).

`Booster.predict` on one NumPy row spends most of its time in Python (argument checks, array conversion, a
fresh predictor configuration per call); the C library's "fast" single-row entry points take a configuration
prepared once (prediction type, iterations, `num_threads=1`) and a pointer to the row. They run the very same
tree code as `Booster.predict` (`PredictRaw` / `PredictContrib`), so margins and TreeSHAP contributions are
identical — `tests/model/model/test_rowpredict.py` checks them against `Booster.predict` to 1e-9 on rows with
missing values and every categorical level.

Nothing here is stored with the model: a `RowPredictor` is built from the booster inside the one MLflow
artifact when it is first needed, and freed with it. LightGBM serialises calls on one booster itself, so one
`RowPredictor` may be used from several threads.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np
from lightgbm.basic import _LIB, _c_str, _safe_call

_PREDICT_RAW_SCORE = 1  # C_API_PREDICT_RAW_SCORE
_PREDICT_CONTRIB = 3  # C_API_PREDICT_CONTRIB
_DTYPE_FLOAT64 = 1  # C_API_DTYPE_FLOAT64


class _FastConfig:
    """One `FastConfigHandle` (prediction type + iterations + parameters), freed with the object."""

    def __init__(self, booster: Any, predict_type: int, num_iteration: int, ncol: int, width: int) -> None:
        self.handle = ctypes.c_void_p()
        _safe_call(_LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
            booster._handle, ctypes.c_int(predict_type), ctypes.c_int(0), ctypes.c_int(num_iteration),
            ctypes.c_int(_DTYPE_FLOAT64), ctypes.c_int32(ncol), _c_str("num_threads=1"), ctypes.byref(self.handle),
        ))
        self.width = width
        self._out_len = ctypes.c_int64(0)

    def __call__(self, row: np.ndarray, out: np.ndarray) -> None:
        _safe_call(_LIB.LGBM_BoosterPredictForMatSingleRowFast(
            self.handle, row.ctypes.data_as(ctypes.c_void_p), ctypes.byref(self._out_len),
            out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        ))

    def __del__(self) -> None:
        if getattr(self, "handle", None) is not None and self.handle.value:
            _LIB.LGBM_FastConfigFree(self.handle)
            self.handle = None


class RowPredictor:
    """Raw margin and TreeSHAP contributions of one row, exactly as `Booster.predict` gives them.

    Args:
        booster: the fitted `lightgbm.Booster` (kept referenced: the handles point into it).
        num_iteration: trees used (the model's best iteration).
    """

    def __init__(self, booster: Any, num_iteration: int) -> None:
        self._booster = booster
        self.ncol = booster.num_feature()
        self._raw = _FastConfig(booster, _PREDICT_RAW_SCORE, num_iteration, self.ncol, 1)
        self._contrib = _FastConfig(booster, _PREDICT_CONTRIB, num_iteration, self.ncol, self.ncol + 1)

    def _row(self, row: np.ndarray) -> np.ndarray:
        row = np.ascontiguousarray(row, dtype=np.float64)
        if row.shape != (self.ncol,):
            raise ValueError(f"one row of {self.ncol} features expected, got shape {row.shape}")
        return row

    def raw(self, row: np.ndarray) -> float:
        """The booster's raw margin (log-odds) for one row of the model matrix."""
        out = np.empty(1)
        self._raw(self._row(row), out)
        return float(out[0])

    def contributions(self, row: np.ndarray) -> np.ndarray:
        """TreeSHAP contributions of one row: one per feature, then the base value (`pred_contrib` layout)."""
        out = np.empty(self.ncol + 1)
        self._contrib(self._row(row), out)
        return out
