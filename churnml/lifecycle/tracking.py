"""Experiment tracking: where runs go, and what one training run records.

Embedded by default: a SQLite store `<work_dir>/mlflow.db` and artifacts under `<work_dir>/mlartifacts`, so
`make demo` needs no server. Any MLflow server is used instead by setting ``MLFLOW_TRACKING_URI`` (the
environment wins over the work directory). Nothing happens at import: `configure` sets the URI when called.

A training run records parameters; overall, per-fold, per-baseline, per-segment and oracle metrics under flat
names (`roc_auc`, `fold_2_roc_auc`, `baseline_logreg_roc_auc`, `segment_SMB_roc_auc`, `oracle_roc_auc`);
the training data's lineage (params, tags and an MLflow dataset input); plots and backtest tables as
artifacts; and exactly one pyfunc model (see `churnml.model.pyfunc`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from mlflow import MlflowClient

logger = logging.getLogger(__name__)

ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"
DB_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
DEFAULT_EXPERIMENT = "churnml"
MAIN_MODEL = "lightgbm"
ORACLE = "oracle"
#: Run tags written by `log_run` (read back by `churnml.lifecycle.registry`).
TAG_MODEL_ID = "churnml.model_id"
TAG_BACKTEST = "churnml.backtest_key"
TAG_DATA_DIGEST = "churnml.data.digest"

_KEY_COLUMNS = ("model", "fold", "segment")
_NAME_RE = re.compile(r"[^A-Za-z0-9_\-./ ]")
_BATCH = 100  # MLflow's per-call limit on params and tags (metrics: 1000)


# --------------------------------------------------------------------------- where runs go


def tracking_uri(work_dir: Path | str) -> str:
    """Tracking URI: ``$MLFLOW_TRACKING_URI`` if set, else SQLite at `<work_dir>/mlflow.db` (absolute)."""
    env = os.environ.get(ENV_TRACKING_URI, "").strip()
    if env:
        return env
    return "sqlite:///" + str((Path(work_dir) / DB_FILE).resolve())


def artifact_location(work_dir: Path | str) -> str:
    """Artifact root of the embedded store: `<work_dir>/mlartifacts` as a file URI."""
    return (Path(work_dir) / ARTIFACTS_DIR).resolve().as_uri()


def is_embedded(uri: str, work_dir: Path | str) -> bool:
    """True when `uri` is the work directory's own SQLite store."""
    return uri == "sqlite:///" + str((Path(work_dir) / DB_FILE).resolve())


def configure(work_dir: Path | str, experiment: str = DEFAULT_EXPERIMENT) -> MlflowClient:
    """Point MLflow at the tracking store for `work_dir` and make sure `experiment` exists.

    Sets the process-wide tracking and registry URI (MLflow's model logging is fluent-only). For the embedded
    store it creates `work_dir` and gives a new experiment `<work_dir>/mlartifacts` as its artifact location
    (otherwise MLflow would write `./mlruns` relative to the current directory); a remote server chooses its
    own artifact location.

    Returns:
        A client bound to that URI.
    """
    import mlflow
    from mlflow import MlflowClient

    uri = tracking_uri(work_dir)
    embedded = is_embedded(uri, work_dir)
    if embedded:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    if client.get_experiment_by_name(experiment) is None:
        location = artifact_location(work_dir) if embedded else None
        client.create_experiment(experiment, artifact_location=location)
    return client


# --------------------------------------------------------------------------- pure helpers


def metric_name(*parts: Any) -> str:
    """An MLflow-safe metric name from parts joined by "_" (unsafe characters become "_")."""
    return _NAME_RE.sub("_", "_".join(str(p) for p in parts if p is not None and str(p) != ""))


def _finite(value: Any) -> float | None:
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
        x = _finite(value)
        if x is not None:
            out[str(key)] = x
    return out


def _records(table: pd.DataFrame | Mapping[str, Any] | None) -> list[dict[str, Any]]:
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


def _folds_json(folds: Sequence[Any]) -> list[dict[str, Any]]:
    return [f.as_dict() if hasattr(f, "as_dict") else dict(f) for f in folds]


def backtest_key(folds: Sequence[Any], data_digest: str | None) -> str:
    """Identity of a backtest: the data digest and the fold layout (dates), hashed.

    Two models' metrics are comparable only if they were judged on the same rows: the same data and the same
    folds. `churnml.lifecycle.registry` refuses to compare stored metrics whose keys differ.
    """
    payload = json.dumps({"data": data_digest, "folds": _folds_json(folds)}, sort_keys=True, default=str)
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


# --------------------------------------------------------------------------- logging a run


@dataclass(frozen=True)
class LoggedRun:
    """Where a training run went: its id, and the URIs of its one model."""

    run_id: str
    experiment_id: str
    model_uri: str  # models:/<model_id>
    run_model_uri: str  # runs:/<run_id>/model
    model_id: str | None


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _log_lineage(client: MlflowClient, run_id: str, lineage: Mapping[str, Any], schema: str | None) -> None:
    from mlflow.entities import Dataset, DatasetInput, InputTag

    summary = lineage_summary(lineage)
    if not summary["source"] or not summary["digest"]:
        logger.info("lineage has no source or digest; no dataset input logged")
        return
    source = str(summary["source"])
    source_type = source.split("://", 1)[0] if "://" in source else "local"
    dataset = Dataset(
        name=Path(source.rstrip("/")).name or "training_frame",
        # MLflow's SQL stores keep at most 36 characters of a dataset digest; the full one is a tag/param.
        digest=str(summary["digest"])[:36],
        source_type=source_type,
        source=json.dumps({"uri": source}),
        schema=schema,
        profile=json.dumps({k: summary[k] for k in ("rows", "as_of_min", "as_of_max")}, default=str),
    )
    client.log_inputs(run_id, [DatasetInput(dataset, tags=[InputTag("mlflow.data.context", "training")])])


