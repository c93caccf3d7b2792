"""The weekly job: validate new data → features → train challenger → backtest vs champion → drift → promote if
better → score every active account → push to the CRM, with a job summary.

Safety contract:

- One run at a time: an exclusive `fcntl.flock` on `<work_dir>/retrain.lock`; a second run fails at once.
- Idempotent per week (ISO week of the as-of date): a week whose job succeeded is not run again (its summary is
  returned) unless forced; a failed week is simply re-run (scoring replaces that as-of date atomically and the
  push ledger only sends what was not acknowledged).
- On failure the champion alias and the stored scores are as they were: a challenger is registered but only
  promoted after training, backtest and drift succeeded; if scoring then fails, the previous champion is put
  back. A failing push leaves the week's (complete, consistent) scores and their model in place and the
  unsent records in the ledger, to be resumed by the next run or `churnml push`. Every failure is raised as
  `RetrainError` with one line naming the week and the step.
- Every step is a nested MLflow run under one parent run `weekly <week>`; the summary goes to
  `<work_dir>/jobs/<week>/summary.md` and is logged on the parent run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from churnml.scoring.drift import DriftReport, drift_report
from churnml.training.train import train

if TYPE_CHECKING:
    from churnml.config import Settings
    from churnml.crm.push import PushReport
    from churnml.scoring.job import ScoringRun

LOCK_FILE = "retrain.lock"
JOBS_DIR = "jobs"


class RetrainError(ValueError):
    """The weekly job failed or could not start; the message is one line."""


def week_key(as_of: dt.date) -> str:
    """ISO week of the as-of date, e.g. `2025-W09` (the job's idempotency key)."""
    year, week, _ = as_of.isocalendar()
    return f"{year}-W{week:02d}"


@contextmanager
def job_lock(work_dir: Path) -> Iterator[Path]:
    """Hold `<work_dir>/retrain.lock` exclusively for the block (released by the OS if the process dies)."""
    path = Path(work_dir) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RetrainError(f"another weekly job is running (lock {path} is held)") from None
        try:
            yield path
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


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
    seconds: dict[str, float] = field(default_factory=dict)


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


def _metrics_table(overall: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in ("model", "roc_auc", "pr_auc", "brier", "lift_top10", "churned_mrr_share_top10")
            if c in overall.columns]
    return overall[cols]


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
        as_of: scoring date (default: the day after the latest activity in the data).
        data: input folder or .duckdb file (default `settings.data.dir`).
        push: push the scores (default `settings.retrain.push`); `target` overrides `crm.target`.
        force: run again even if this week already succeeded.

    Raises:
        RetrainError: another run holds the lock, or a step failed (one line: week, step, cause).
    """
    with job_lock(settings.work_dir):
        return _run_locked(settings, as_of, data, settings.retrain.push if push is None else push, target, force)


def _run_locked(settings: Settings, as_of: dt.date | None, data: Path | None, push: bool, target: str | None,
                force: bool) -> WeeklyResult:
    import mlflow

    from churnml.data.load import load_data
    from churnml.training.labels import observed_until

    source = Path(data) if data is not None else settings.data.dir
    steps = _Steps()
    try:
        loaded = load_data(settings, source)
        as_of = as_of or observed_until(loaded.tables)
    except Exception as exc:
        raise RetrainError(f"weekly job failed at validate: {_one_line(exc)}") from exc
    week = week_key(as_of)
    job_dir = settings.work_dir / JOBS_DIR / week
    state_file = job_dir / "state.json"
    if not force and state_file.exists():
        state = json.loads(state_file.read_text())
        if state.get("status") == "succeeded":
            return WeeklyResult(week, as_of, "skipped", job_dir / "summary.md", run_id=state.get("run_id"),
                                version=state.get("version"), promoted=bool(state.get("promoted")),
                                reason="this week already succeeded", champion=state.get("champion"),
                                scored=int(state.get("scored", 0)))
        if state.get("status") == "failed" and state.get("step") == "push" and push:
            return _resume_push(settings, as_of, week, job_dir, state, target)
    from churnml.training.job import registry_for

    registry = registry_for(settings)
    before = registry.champion()
    out = WeeklyResult(week, as_of, "running", job_dir / "summary.md", champion=before)
    promoted_now, scored_now = False, False
    experiment = registry.client.get_experiment_by_name(settings.registry.experiment)
    try:
        with mlflow.start_run(experiment_id=experiment.experiment_id if experiment else None,
                              run_name=f"weekly {week}") as parent:
            out.run_id, steps.experiment_id = parent.info.run_id, parent.info.experiment_id
            mlflow.set_tags({"churnml.job": "weekly", "churnml.week": week, "churnml.as_of": as_of.isoformat()})
            with steps("validate"):
                mlflow.log_metrics({f"rows_{k}": float(v) for k, v in _row_counts(loaded).items()})
            with steps("features"):
                frame, current, names = _features(settings, loaded, as_of)
                mlflow.log_metrics({"training_rows": float(len(frame)), "accounts_now": float(len(current))})
            with steps("train"):
                outcome = _train(settings, registry, frame, names, source)
                out.version = outcome["version"]
            with steps("drift"):
                out.drift = _drift(settings, frame, current, outcome["model"], names)
                mlflow.log_metrics(out.drift.metrics())
                mlflow.log_text(out.drift.features.to_csv(index=False), "drift.csv")
            with steps("promote"):
                decision = _promote(settings, registry, outcome, out.drift)
                out.promoted, out.reason = decision.promote, decision.reason
                promoted_now = decision.promote
                out.champion = registry.champion()
                mlflow.log_metric("promoted", float(decision.promote))
            with steps("score"):
                scoring = _score(settings, as_of, source)
                scored_now = True
                out.scored = len(scoring.scores)
                mlflow.log_metric("accounts_scored", float(out.scored))
            if push:
                with steps("push"):
                    out.push = _push(settings, as_of, target)
                    mlflow.log_metrics({"pushed_acked": float(out.push.acked),
                                        "pushed_rejected": float(len(out.push.rejected))})
            out.status, out.seconds = "succeeded", steps.seconds
            text = render_summary(out, outcome["overall"], scoring)
            job_dir.mkdir(parents=True, exist_ok=True)
            out.summary_path.write_text(text)
            mlflow.log_text(text, "summary.md")
    except Exception as exc:
        if promoted_now and not scored_now and before is not None:
            _restore_champion(registry, before, week, exc)
        failed = {"status": "failed", "step": steps.current, "error": _one_line(exc), "run_id": out.run_id}
        if steps.current == "push":  # model and scores are this week's: a re-run only has the push left to do
            failed.update(version=out.version, promoted=out.promoted, champion=out.champion, scored=out.scored,
                          reason=out.reason, as_of=as_of.isoformat())
            out.status = f"failed at push ({_one_line(exc)})"
            job_dir.mkdir(parents=True, exist_ok=True)
            out.summary_path.write_text(render_summary(out, outcome["overall"], scoring))
        _write_state(state_file, failed)
        raise RetrainError(f"weekly job {week} failed at {steps.current}: {_one_line(exc)}") from exc
    _write_state(state_file, {"status": "succeeded", "run_id": out.run_id, "version": out.version,
                              "promoted": out.promoted, "champion": out.champion, "scored": out.scored,
                              "as_of": as_of.isoformat()})
    return out


def _resume_push(settings: Settings, as_of: dt.date, week: str, job_dir: Path, state: dict[str, Any],
                 target: str | None) -> WeeklyResult:
    """The week failed while pushing: its model and scores stand, so only the push runs again (the push
    ledger resumes where it stopped: nothing is sent twice, nothing is lost). Appends to the week's summary."""
    import mlflow

    state_file = job_dir / "state.json"
    out = WeeklyResult(week, as_of, "running", job_dir / "summary.md", version=state.get("version"),
                       promoted=bool(state.get("promoted")), reason=state.get("reason", ""),
                       champion=state.get("champion"), scored=int(state.get("scored", 0)))
    try:
        with mlflow.start_run(run_id=state["run_id"]) if state.get("run_id") else mlflow.start_run(
                run_name=f"weekly {week}") as parent:
            out.run_id = parent.info.run_id
            with mlflow.start_run(run_name="push (resumed)", nested=True):
                t0 = time.perf_counter()
                out.push = _push(settings, as_of, target)
                out.seconds["push (resumed)"] = round(time.perf_counter() - t0, 2)
                mlflow.log_metrics({"pushed_acked": float(out.push.acked),
                                    "pushed_rejected": float(len(out.push.rejected))})
    except Exception as exc:
        _write_state(state_file, {**state, "error": _one_line(exc), "at_resume": True})
        raise RetrainError(f"weekly job {week} failed at push (resumed): {_one_line(exc)}") from exc
    out.status = "succeeded"
    earlier = out.summary_path.read_text() if out.summary_path.exists() else ""
    resumed = push_lines(out.push, f"Push (resumed after the failure: {state.get('error', '')})")
    out.summary_path.write_text("\n".join([earlier, *resumed]))
    _write_state(state_file, {"status": "succeeded", "run_id": out.run_id, "version": out.version,
                              "promoted": out.promoted, "champion": out.champion, "scored": out.scored,
                              "as_of": as_of.isoformat(), "resumed": "push"})
    return out


def _write_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**state, "at": dt.datetime.now(dt.UTC).isoformat()}, indent=2))
    tmp.replace(path)


