"""The weekly job: validate new data → features → train challenger → backtest vs champion → drift → model health
(CBPE) → promote if better → score every active account → GRR/NRR forecast → push scores (and alert tasks), summary.

Safety contract:

- One run at a time: an exclusive `fcntl.flock` on `<work_dir>/retrain.lock`; a second run fails at once.
- Idempotent per week (ISO week of the as-of date): a week whose job succeeded is not run again (its summary is
  returned) unless forced; a failed week is simply re-run (scoring replaces that as-of date atomically and the
  push ledger only sends what was not acknowledged).
- On failure the champion alias and the stored scores are as they were: a challenger is registered but only
  promoted after training, backtest and drift succeeded; if scoring then fails, the previous champion is put
  back.
- Promotion and the week's scoring are one recoverable step: the job records its intent in
  `jobs/<week>/state.json` (`churnml.jobs.state`) before the alias may move, and again after each step. A run
  killed in between (no exception handler runs) leaves that record, and the next run finishes the week from it:
  if the alias had moved, the new champion (pinned by version) scores the week and the push follows; if it had
  not, the old champion is still in place and the week runs from the start. Nothing a re-run writes keeps a
  field of an earlier attempt.
- A failing push leaves the week's (complete, consistent) scores and their model in place and the
  unsent records in the ledger, to be resumed by the next run or `churnml push`. Every failure is raised as
  `RetrainError` with one line naming the week and the step.
- Model health and the forecast only inform (the summary says what they found), except that with
  `forecast.block_promotion_on_health` a challenger whose estimated health is flagged is not promoted. The
  forecast needs the outcome models (`churnml train-outcomes`); without them the summary says so.
- Every step is a nested MLflow run under one parent run `weekly <week>`; the summary goes to
  `<work_dir>/jobs/<week>/summary.md` and is logged on the parent run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from churnml.jobs.outlook import challenger_health, week_forecast
from churnml.jobs.state import JobState, RetrainError, job_lock, read_state, state_path, week_key, write_state
from churnml.jobs.summary import push_lines, render_summary
from churnml.scoring.drift import DriftReport, drift_report
from churnml.training.job import Challenger, train_challenger, training_frame

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from churnml.config import Settings
    from churnml.crm.push import PushReport
    from churnml.data.load import LoadedData
    from churnml.forecast.run import ForecastRun
    from churnml.lifecycle.registry import Decision, ModelRegistry
    from churnml.scoring.health import HealthCheck
    from churnml.scoring.job import ScoringRun

__all__ = ["RetrainError", "WeeklyResult", "run_weekly", "week_key"]


@dataclass
class WeeklyResult:
    """What the weekly job did."""

    week: str
    as_of: dt.date
    status: str  # succeeded | skipped
    summary_path: Path
    run_id: str | None = None
    version: int | None = None
    promoted: bool = False
    reason: str = ""
    champion: int | None = None
    scored: int = 0
    drift: DriftReport | None = None
    push: PushReport | None = None
    tasks: PushReport | None = None  # alert tasks (churnml.crm.task_push.TaskPushReport), with plays.deliver_tasks
    health: HealthCheck | None = None
    forecast: ForecastRun | None = None
    forecast_note: str = ""
    health_blocks: bool = False  # forecast.block_promotion_on_health, as the summary says it
    alerts_new: int | None = None  # alerts raised this week (churnml.plays); None when the step failed
    seconds: dict[str, float] = field(default_factory=dict)

    def state(self, status: str, **changes: object) -> JobState:
        """This result as the state file records it."""
        base = JobState(status, self.as_of.isoformat(), run_id=self.run_id, version=self.version,
                        champion=self.champion, promoted=self.promoted, reason=self.reason, scored=self.scored)
        return replace(base, **changes)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class _Steps:
    """Runs each step as a nested MLflow run, timing it and remembering which step is running."""

    def __init__(self) -> None:
        self.experiment_id: str | None = None
        self.current = "start"
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        import mlflow

        self.current = name
        t0 = time.perf_counter()
        with mlflow.start_run(run_name=name, nested=True, experiment_id=self.experiment_id):
            yield
            self.seconds[name] = round(time.perf_counter() - t0, 2)
            mlflow.log_metric("seconds", self.seconds[name])


def run_weekly(
    settings: Settings,
    *,
    as_of: dt.date | None = None,
    data: Path | None = None,
    push: bool | None = None,
    target: str | None = None,
    force: bool = False,
) -> WeeklyResult:
    """Run the whole week once (see the module docstring for the safety contract).

    Args:
        as_of: scoring date (default: the end of the data, `churnml.data.dates.default_as_of`).
        data: input folder or .duckdb file (default `settings.data.dir`).
        push: push the scores (default `settings.retrain.push`); `target` overrides `crm.target`.
        force: run again even if this week already succeeded.

    Raises:
        RetrainError: another run holds the lock, or a step failed (one line: week, step, cause).
    """
    with job_lock(settings.work_dir):
        return _run_locked(settings, as_of, data, settings.retrain.push if push is None else push, target, force)


@dataclass(frozen=True)
class _Week:
    """What every step of one week shares: validated once, at the start."""

    settings: Settings
    loaded: LoadedData
    source: Path
    as_of: dt.date
    week: str
    push: bool
    target: str | None

    @property
    def job_dir(self) -> Path:
        return state_path(self.settings.work_dir, self.week).parent

    @property
    def state_file(self) -> Path:
        return state_path(self.settings.work_dir, self.week)


def _run_locked(settings: Settings, as_of: dt.date | None, data: Path | None, push: bool, target: str | None,
                force: bool) -> WeeklyResult:
    from churnml.data.dates import resolve_as_of
    from churnml.data.load import load_data
    from churnml.lifecycle.registry import ModelRegistry

    source = Path(data) if data is not None else settings.data.dir
    try:
        registry = ModelRegistry.from_settings(settings)
        loaded = load_data(settings, source)
        as_of = resolve_as_of(loaded.tables, as_of, "run the weekly job")  # refused before training
    except Exception as exc:
        raise RetrainError(f"weekly job failed at validate: {_one_line(exc)}") from exc
    wk = _Week(settings, loaded, source, as_of, week_key(as_of), push, target)
    state = read_state(wk.state_file)
    if not force and state is not None:
        if state.status == "succeeded":
            return WeeklyResult(wk.week, as_of, "skipped", wk.job_dir / "summary.md", run_id=state.run_id,
                                version=state.version, promoted=state.promoted,
                                reason="this week already succeeded", champion=state.champion, scored=state.scored)
        if state.pending or (state.status == "failed" and state.step == "push" and push):
            finished = _finish(wk, registry, state)
            if finished is not None:
                return finished
    return _full_week(wk, registry)


def _alerts(wk: _Week) -> int | None:
    """Raise the week's alerts (churnml.plays.weekly.alert_week); a failure is logged, never fails the week."""
    import mlflow

    from churnml.plays.weekly import alert_week

    try:
        new = len(alert_week(wk.settings, wk.as_of).plan.new)
    except Exception as exc:  # the scores are the week's product; alerts can be raised again for the same week
        log.warning("weekly job %s: alerts not raised: %s", wk.week, _one_line(exc))
        return None
    mlflow.log_metric("alerts_new", float(new))
    return new


