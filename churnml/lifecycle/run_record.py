"""What one training run records, pure: the run record, flat metric names, params, lineage, backtest identity.

`churnml.lifecycle.tracking.log_run` writes a `RunRecord` to MLflow; everything here is computed without MLflow,
so the naming rules are unit-tested on their own.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

DEFAULT_EXPERIMENT = "churnml"
#: The main model's row in the metric tables, and the oracle's (`churnml.training.train` names them so).
MAIN_MODEL = "lightgbm"
ORACLE = "oracle"

_KEY_COLUMNS = ("model", "fold", "segment")
_NAME_RE = re.compile(r"[^A-Za-z0-9_\-./ ]")


@dataclass(frozen=True)
class RunRecord:
    """Everything one training run logs (see `churnml.lifecycle.tracking.log_run`).

    Attributes:
        model: the final fitted `ChurnModel`.
        example: a few rows of the feature frame (input example and signature; extra columns ignored).
        experiment: experiment name (created if absent, with the server's default artifact location).
        run_name: the run's name.
        params: run parameters (nested mappings become "a.b" keys); the model's own `get_params()` are
            logged as `model.<name>` beside them.
        metrics: flat metric name -> value (see `backtest_metrics`); non-finite values are skipped.
        tables: name -> table, written as `backtest/<name>.csv` and `.json`.
        lineage: training data lineage: params and tags `data.<key>`, plus an MLflow dataset input.
        plots: name -> matplotlib Figure, saved as `plots/<name>.png`.
        documents: file name -> text, saved at the artifact root (e.g. "training_result.json").
        tags: extra run tags.
        backtest: backtest identity (`backtest_key`), stored as tag `churnml.backtest_key`.
    """

    model: Any
    example: pd.DataFrame
    experiment: str = DEFAULT_EXPERIMENT
    run_name: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    tables: Mapping[str, pd.DataFrame | Mapping[str, Any]] = field(default_factory=dict)
    lineage: Mapping[str, Any] = field(default_factory=dict)
    plots: Mapping[str, Any] = field(default_factory=dict)
    documents: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    backtest: str | None = None


def metric_name(*parts: Any) -> str:
    """An MLflow-safe metric name from parts joined by "_" (unsafe characters become "_")."""
    return _NAME_RE.sub("_", "_".join(str(p) for p in parts if p is not None and str(p) != ""))


def finite_or_none(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _row_metrics(row: Mapping[str, Any], skip: Iterable[str] = _KEY_COLUMNS) -> dict[str, float]:
    skip = set(skip)
    out = {}
    for key, value in row.items():
        if key in skip or isinstance(value, bool | str):
            continue
        x = finite_or_none(value)
        if x is not None:
            out[str(key)] = x
    return out


def table_records(table: pd.DataFrame | Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if table is None:
        return []
    if isinstance(table, pd.DataFrame):
        return table.to_dict(orient="records")
    return [dict(table)]


def backtest_metrics(
    overall: pd.DataFrame | None,
    per_fold: pd.DataFrame | None = None,
    per_segment: pd.DataFrame | None = None,
    *,
    model: str = MAIN_MODEL,
    oracle: str = ORACLE,
) -> dict[str, float]:
    """Flat MLflow metric names from churnml's long metric tables (`churnml.training.backtest.BacktestResult`).

    Tables have a `model` column (and `fold` / `segment`) plus one column per metric. The main `model` gives
    `roc_auc`, `fold_<k>_roc_auc` and `segment_<s>_roc_auc`; the oracle gives `oracle_roc_auc`; every other
    model is a baseline, `baseline_<name>_roc_auc`. Non-finite values (e.g. ROC-AUC of a one-class fold) are
    left out: MLflow would store them but comparisons on them mislead.

    Raises:
        ValueError: a table lacks the `model` column, or a (model, fold/segment) appears twice.
    """
    out: dict[str, float] = {}

    def put(name: str, value: float) -> None:
        if name in out:
            raise ValueError(f"metric {name!r} appears twice in the backtest tables")
        out[name] = value

    for table, key in ((overall, None), (per_fold, "fold"), (per_segment, "segment")):
        if table is None or len(table) == 0:
            continue
        required = ["model"] + ([key] if key else [])
        missing = [c for c in required if c not in table.columns]
        if missing:
            raise ValueError(f"backtest table lacks column(s) {missing}; columns: {list(table.columns)}")
        for row in table.to_dict(orient="records"):
            name = str(row["model"])
            if key is None:
                prefix = None if name == model else (oracle if name == oracle else f"baseline_{name}")
            elif name == model:
                prefix = f"{key}_{row[key]}"
            else:
                continue  # per-fold / per-segment numbers of baselines stay in the table artifacts
            for metric, value in _row_metrics(row).items():
                put(metric_name(prefix, metric), value)
    return out


def folds_json(folds: Sequence[Any]) -> list[dict[str, Any]]:
    return [f.as_dict() if hasattr(f, "as_dict") else dict(f) for f in folds]


def backtest_key(folds: Sequence[Any], data_digest: str | None) -> str:
    """Identity of a backtest: the data digest and the fold layout (dates), hashed.

    Two models' metrics are comparable only if they were judged on the same rows: the same data and the same
    folds. `churnml.lifecycle.registry` refuses to compare stored metrics whose keys differ.
    """
    payload = json.dumps({"data": data_digest, "folds": folds_json(folds)}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested params as flat "a.b" keys with string values (MLflow truncates values past 6000 chars)."""
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_params(value, prefix=f"{name}."))
        elif isinstance(value, list | tuple | set):
            out[name] = json.dumps(sorted(value) if isinstance(value, set) else list(value), default=str)
        else:
            out[name] = str(value)
    return out


def lineage_fields(lineage: Mapping[str, Any]) -> dict[str, str]:
    """Lineage as `data.<key>` params/tags (source, as-of range, row count, digest, ...), strings."""
    return flatten_params(lineage, prefix="data.")


def _first(mapping: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if mapping.get(key) is not None:
            return mapping[key]
    return None


def lineage_summary(lineage: Mapping[str, Any]) -> dict[str, Any]:
    """Source, digest, row count and as-of range, whatever the lineage dict calls them."""
    as_of = _first(lineage, "as_of_range", "as_of")
    lo = _first(lineage, "as_of_min", "as_of_start", "as_of_from")
    hi = _first(lineage, "as_of_max", "as_of_end", "as_of_to")
    if isinstance(as_of, Sequence) and not isinstance(as_of, str) and len(as_of) == 2:
        lo, hi = lo or as_of[0], hi or as_of[1]
    return {
        "source": _first(lineage, "source", "data_source", "path"),
        "digest": _first(lineage, "sha256", "frame_sha256", "digest", "data_digest"),
        "rows": _first(lineage, "rows", "row_count", "n_rows"),
        "as_of_min": None if lo is None else str(lo),
        "as_of_max": None if hi is None else str(hi),
    }