def _restore_champion(registry: Any, version: int, week: str, exc: BaseException) -> None:
    with contextlib.suppress(Exception):  # the original failure is what the user must see
        registry.promote(version, f"weekly job {week} failed after promotion ({_one_line(exc)}): restored")


def _row_counts(loaded: Any) -> dict[str, int]:
    """Rows accepted and rejected per table, from the validation report."""
    out = {}
    for name, t in loaded.report.tables.items():
        out[f"{name}_ok"], out[f"{name}_rejected"] = int(t.rows_ok), int(t.rows_rejected)
    return out


def _features(settings: Settings, loaded: Any, as_of: dt.date) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    from churnml.features import build_training_frame, feature_set, to_frame
    from churnml.training.frames import training_dates

    dates = [d for d in training_dates(loaded.tables, settings.features.every_days, settings.labels.horizon_days)
             if d < as_of]
    frame, fs = build_training_frame(loaded.tables, dates, settings.labels)
    frame = mask_unobserved(frame, as_of, settings.labels.horizon_days + settings.labels.grace_days)
    current = to_frame(feature_set(loaded.tables, [as_of], settings.labels))
    if current.empty:
        raise ValueError(f"no account is active at {as_of}: nothing to score")
    return frame, current, list(fs.names)


def mask_unobserved(frame: pd.DataFrame, as_of: dt.date, days: int) -> pd.DataFrame:
    """Null the labels whose horizon (plus grace) had not passed by the job's `as_of`.

    Labels are computed from all the data; when the job runs for a past week (a backfill) outcomes after `as_of`
    would leak into training. At the end of the data this changes nothing (those labels are already null).
    """
    out = frame.copy()
    late = pd.to_datetime(out["as_of"]) + pd.Timedelta(days=days) > pd.Timestamp(as_of)
    out.loc[late, "churned"] = pd.NA
    if "churn_date" in out.columns:
        out.loc[late, "churn_date"] = pd.NaT
    return out