def _full_week(wk: _Week, registry: ModelRegistry) -> WeeklyResult:
    """Every step, from validation to push, under one parent MLflow run."""
    import mlflow

    steps = _Steps()
    before = registry.champion()
    out = WeeklyResult(wk.week, wk.as_of, "running", wk.job_dir / "summary.md", champion=before)
    write_state(wk.state_file, out.state("running", previous=before))
    challenger: Challenger | None = None
    scoring: ScoringRun | None = None
    promoted_now = scored_now = False
    experiment = registry.client.get_experiment_by_name(wk.settings.registry.experiment)
    try:
        with mlflow.start_run(experiment_id=experiment.experiment_id if experiment else None,
                              run_name=f"weekly {wk.week}") as parent:
            out.run_id, steps.experiment_id = parent.info.run_id, parent.info.experiment_id
            mlflow.set_tags({"churnml.job": "weekly", "churnml.week": wk.week,
                             "churnml.as_of": wk.as_of.isoformat()})
            with steps("validate"):
                mlflow.log_metrics({f"rows_{k}": float(v) for k, v in _row_counts(wk.loaded).items()})
            with steps("features"):
                frame, current, names, ageing = _features(wk)
                mlflow.log_metrics({"training_rows": float(len(frame)), "accounts_now": float(len(current))})
            with steps("train"):
                challenger = train_challenger(wk.settings, registry, frame, names, wk.source, run_name="challenger")
                out.version = challenger.version
            with steps("drift"):
                out.drift = _drift(wk.settings, frame, current, challenger.result.model, names, ageing)
                mlflow.log_metrics(out.drift.metrics())
                mlflow.log_text(out.drift.features.to_csv(index=False), "drift.csv")
            with steps("health"):
                out.health = challenger_health(wk.settings, challenger, current)
                out.health_blocks = wk.settings.forecast.block_promotion_on_health
                mlflow.log_metric("estimated_auc", float(out.health.portfolio["expected_auc"]))
            with steps("promote"):
                write_state(wk.state_file, out.state("promoting", previous=before))  # the intent, before the move
                decision = _promote(wk.settings, registry, challenger, out.drift, out.health)
                out.promoted, out.reason = decision.promote, decision.reason
                promoted_now = decision.promote
                out.champion = registry.champion()
                write_state(wk.state_file, out.state("scoring", previous=before))
                mlflow.log_metric("promoted", float(decision.promote))
            with steps("score"):
                scoring = _score(wk, out.champion, current)
                scored_now = True
                out.scored = len(scoring.scores)
                write_state(wk.state_file, out.state("scored", previous=before))
                mlflow.log_metric("accounts_scored", float(out.scored))
            with steps("forecast"):
                out.forecast, out.forecast_note = week_forecast(wk.settings, current, wk.as_of, wk.loaded.tables)
            with steps("alerts"):
                out.alerts_new = _alerts(wk)
            if wk.push:
                with steps("push"):
                    out.push, out.tasks = _push(wk.settings, wk.as_of, wk.target)
                    mlflow.log_metrics({"pushed_acked": float(out.push.acked),
                                        "pushed_rejected": float(len(out.push.rejected))})
            out.status, out.seconds = "succeeded", steps.seconds
            _write_summary(out, challenger, scoring, mlflow_log=True)
    except Exception as exc:
        if promoted_now and not scored_now and before is not None:
            _restore_champion(registry, before, wk.week, exc)
            out.champion = before
        if steps.current == "push":  # model and scores are this week's: a re-run only has the push left to do
            out.status = f"failed at push ({_one_line(exc)})"
            _write_summary(out, challenger, scoring)
        write_state(wk.state_file, out.state("failed", step=steps.current, error=_one_line(exc), previous=before))
        raise RetrainError(f"weekly job {wk.week} failed at {steps.current}: {_one_line(exc)}") from exc
    write_state(wk.state_file, out.state("succeeded"))
    return out


