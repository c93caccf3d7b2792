"""What one training run records in MLflow (`log_run` of a `churnml.lifecycle.run_record.RunRecord`).

Parameters; overall, per-fold, per-baseline, per-segment and oracle metrics grouped by `/` (`roc_auc`,
`backtest/fold_2/roc_auc`, `baseline/logistic/roc_auc`, `backtest/segment_SMB/roc_auc`, `oracle/roc_auc`); one
child run per baseline (and the oracle) with the main model's metric names, for MLflow's compare view; the training
data's lineage (params, tags and an MLflow dataset input); plots and backtest tables as artifacts; and exactly one
pyfunc model (see `churnml.model.pyfunc`). The run starts when the training started (`RunRecord.started_at`), so
its duration is the training time. Where the run goes is `churnml.lifecycle.tracking`.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from churnml.lifecycle.run_record import (
    DEFAULT_EXPERIMENT,
    RunRecord,
    backtest_key,
    backtest_metrics,
    child_metrics,
    finite_or_none,
    flatten_params,
    folds_json,
    lineage_fields,
    lineage_summary,
    table_records,
)
from churnml.lifecycle.tracking import TAG_BACKTEST, TAG_DATA_DIGEST, TAG_MODEL_ID, use_tracking_store

if TYPE_CHECKING:
    from mlflow import MlflowClient

logger = logging.getLogger(__name__)

_BATCH = 100  # MLflow's per-call limit on params and tags (metrics: 1000)


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
    frame = table if isinstance(table, pd.DataFrame) else pd.DataFrame(table_records(table))
    frame.to_csv(folder / f"{name}.csv", index=False)
    frame.to_json(folder / f"{name}.json", orient="records", date_format="iso", indent=1)


def _run_fields(record: RunRecord) -> tuple[dict[str, str], dict[str, str], list[Any]]:
    """The record's params, tags and metrics as MLflow writes them."""
    params = flatten_params(record.params)
    if hasattr(record.model, "get_params"):
        params.update(flatten_params(record.model.get_params(deep=False), prefix="model."))
    params.update(lineage_fields(record.lineage))
    summary = lineage_summary(record.lineage)
    tags = {f"data.{k}": str(v) for k, v in summary.items() if v is not None}
    if summary["digest"]:
        tags[TAG_DATA_DIGEST] = str(summary["digest"])
    if record.backtest:
        tags[TAG_BACKTEST] = record.backtest
    tags.update({k: str(v) for k, v in record.tags.items()})
    return params, tags, _metrics(record.metrics)


def _metrics(values: Mapping[str, float]) -> list[Any]:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    return [Metric(k, x, now, 0) for k, v in values.items() if (x := finite_or_none(v)) is not None]


#: Tag on a training run's child runs: "baseline" or "oracle" (the main run has none).
TAG_ROLE = "churnml.role"


def _log_children(client: MlflowClient, experiment_id: str, parent_id: str, record: RunRecord,
                  start_ms: int) -> None:
    """One finished child run per baseline (and the oracle) under the training run: its metrics only."""
    from churnml.lifecycle.run_record import ORACLE

    for name, values in record.children.items():
        child = client.create_run(experiment_id, start_time=start_ms, run_name=name, tags={
            "mlflow.parentRunId": parent_id, TAG_ROLE: "oracle" if name == ORACLE else "baseline",
            "churnml.model": name})
        for chunk in _chunks(_metrics(values), 1000):
            client.log_batch(child.info.run_id, metrics=chunk)
        client.set_terminated(child.info.run_id, "FINISHED")


def _log_artifacts(client: MlflowClient, run_id: str, record: RunRecord) -> None:
    """Backtest tables, lineage, documents and plots, in one upload."""
    with tempfile.TemporaryDirectory(prefix="churnml-run-") as tmp:
        root = Path(tmp)
        if record.tables:
            (root / "backtest").mkdir()
            for name, table in record.tables.items():
                _write_table(root / "backtest", name, table)
        if record.lineage:
            (root / "lineage.json").write_text(json.dumps(dict(record.lineage), indent=1, default=str))
        for name, text in record.documents.items():
            (root / name).write_text(text)
        if record.plots:
            (root / "plots").mkdir()
            for name, fig in record.plots.items():
                fig.savefig(root / "plots" / f"{name}.png", dpi=110, bbox_inches="tight")
        if any(root.iterdir()):
            client.log_artifacts(run_id, str(root))


