"""What one training run records, pure: the run record, metric names, params, lineage, backtest identity.

Metric names are grouped with `/` (MLflow's UI groups on it): the main model's headline metrics stay bare
(`roc_auc`: what runs are sorted and versions compared by), its folds and segments are under `backtest/`
(`backtest/fold_0/roc_auc`, `backtest/segment_SMB/roc_auc`), every other model under `baseline/<name>/` and the
simulator's oracle under `oracle/`. Each baseline (and the oracle) is also logged as a child run with the main
model's names (`model_metrics`), so MLflow's compare view puts them side by side.

`churnml.lifecycle.run_log.log_run` writes a `RunRecord` to MLflow; everything here is computed without MLflow,
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
    """Everything one training run logs (see `churnml.lifecycle.run_log.log_run`).

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
        children: child run name -> its metrics (the baselines and the oracle, see `child_metrics`).
        started_at: when the work the run records began (epoch seconds; default: when logging starts), so the
            run's duration in MLflow is the training time, not the logging time.
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
    children: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    started_at: float | None = None


def metric_name(*parts: Any) -> str:
    """An MLflow-safe metric name from parts joined by "_" (unsafe characters become "_")."""
    return _NAME_RE.sub("_", "_".join(str(p) for p in parts if p is not None and str(p) != ""))


def metric_path(*parts: Any) -> str:
    """An MLflow-safe metric name from parts joined by "/" (a "/" inside a part, e.g. a segment, becomes "_")."""
    return "/".join(metric_name(str(p).replace("/", "_")) for p in parts if p is not None and str(p) != "")


#: What a namespaced (non-headline) metric name starts with; `fold_`... are the names of runs before the namespaces.
NAMESPACES = ("backtest/", "baseline/", "oracle/")
LEGACY_PREFIXES = ("fold_", "segment_", "baseline_", "oracle_")


def is_headline(name: str) -> bool:
    """Whether `name` is one of the main model's headline metrics (not a fold, segment, baseline or oracle one)."""
    return "/" not in name and not name.startswith(LEGACY_PREFIXES)


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


def _checked(table: pd.DataFrame | None, key: str | None) -> list[dict[str, Any]]:
    if table is None or len(table) == 0:
        return []
    required = ["model"] + ([key] if key else [])
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ValueError(f"backtest table lacks column(s) {missing}; columns: {list(table.columns)}")
    return table.to_dict(orient="records")


def _put(out: dict[str, float], name: str, value: float) -> None:
    if name in out:
        raise ValueError(f"metric {name!r} appears twice in the backtest tables")
    out[name] = value


def model_metrics(
    overall: pd.DataFrame | None,
    per_fold: pd.DataFrame | None = None,
    per_segment: pd.DataFrame | None = None,
    *,
    model: str = MAIN_MODEL,
) -> dict[str, float]:
    """One model's metrics from churnml's long metric tables: overall bare (`roc_auc`), per fold and segment
    under `backtest/` (`backtest/fold_2/roc_auc`, `backtest/segment_SMB/roc_auc`). Non-finite values are left
    out (e.g. ROC-AUC of a one-class fold): MLflow would store them but comparisons on them mislead.

    Raises:
        ValueError: a table lacks the `model` column (or `fold` / `segment`), or a (model, fold/segment) appears
            twice.
    """
    out: dict[str, float] = {}
    for table, key in ((overall, None), (per_fold, "fold"), (per_segment, "segment")):
        for row in _checked(table, key):
            if str(row["model"]) != model:
                continue
            prefix = () if key is None else ("backtest", f"{key}_{row[key]}")
            for metric, value in _row_metrics(row).items():
                _put(out, metric_path(*prefix, metric), value)
    return out


def other_models(overall: pd.DataFrame | None, model: str = MAIN_MODEL) -> list[str]:
    """The models in `overall` other than the main one (baselines, the champion's configuration, the oracle)."""
    return [str(m) for m in dict.fromkeys(r["model"] for r in _checked(overall, None)) if str(m) != model]


def backtest_metrics(
    overall: pd.DataFrame | None,
    per_fold: pd.DataFrame | None = None,
    per_segment: pd.DataFrame | None = None,
    *,
    model: str = MAIN_MODEL,
    oracle: str = ORACLE,
) -> dict[str, float]:
    """The main run's metric names (see the module docstring) from churnml's long metric tables.

    Tables have a `model` column (and `fold` / `segment`) plus one column per metric. The main `model` gives
    `roc_auc`, `backtest/fold_<k>/roc_auc` and `backtest/segment_<s>/roc_auc`; the oracle gives
    `oracle/roc_auc`; every other model is a baseline, `baseline/<name>/roc_auc` (overall only: its folds are
    on its child run, see `child_metrics`, and in the table artifacts). Non-finite values are left out.

    Raises:
        ValueError: a table lacks the `model` column, or a (model, fold/segment) appears twice.
    """
    out = model_metrics(overall, per_fold, per_segment, model=model)
    for row in _checked(overall, None):
        name = str(row["model"])
        if name == model:
            continue
        prefix = (oracle,) if name == oracle else ("baseline", name)
        for metric, value in _row_metrics(row).items():
            _put(out, metric_path(*prefix, metric), value)
    return out


def child_metrics(
    overall: pd.DataFrame | None,
    per_fold: pd.DataFrame | None = None,
    per_segment: pd.DataFrame | None = None,
    *,
    model: str = MAIN_MODEL,
) -> dict[str, dict[str, float]]:
    """Every other model's metrics under the main model's names (`roc_auc`, `backtest/fold_0/roc_auc`), by
    model: one child run each, so MLflow's compare view lines them up with the main run."""
    return {name: model_metrics(overall, per_fold, per_segment, model=name) for name in other_models(overall, model)}


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
