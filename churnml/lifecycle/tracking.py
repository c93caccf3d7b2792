"""Experiment tracking: where runs go, and what one training run records.

Embedded by default: a SQLite store `<work_dir>/mlflow.db` and artifacts under `<work_dir>/mlartifacts`, so
`make demo` needs no server, and `work/` can be moved or copied (its artifact locations follow it:
`relocate_artifacts`). Any MLflow server is used instead by setting ``MLFLOW_TRACKING_URI`` (the
environment wins over the work directory). Nothing happens at import. MLflow's tracking and registry URIs are
process-wide; `use_tracking_store` is the one place churnml sets them, and `configure` calls it after checking a
remote server answers (`check_server`: seconds, not MLflow's minutes of retries).

A training run (`log_run` of a `churnml.lifecycle.run_record.RunRecord`) records parameters; overall, per-fold,
per-baseline, per-segment and oracle metrics grouped by `/` (`roc_auc`, `backtest/fold_2/roc_auc`,
`baseline/logistic/roc_auc`, `backtest/segment_SMB/roc_auc`, `oracle/roc_auc`); one child run per baseline (and
the oracle) with the main model's metric names, for MLflow's compare view; the training data's lineage (params,
tags and an MLflow dataset input); plots and backtest tables as artifacts; and exactly one pyfunc model (see
`churnml.model.pyfunc`). The run starts when the training started (`RunRecord.started_at`), so its duration is
the training time.
"""

from __future__ import annotations

import json
import logging
import os
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

if TYPE_CHECKING:
    from mlflow import MlflowClient

logger = logging.getLogger(__name__)

ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"
DB_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
#: Run tags written by `log_run` (read back by `churnml.lifecycle.registry`).
TAG_MODEL_ID = "churnml.model_id"
TAG_BACKTEST = "churnml.backtest_key"
TAG_DATA_DIGEST = "churnml.data.digest"

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


#: (table, column) of the embedded SQLite store that hold artifact URIs (MLflow 3's schema).
ARTIFACT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "storage_location"),
)


def relocate_artifacts(work_dir: Path | str) -> int:
    """Re-root the embedded store's artifact URIs at `<work_dir>/mlartifacts` when the work directory was moved or
    copied; returns the rows rewritten (0 when nothing had moved, or there is no embedded store).

    MLflow resolves artifact URIs as absolute paths only, so the store records `file://<work_dir>/mlartifacts/...`.
    A moved `work/` would then read the old place's artifacts (or fail), and a copy would read and write the
    original's. The locations are relative to the work directory in effect: every URI under an experiment root
    `file://<elsewhere>/mlartifacts` is rewritten to the same path under this work directory's `mlartifacts`, in
    one transaction. Remote stores and artifact roots that are not a work directory's are left alone.
    """
    import sqlite3

    db = Path(work_dir) / DB_FILE
    if not db.exists():
        return 0
    new_root = artifact_location(work_dir)
    con = sqlite3.connect(db, timeout=30)
    try:
        have = {t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "experiments" not in have:
            return 0
        roots = {loc for (loc,) in con.execute("SELECT artifact_location FROM experiments")
                 if isinstance(loc, str) and loc.startswith("file://") and loc.rstrip("/").endswith("/" + ARTIFACTS_DIR)
                 and loc.rstrip("/") != new_root}
        changed = 0
        with con:  # one transaction: all rows move, or none
            for old in roots:
                old = old.rstrip("/")
                for table, column in ARTIFACT_COLUMNS:
                    if table not in have:
                        continue
                    cur = con.execute(
                        f'UPDATE "{table}" SET "{column}" = ? || substr("{column}", ?) '
                        f'WHERE substr("{column}", 1, ?) = ? AND (length("{column}") = ? '
                        f'OR substr("{column}", ?, 1) = \'/\')',
                        (new_root, len(old) + 1, len(old), old, len(old), len(old) + 1),
                    )
                    changed += cur.rowcount
        if changed:
            logger.info("work directory moved: %d artifact location(s) re-rooted at %s", changed, new_root)
        return changed
    finally:
        con.close()


class TrackingUnavailable(RuntimeError):
    """The tracking server does not answer; the message is one line naming the URI and what to do."""


def use_tracking_store(uri: str) -> None:
    """Make `uri` the process-wide MLflow tracking and registry URI: the one place churnml sets them.

    MLflow's model logging and `models:/` loading are fluent-only (they read the process-wide URIs), so a
    process that logs or loads models points them at its store here: `configure` does it, and so does anything
    that loads a model for a store of its own (the API's model holder).
    """
    import mlflow

    before = os.environ.get(ENV_TRACKING_URI)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    # MLflow also writes the URI to $MLFLOW_TRACKING_URI, which `tracking_uri` reads as the user's choice: a second
    # work directory in the same process would then resolve to the first one's store. Keep the user's value.
    if before is None:
        os.environ.pop(ENV_TRACKING_URI, None)
    else:
        os.environ[ENV_TRACKING_URI] = before


#: Seconds `check_server` waits for a remote tracking server before giving up.
PROBE_TIMEOUT_S = 5.0


def check_server(uri: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Fail fast when a remote (http/https) tracking server does not answer, instead of MLflow's minutes of retries.

    One GET of the server's `/health` endpoint with a short timeout; any HTTP answer counts as alive (a server
    behind a proxy may not serve `/health`). Local stores (SQLite, files, Databricks profiles) are not probed.

    Raises:
        TrackingUnavailable: nothing answers at `uri` within `timeout` seconds.
    """
    import urllib.error
    import urllib.request

    if not uri.startswith(("http://", "https://")):
        return
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # http(s) only, checked above
            return
    except urllib.error.HTTPError:
        return  # it answered
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingUnavailable(
            f"MLflow tracking server {uri} does not answer ({reason}); start it, or unset "
            f"{ENV_TRACKING_URI} to use the embedded store"
        ) from None


def configure(work_dir: Path | str, experiment: str = DEFAULT_EXPERIMENT) -> MlflowClient:
    """Point MLflow at the tracking store for `work_dir` and make sure `experiment` exists.

    Checks a remote server answers first (`check_server`: seconds, not MLflow's minutes of retries), then sets
    the process-wide tracking and registry URI (`use_tracking_store`). For the embedded store it creates
    `work_dir` and gives a new experiment `<work_dir>/mlartifacts` as its artifact location (otherwise MLflow
    would write `./mlruns` relative to the current directory), and re-roots the artifact locations of a work
    directory that was moved (`relocate_artifacts`); a remote server chooses its own artifact location.

    Returns:
        A client bound to that URI.

    Raises:
        TrackingUnavailable: a remote tracking server does not answer.
    """
    from mlflow import MlflowClient

    uri = tracking_uri(work_dir)
    check_server(uri)
    embedded = is_embedded(uri, work_dir)
    if embedded:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
        relocate_artifacts(work_dir)  # a moved or copied work/ reads and writes its own artifacts
    use_tracking_store(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    if client.get_experiment_by_name(experiment) is None:
        location = artifact_location(work_dir) if embedded else None
        client.create_experiment(experiment, artifact_location=location)
    return client


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