def log_run(client: MlflowClient, record: RunRecord) -> LoggedRun:
    """Log one training run and its single pyfunc model (see `RunRecord` for what is logged); returns where it went.

    Args:
        client: from `configure`; the model is logged fluently, to this client's store.
        record: the run's model, example rows, params, metrics, tables, lineage, plots, documents and tags.
    """
    import mlflow
    from mlflow.entities import Param, RunTag

    from churnml.model.pyfunc import MODEL_NAME as ARTIFACT_PATH
    from churnml.model.pyfunc import log_churn_model, model_signature, pyfunc_input

    use_tracking_store(client.tracking_uri)
    exp = client.get_experiment_by_name(record.experiment)
    experiment_id = exp.experiment_id if exp is not None else client.create_experiment(record.experiment)
    params, tags, metrics = _run_fields(record)
    parent = mlflow.active_run()
    start_ms = int((record.started_at if record.started_at is not None else time.time()) * 1000)
    created = client.create_run(experiment_id, start_time=start_ms, run_name=record.run_name,
                                tags={"mlflow.parentRunId": parent.info.run_id} if parent is not None else None)
    with mlflow.start_run(run_id=created.info.run_id, nested=parent is not None):
        run_id = created.info.run_id
        for chunk in _chunks([Param(k, v) for k, v in params.items()], _BATCH):
            client.log_batch(run_id, params=chunk)
        for chunk in _chunks([RunTag(k, v) for k, v in tags.items()], _BATCH):
            client.log_batch(run_id, tags=chunk)
        for chunk in _chunks(metrics, 1000):
            client.log_batch(run_id, metrics=chunk)
        if record.lineage:
            signature = model_signature(record.model, pyfunc_input(record.model, record.example.head(5)))
            schema = json.dumps({"mlflow_colspec": signature.inputs.to_dict()})
            _log_lineage(client, run_id, record.lineage, schema)
        _log_artifacts(client, run_id, record)
        _log_children(client, experiment_id, run_id, record, start_ms)
        info = log_churn_model(record.model, record.example, name=ARTIFACT_PATH)
        if info.model_id:
            client.set_tag(run_id, TAG_MODEL_ID, info.model_id)
    logger.info("logged run %s (model %s)", run_id, info.model_uri)
    return LoggedRun(
        run_id=run_id,
        experiment_id=experiment_id,
        model_uri=info.model_uri,
        run_model_uri=f"runs:/{run_id}/{ARTIFACT_PATH}",
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
    started_at: float | None = None,
) -> LoggedRun:
    """Log a `churnml.training.train.TrainingResult`: its metrics tables, lineage, figures, report and final model.

    Args:
        client: from `configure`.
        result: the training result (`model`, `backtest`, `metrics`, `lineage`, `figures`, `params`).
        example: a few rows of the training frame (input example and signature).
        source: where the training data came from (path or URI), added to the lineage as `source`.
        params: run parameters beside the model's own (e.g. the training config).
        started_at: when training began (epoch seconds): the run's start, so its duration is the training time.
    """
    tables = dict(result.metrics)
    metric_tables = (tables.get("overall"), tables.get("per_fold"), tables.get("per_segment"))
    metrics = backtest_metrics(*metric_tables)
    lineage = dict(result.lineage)
    if source is not None:
        lineage["source"] = str(source)
    folds = list(getattr(getattr(result, "backtest", None), "folds", []) or [])
    if folds:
        tables["folds"] = pd.DataFrame(folds_json(folds))
    documents = {"training_result.json": result.to_json()} if hasattr(result, "to_json") else {}
    return log_run(client, RunRecord(
        result.model, example, experiment=experiment, run_name=run_name, params=params or {}, metrics=metrics,
        tables=tables, lineage=lineage, plots=getattr(result, "figures", None) or {}, documents=documents,
        tags=tags or {}, backtest=backtest_key(folds, lineage_summary(lineage)["digest"]),
        children=child_metrics(*metric_tables), started_at=started_at,
    ))
