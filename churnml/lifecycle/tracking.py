"""Experiment tracking: where runs go.

Embedded by default: a SQLite store `<work_dir>/mlflow.db` and artifacts under `<work_dir>/mlartifacts`, so
`make demo` needs no server, and `work/` can be moved or copied (its artifact locations follow it:
`relocate_artifacts`). Any MLflow server is used instead by setting ``MLFLOW_TRACKING_URI`` (the
environment wins over the work directory). Nothing happens at import. MLflow's tracking and registry URIs are
process-wide; `use_tracking_store` is the one place churnml sets them, and `configure` calls it after checking a
remote server answers (`check_server`: seconds, not MLflow's minutes of retries). What one training run records
is `churnml.lifecycle.run_log`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from churnml.lifecycle.run_record import DEFAULT_EXPERIMENT

if TYPE_CHECKING:
    from mlflow import MlflowClient

logger = logging.getLogger(__name__)

ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"
DB_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
#: Run tags written by `churnml.lifecycle.run_log.log_run` (read back by `churnml.lifecycle.registry`).
TAG_MODEL_ID = "churnml.model_id"
TAG_BACKTEST = "churnml.backtest_key"
TAG_DATA_DIGEST = "churnml.data.digest"


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


def quiet_mlflow() -> None:
    """MLflow's INFO lines ("Creating initial MLflow database tables...", alembic's migrations) and its artifact
    download bars are noise in churnml's output: show its warnings only, unless the user chose a level with
    $MLFLOW_LOGGING_LEVEL or asked for the bars with $MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR."""
    if "MLFLOW_LOGGING_LEVEL" not in os.environ:
        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def use_tracking_store(uri: str) -> None:
    """Make `uri` the process-wide MLflow tracking and registry URI: the one place churnml sets them.

    MLflow's model logging and `models:/` loading are fluent-only (they read the process-wide URIs), so a
    process that logs or loads models points them at its store here: `configure` does it, and so does anything
    that loads a model for a store of its own (the API's model holder).
    """
    import mlflow

    quiet_mlflow()
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