def _finish(wk: _Week, registry: ModelRegistry, state: JobState) -> WeeklyResult | None:
    """Complete a week an earlier run left unfinished (killed, or failed while pushing); None: start it over.

    `promoting` with the alias moved to the challenger, or `scoring`: the recorded champion scores the week, then
    the push. `scored` or failed at push: only the push. `promoting` with the alias not moved: the old champion is
    still in place and nothing needs putting back, so the week runs from the start.
    """
    import mlflow

    champion = registry.champion()
    out = WeeklyResult(wk.week, wk.as_of, "running", wk.job_dir / "summary.md", run_id=state.run_id,
                       version=state.version, promoted=state.promoted, reason=state.reason,
                       champion=state.champion, scored=state.scored)
    if state.status == "promoting":
        if state.version is None or champion != state.version:
            return None
        out.champion, out.promoted = champion, True
        out.reason = out.reason or "promoted by the interrupted run; this run finished the week"
    needs_scoring = state.status in ("promoting", "scoring")
    label = "score and push (resumed)" if needs_scoring else "push (resumed)"
    scoring: ScoringRun | None = None
    try:
        with mlflow.start_run(run_id=state.run_id) if state.run_id else mlflow.start_run(
                run_name=f"weekly {wk.week}") as parent:
            out.run_id = parent.info.run_id
            with mlflow.start_run(run_name=label, nested=True):
                t0 = time.perf_counter()
                if needs_scoring:
                    write_state(wk.state_file, out.state("scoring", previous=state.previous))
                    scoring = _score(wk, out.champion, None)
                    out.scored = len(scoring.scores)
                    write_state(wk.state_file, out.state("scored", previous=state.previous))
                if wk.push:
                    out.push, out.tasks = _push(wk.settings, wk.as_of, wk.target)
                    mlflow.log_metrics({"pushed_acked": float(out.push.acked),
                                        "pushed_rejected": float(len(out.push.rejected))})
                out.seconds[label] = round(time.perf_counter() - t0, 2)
    except Exception as exc:
        step = "score" if needs_scoring and scoring is None else "push"
        write_state(wk.state_file, out.state("failed", step=step, error=_one_line(exc), previous=state.previous))
        raise RetrainError(f"weekly job {wk.week} failed at {step} (resumed): {_one_line(exc)}") from exc
    out.status = "succeeded"
    if needs_scoring:
        _write_summary(out, None, scoring)
    elif out.push is not None:
        earlier = out.summary_path.read_text() if out.summary_path.exists() else ""
        more = push_lines(out.push, f"Push (resumed after the failure: {state.error or 'interrupted'})", out.tasks)
        out.summary_path.parent.mkdir(parents=True, exist_ok=True)
        out.summary_path.write_text("\n".join([earlier, *more]))
    write_state(wk.state_file, out.state("succeeded", resumed="score" if needs_scoring else "push"))
    return out


