"""The one MLflow model artifact: a pyfunc wrapping the pickled `ChurnModel`.

Everything scoring needs was learned at fit time and lives on the `ChurnModel` (feature names and order,
categorical levels, booster, best iteration, calibrator, and the booster's exact TreeSHAP for explanations).
The pyfunc carries that object as a pickled artifact plus a signature (feature columns by name and type),
an input example and, in the MLmodel metadata, the feature order and categorical levels for readers that
do not want to unpickle. Batch scoring and the API load exactly this artifact:

- `load_churn_model(uri)` unwraps the `ChurnModel` for fast in-process use;
- `mlflow.pyfunc.load_model(uri).predict(frame, params={"explain": True})` gives the same numbers through
  MLflow (and `mlflow models serve`).

The wrapper is logged as code (`pyfunc_code.py`, MLflow's "models from code"), not as a pickled object; the
`ChurnModel` artifact is a pickle referencing importable classes (`churnml.model.model.ChurnModel`), so loading
needs churnml installed but none of the training code's globals. Unpickling runs code: load models only from
a tracking server you trust.
"""

from __future__ import annotations

import pickle
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature, infer_signature
from mlflow.types.schema import ColSpec, Schema

from churnml.model.model import BASE_VALUE as _BASE_VALUE_IN

#: Name of the model inside a run (`runs:/<run_id>/model`).
MODEL_NAME = "model"
#: Key of the pickled ChurnModel among the pyfunc's artifacts.
CHURN_MODEL_ARTIFACT = "churn_model"
#: The file MLflow logs as the model's code (it sets a `ChurnPyfunc` as the model).
PYFUNC_CODE = Path(__file__).with_name("pyfunc_code.py")
PROBABILITY = "churn_probability"
RAW_SCORE = "raw_score"
BASE_VALUE = "base_value"
CONTRIB_PREFIX = "contrib__"
#: Column a caller may add to the input to ask for explanations row-set-wide (truthy in any row).
EXPLAIN_COLUMN = "__explain__"

_REQUIREMENTS = ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "cloudpickle")


def pyfunc_input(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """A frame as the pyfunc signature expects it: the model's features by name, in its order.

    Categorical features become object columns of strings (None where missing) because MLflow's schema has
    no categorical type and refuses pandas `category` columns; numeric features become float64 so missing
    values are allowed. `ChurnModel.prepare` maps the strings back to the learned levels.

    Raises:
        KeyError: a feature is absent (all missing ones are named).
    """
    missing = [f for f in model.feature_names_ if f not in frame.columns]
    if missing:
        raise KeyError(f"frame lacks {len(missing)} feature(s) the model was trained on: {missing}")
    cats = set(model.categorical_features_)
    out: dict[str, Any] = {}
    for f in model.feature_names_:
        col = frame[f]
        if f in cats:
            values = col.astype("object")
            out[f] = values.where(col.notna(), None).map(lambda v: None if v is None else str(v)).astype(object)
        else:
            out[f] = pd.to_numeric(col, errors="raise").astype("float64")
    return pd.DataFrame(out, index=frame.index)


def score_arrays(model: Any, frame: pd.DataFrame, *, explain: bool = False) -> tuple[Any, Any, pd.DataFrame | None]:
    """Raw margin, calibrated churn probability and (with `explain`) `model.contributions(frame)`.

    A `ChurnModel` gives all three from one prepared matrix (`ChurnModel.score`); anything else with its
    interface is asked one method at a time.
    """
    if hasattr(model, "score"):
        return model.score(frame, explain=explain)
    raw, prob = model.predict_raw(frame), np.asarray(model.predict_proba(frame), dtype=float)[:, 1]
    return raw, prob, model.contributions(frame) if explain else None


def score_frame(model: Any, frame: pd.DataFrame, *, explain: bool = False) -> pd.DataFrame:
    """Scores (and optionally SHAP contributions) for a feature frame; the pyfunc's output, index kept.

    Columns: `churn_probability` (calibrated), `raw_score` (booster margin, log-odds) and, with `explain`,
    `contrib__<feature>` per feature (log-odds) plus `base_value`; per row, contributions + base value sum
    to `raw_score`.
    """
    raw, prob, contrib = score_arrays(model, frame, explain=explain)
    out = pd.DataFrame(
        {PROBABILITY: np.asarray(prob, dtype=float), RAW_SCORE: np.asarray(raw, dtype=float)}, index=frame.index,
    )
    if contrib is not None:
        renamed = {c: BASE_VALUE if c == _BASE_VALUE_IN else f"{CONTRIB_PREFIX}{c}" for c in contrib.columns}
        out = pd.concat([out, contrib.rename(columns=renamed).set_axis(out.index)], axis=1)
    return out


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "y"}
    return bool(value)


class ChurnPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc around a pickled `ChurnModel` (loaded from the `churn_model` artifact).

    `predict(context, model_input, params)` returns `score_frame(...)`; explanations when
    `params={"explain": True}` or when the input has a truthy `__explain__` column.
    """

    def __init__(self) -> None:
        self.churn_model: Any = None

    def load_context(self, context: Any) -> None:
        with open(context.artifacts[CHURN_MODEL_ARTIFACT], "rb") as fh:
            self.churn_model = pickle.load(fh)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        explain = _truthy((params or {}).get("explain", False))
        if EXPLAIN_COLUMN in frame.columns:
            explain = explain or bool(frame[EXPLAIN_COLUMN].map(_truthy).any())
            frame = frame.drop(columns=EXPLAIN_COLUMN)
        return score_frame(self.churn_model, frame, explain=explain)


def model_signature(model: Any, example: pd.DataFrame) -> ModelSignature:
    """Signature: every feature required, by name (string for categoricals, double otherwise).

    One optional boolean column, `__explain__`, asks for explanations where a client cannot pass params.

    The input schema is written out rather than inferred so it does not depend on which values the example
    happens to hold (a column that is all-present in the example must still accept missing values). The
    output schema is inferred from the model's own output on the example.
    """
    cats = set(model.categorical_features_)
    inputs = Schema(
        [ColSpec("string" if f in cats else "double", f, required=True) for f in model.feature_names_]
        + [ColSpec("boolean", EXPLAIN_COLUMN, required=False)]
    )
    inferred = infer_signature(example, score_frame(model, example), params={"explain": False})
    return ModelSignature(inputs=inputs, outputs=inferred.outputs, params=inferred.params)


def model_metadata(model: Any) -> dict[str, Any]:
    """What a reader needs without unpickling: feature order and types, categorical levels, calibrator."""
    calibrator = getattr(model, "calibrator_", None)
    return {
        "churnml_version": _version("churnml"),
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "feature_names": list(model.feature_names_),
        "categorical_features": list(model.categorical_features_),
        "categories": {k: list(v) for k, v in getattr(model, "categories_", {}).items()},
        "calibration": getattr(calibrator, "method_", type(calibrator).__name__ if calibrator else None),
        "best_iteration": int(getattr(model, "best_iteration_", 0) or 0),
        "output_columns": [PROBABILITY, RAW_SCORE],
        "explain_columns": [f"{CONTRIB_PREFIX}<feature>", BASE_VALUE],
    }


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def pip_requirements() -> list[str]:
    """Pinned requirements of the scoring environment (listed, not inferred: inference imports the model)."""
    pins = []
    for dist in _REQUIREMENTS:
        version = _version(dist)
        pins.append(f"{dist}=={version}" if version else dist)
    return pins


def log_churn_model(
    model: Any,
    example: pd.DataFrame,
    *,
    name: str = MODEL_NAME,
    n_example_rows: int = 5,
) -> mlflow.models.model.ModelInfo:
    """Log `model` as a pyfunc into the active MLflow run (signature, input example, metadata).

    Args:
        model: a fitted `ChurnModel` (anything with its interface and picklable).
        example: rows of a feature frame (extra columns ignored); the first `n_example_rows` become the
            input example after `pyfunc_input`.
        name: the model's name within the run.

    Returns:
        MLflow's ModelInfo (`model_uri` is `models:/<model_id>`; `runs:/<run_id>/<name>` also resolves).
    """
    if len(example) == 0:
        raise ValueError("input example is empty: pass at least one row of the feature frame")
    example_input = pyfunc_input(model, example.head(n_example_rows))
    signature = model_signature(model, example_input)
    with tempfile.TemporaryDirectory(prefix="churnml-model-") as tmp:
        path = Path(tmp) / "churn_model.pkl"
        with open(path, "wb") as fh:
            pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=str(PYFUNC_CODE),  # models from code: no pickled wrapper object
            artifacts={CHURN_MODEL_ARTIFACT: str(path)},
            signature=signature,
            input_example=example_input,
            pip_requirements=pip_requirements(),
            metadata=model_metadata(model),
        )


def load_pyfunc(uri: str) -> mlflow.pyfunc.PyFuncModel:
    """The MLflow pyfunc at `uri` (`runs:/…/model`, `models:/churn-risk@champion`, `models:/<model_id>`)."""
    return mlflow.pyfunc.load_model(uri)


def load_churn_model(uri: str) -> Any:
    """The `ChurnModel` inside the pyfunc at `uri`, for fast in-process scoring and explanation.

    Raises:
        TypeError: the model at `uri` is not a churnml pyfunc.
    """
    wrapper = load_pyfunc(uri).unwrap_python_model()
    if not isinstance(wrapper, ChurnPyfunc) or wrapper.churn_model is None:
        raise TypeError(f"{uri} is not a churnml model (found {type(wrapper).__name__})")
    return wrapper.churn_model