def _train(settings: Settings, registry: Any, frame: pd.DataFrame, names: list[str], source: Path) -> dict[str, Any]:
    from churnml.lifecycle.tracking import log_training
    from churnml.simulate.oracle import read_truth
    from churnml.training.job import CHAMPION_ROW, _champion_factory, _row_metrics, train_config

    try:
        truth: pd.DataFrame | None = read_truth(source)
    except FileNotFoundError:
        truth = None
    cfg = train_config(settings)
    extra = _champion_factory(registry, names)
    result = train(frame, cfg, truth=truth, extra_models=extra)
    run = log_training(registry.client, result, frame[result.model.feature_names_].head(5), source=str(source),
                       experiment=settings.registry.experiment, run_name="challenger",
                       params={"train": cfg.model_dump(exclude={"health_config"}),
                               "labels": settings.labels.model_dump()})
    version = registry.register(run.run_id)
    overall = result.metrics["overall"]
    return {"model": result.model, "version": version, "overall": overall,
            "champion_metrics": _row_metrics(overall, CHAMPION_ROW) if extra else None}


def _drift(settings: Settings, frame: pd.DataFrame, current: pd.DataFrame, model: Any,
           names: list[str]) -> DriftReport:
    """This week against the last `drift_weeks` weekly snapshots of the training window."""
    dates = sorted(pd.to_datetime(frame["as_of"]).unique())[-settings.retrain.drift_weeks:]
    reference = frame[pd.to_datetime(frame["as_of"]).isin(dates)]
    ref_scores = model.predict_proba(reference)[:, 1]
    cur_scores = model.predict_proba(current)[:, 1]
    return drift_report(reference, current, names, settings.retrain.drift, ref_scores, cur_scores)