def _write_summary(out: WeeklyResult, challenger: Challenger | None, scoring: ScoringRun | None,
                   mlflow_log: bool = False) -> None:
    text = render_summary(out, challenger.overall if challenger is not None else None, scoring)
    out.summary_path.parent.mkdir(parents=True, exist_ok=True)
    out.summary_path.write_text(text)
    if mlflow_log:
        import mlflow

        mlflow.log_text(text, "summary.md")


def _restore_champion(registry: ModelRegistry, version: int, week: str, exc: BaseException) -> None:
    with contextlib.suppress(Exception):  # the original failure is what the user must see
        registry.promote(version, f"weekly job {week} failed after promotion ({_one_line(exc)}): restored")


def _row_counts(loaded: LoadedData) -> dict[str, int]:
    """Rows accepted and rejected per table, from the validation report."""
    tables = loaded.report.tables.items()
    return {f"{n}_{k}": int(getattr(t, f"rows_{k}")) for n, t in tables for k in ("ok", "rejected")}


def _features(wk: _Week) -> tuple[pd.DataFrame, pd.DataFrame, list[str], list[str]]:
    """The training frame (labels masked as of as_of), this week's frame with the training frame's columns, the
    feature names, and those of them that grow with account age (drift reports them apart)."""
    from churnml.features import feature_set, to_frame

    frame, fs, _ = training_frame(wk.settings, loaded=wk.loaded, as_of=wk.as_of)
    current = to_frame(feature_set(wk.loaded.tables, [wk.as_of], wk.settings.labels, features=wk.settings.features,
                                   model_features=list(fs.names)))
    if current.empty:
        raise ValueError(f"no account is active at {wk.as_of}: nothing to score")
    return frame, current, list(fs.names), [s.name for s in fs.specs if s.accumulates]


def _drift(settings: Settings, frame: pd.DataFrame, current: pd.DataFrame, model: object,
           names: list[str], accumulating: list[str]) -> DriftReport:
    """This week against the last `drift_weeks` weekly snapshots of the training window."""
    dates = sorted(pd.to_datetime(frame["as_of"]).unique())[-settings.retrain.drift_weeks:]
    reference = frame[pd.to_datetime(frame["as_of"]).isin(dates)]
    ref_scores = model.predict_proba(reference)[:, 1]  # type: ignore[attr-defined]
    cur_scores = model.predict_proba(current)[:, 1]  # type: ignore[attr-defined]
    return drift_report(reference, current, names, settings.retrain.drift, ref_scores, cur_scores, accumulating)


def _promote(settings: Settings, registry: ModelRegistry, challenger: Challenger, drift: DriftReport,
             health: HealthCheck | None = None) -> Decision:
    from churnml.lifecycle.registry import Decision

    if settings.retrain.drift.block_promotion and drift.breached and registry.champion() is not None:
        return Decision(False, f"not promoted: drift breach in {', '.join(drift.breaches[:5])} "
                               "(retrain.drift.block_promotion)")
    if (settings.forecast.block_promotion_on_health and health is not None and health.flagged
            and registry.champion() is not None):
        return Decision(False, f"not promoted: model health flagged ({health.alarms[0]}) "
                               "(forecast.block_promotion_on_health)")
    return registry.promote_if_better(challenger.version, champion_metrics=challenger.champion_metrics)


def _score(wk: _Week, champion: int | None, current: pd.DataFrame | None) -> ScoringRun:
    """The week's scores by the `champion` version (pinned), from the tables and feature frame already built."""
    from churnml.scoring.job import run_scoring

    return run_scoring(wk.settings, wk.as_of, version=champion, loaded=wk.loaded, features=current)


def _push(settings: Settings, as_of: dt.date, target: str | None) -> tuple[PushReport, PushReport | None]:
    from churnml.plays.delivery import push_week  # scores, then (plays.deliver_tasks) the routed alerts' tasks

    return push_week(settings, as_of, target)