def _write_table(folder: Path, name: str, table: pd.DataFrame | Mapping[str, Any]) -> None:
    frame = table if isinstance(table, pd.DataFrame) else pd.DataFrame(_records(table))
    frame.to_csv(folder / f"{name}.csv", index=False)
    frame.to_json(folder / f"{name}.json", orient="records", date_format="iso", indent=1)


def log_run(
    client: MlflowClient,
    model: Any,
    example: pd.DataFrame,
    *,
    experiment: str = DEFAULT_EXPERIMENT,
    run_name: str | None = None,
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
    tables: Mapping[str, pd.DataFrame | Mapping[str, Any]] | None = None,
    lineage: Mapping[str, Any] | None = None,
    plots: Mapping[str, Any] | None = None,
    documents: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    backtest: str | None = None,
) -> LoggedRun:
    """Log one training run and its single pyfunc model; returns where it went.

    Args:
        client: from `configure` (its URI becomes the process-wide one for model logging).
        model: the final fitted `ChurnModel`.
        example: a few rows of the feature frame (input example and signature; extra columns ignored).
        experiment: experiment name (created if absent, with the server's default artifact location).
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
    import mlflow
    from mlflow.entities import Metric, Param, RunTag

    from churnml.model.pyfunc import MODEL_NAME, log_churn_model, model_signature, pyfunc_input

    mlflow.set_tracking_uri(client.tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    experiment_id = exp.experiment_id if exp is not None else client.create_experiment(experiment)

    all_params = flatten_params(params or {})
    if hasattr(model, "get_params"):
        all_params.update(flatten_params(model.get_params(deep=False), prefix="model."))
    lineage = dict(lineage or {})
    all_params.update(lineage_fields(lineage))
    summary = lineage_summary(lineage)
    all_tags = {f"data.{k}": str(v) for k, v in summary.items() if v is not None}
    if summary["digest"]:
        all_tags[TAG_DATA_DIGEST] = str(summary["digest"])
    if backtest:
        all_tags[TAG_BACKTEST] = backtest
    all_tags.update({k: str(v) for k, v in (tags or {}).items()})
    now = int(time.time() * 1000)
    metric_list = [Metric(k, x, now, 0) for k, v in (metrics or {}).items() if (x := _finite(v)) is not None]

    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, nested=mlflow.active_run() is not None):
        run_id = mlflow.active_run().info.run_id
        for chunk in _chunks([Param(k, v) for k, v in all_params.items()], _BATCH):
            client.log_batch(run_id, params=chunk)
        for chunk in _chunks([RunTag(k, v) for k, v in all_tags.items()], _BATCH):
            client.log_batch(run_id, tags=chunk)
        for chunk in _chunks(metric_list, 1000):
            client.log_batch(run_id, metrics=chunk)
        if lineage:
            signature = model_signature(model, pyfunc_input(model, example.head(5)))
            schema = json.dumps({"mlflow_colspec": signature.inputs.to_dict()})
            _log_lineage(client, run_id, lineage, schema)
        with tempfile.TemporaryDirectory(prefix="churnml-run-") as tmp:
            root = Path(tmp)
            if tables:
                (root / "backtest").mkdir()
                for name, table in tables.items():
                    _write_table(root / "backtest", name, table)
            if lineage:
                (root / "lineage.json").write_text(json.dumps(lineage, indent=1, default=str))
            for name, text in (documents or {}).items():
                (root / name).write_text(text)
            if plots:
                (root / "plots").mkdir()
                for name, fig in plots.items():
                    fig.savefig(root / "plots" / f"{name}.png", dpi=110, bbox_inches="tight")
            if any(root.iterdir()):
                client.log_artifacts(run_id, str(root))
        info = log_churn_model(model, example, name=MODEL_NAME)
        if info.model_id:
            client.set_tag(run_id, TAG_MODEL_ID, info.model_id)
    logger.info("logged run %s (model %s)", run_id, info.model_uri)
    return LoggedRun(
        run_id=run_id,
        experiment_id=experiment_id,
        model_uri=info.model_uri,
        run_model_uri=f"runs:/{run_id}/{MODEL_NAME}",
        model_id=info.model_id,
    )


def log_training(
    client: MlflowClient,
    result: Any,
    example: pd.DataFrame,
    *,
    source: str | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    run_name: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
) -> LoggedRun:
    """Log a `churnml.training.train.TrainingResult`: its metrics tables, lineage, figures, report and final model.

    Args:
        client: from `configure`.
        result: the training result (`model`, `backtest`, `metrics`, `lineage`, `figures`, `params`).
        example: a few rows of the training frame (input example and signature).
        source: where the training data came from (path or URI), added to the lineage as `source`.
        params: run parameters beside the model's own (e.g. the training config).
    """
    tables = dict(result.metrics)
    metrics = backtest_metrics(tables.get("overall"), tables.get("per_fold"), tables.get("per_segment"))
    lineage = dict(result.lineage)
    if source is not None:
        lineage["source"] = str(source)
    folds = list(getattr(getattr(result, "backtest", None), "folds", []) or [])
    if folds:
        tables["folds"] = pd.DataFrame(_folds_json(folds))
    documents = {"training_result.json": result.to_json()} if hasattr(result, "to_json") else {}
    return log_run(
        client,
        result.model,
        example,
        experiment=experiment,
        run_name=run_name,
        params=params,
        metrics=metrics,
        tables=tables,
        lineage=lineage,
        plots=getattr(result, "figures", None),
        documents=documents,
        tags=tags,
        backtest=backtest_key(folds, lineage_summary(lineage)["digest"]),
    )