def _promote(settings: Settings, registry: Any, outcome: dict[str, Any], drift: DriftReport) -> Any:
    from churnml.lifecycle.registry import Decision

    if settings.retrain.drift.block_promotion and drift.breached and registry.champion() is not None:
        return Decision(False, f"not promoted: drift breach in {', '.join(drift.breaches[:5])} "
                               "(retrain.drift.block_promotion)")
    return registry.promote_if_better(outcome["version"], champion_metrics=outcome["champion_metrics"])


def _score(settings: Settings, as_of: dt.date, source: Path) -> ScoringRun:
    from churnml.scoring.job import run_scoring

    return run_scoring(settings, as_of, data=source)


def _push(settings: Settings, as_of: dt.date, target: str | None) -> PushReport:
    from churnml.crm.push import push_scores
    from churnml.scoring.store import ScoreStore

    return push_scores(settings.crm, ScoreStore.from_work_dir(settings.work_dir).path, as_of, target=target)


# --------------------------------------------------------------------------- the summary (pure)


def _md_table(frame: pd.DataFrame, floatfmt: str = "{:.3f}") -> str:
    if frame.empty:
        return "_(none)_\n"
    head = "| " + " | ".join(str(c) for c in frame.columns) + " |\n"
    sep = "|" + "|".join("---" for _ in frame.columns) + "|\n"
    body = ""
    for row in frame.itertuples(index=False):
        cells = [floatfmt.format(v) if isinstance(v, float) else str(v) for v in row]
        body += "| " + " | ".join(cells) + " |\n"
    return head + sep + body


def push_lines(p: PushReport, heading: str = "Push") -> list[str]:
    """The summary's push section: counts, and the first rejected records with the CRM's error."""
    lines = [f"## {heading}", "", f"Target **{p.target}**: {p.acked:,} acknowledged, {len(p.rejected):,} rejected, "
             f"{p.unchanged:,} unchanged (not sent), {p.batches:,} batches, {p.retries:,} retries.", ""]
    lines += [f"- rejected `{account}`: {error}" for account, error in list(p.rejected.items())[:10]]
    return [*lines, ""]


def render_summary(result: WeeklyResult, overall: pd.DataFrame, scoring: ScoringRun | None) -> str:
    """The job summary in Markdown: model vs champion, drift, scores, biggest movers, push counts, timings."""
    lines = [f"# Weekly churn job — {result.week} (scores as of {result.as_of})", "",
             f"Status: **{result.status}** · MLflow parent run `{result.run_id}`", "",
             "## Model", "",
             f"Challenger v{result.version}: **{'promoted to champion' if result.promoted else 'stays challenger'}**"
             f" — {result.reason}. Champion now: v{result.champion}.", "",
             "Backtest on the same out-of-time folds (`champion` is the current champion refitted on them):", "",
             _md_table(_metrics_table(overall))]
    if result.drift is not None:
        d = result.drift
        flag = "**DRIFT BREACH**: " + ", ".join(d.breaches) if d.breached else "no breach"
        lines += ["## Drift (PSI, training window vs this week)", "",
                  f"Thresholds: shifted ≥ {d.config.warn}, breach ≥ {d.config.alert}. {flag}.", "",
                  f"Score distribution PSI: {d.score_psi:.3f} ({d.score_status})", "",
                  _md_table(d.features.head(10))]
    if scoring is not None:
        s = scoring.summary
        lines += ["## Scores", "", f"{s.accounts:,} accounts scored with {s.model}; MRR at risk "
                  f"${s.mrr_at_risk:,.0f} of ${s.mrr:,.0f}.", "",
                  _md_table(s.by_band.assign(mrr=s.by_band["mrr"].round(0), mrr_at_risk=s.by_band["mrr_at_risk"]
                                             .round(0)), "{:,.0f}"),
                  "## Biggest risk movers", ""]
        movers = s.movers[["account_id", "churn_probability", "change_points", "change_text"]] if len(s.movers) \
            else pd.DataFrame()
        lines.append(_md_table(movers, "{:.2f}"))
    if result.push is not None:
        lines += push_lines(result.push)
    if result.seconds:
        lines += ["## Steps", "", _md_table(pd.DataFrame(list(result.seconds.items()), columns=["step", "seconds"]),
                                            "{:.1f}")]
    return "\n".join(lines)
