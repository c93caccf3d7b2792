"""The weekly job end to end on a small simulated world: nested MLflow runs, summary, push, idempotent weeks,
the lock, and safety — a failure in training or after promotion leaves the champion and the scores as they were."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from churnml.config import Settings, load_settings
from churnml.jobs.state import LOCK_FILE, RetrainError, week_key
from churnml.jobs.weekly import run_weekly
from churnml.lifecycle.registry import Decision, ModelRegistry
from churnml.lifecycle.tracking import ENV_TRACKING_URI
from churnml.scoring.store import ScoreStore
from churnml.training.job import Challenger
from tests.support.fake_crm import WEBHOOK_PATH, FakeCrm

WEEK1, WEEK2 = dt.date(2025, 2, 10), dt.date(2025, 2, 17)
MODELS = {"n_folds": 2, "eval_days": 21, "valid_days": 21, "calib_days": 21, "baselines": [], "figures": False,
          "shap_rows": 100, "model": {"n_estimators": 30, "learning_rate": 0.15, "num_leaves": 7,
                                      "min_child_samples": 20, "num_threads": 1}}


@dataclass
class Job:
    config: Path
    settings: Settings
    crm: FakeCrm
    first: object


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Job:
    from churnml.simulate import simulate_world

    root = tmp_path_factory.mktemp("weekly")
    simulate_world(root / "data", accounts=150, start=dt.date(2024, 1, 1), months=14, seed=5, progress=False)
    mp = pytest.MonkeyPatch()
    mp.delenv(ENV_TRACKING_URI, raising=False)
    mp.setenv("CHURNML_WEBHOOK_SECRET", "s3cret")
    with FakeCrm("webhook", secret="s3cret") as crm:
        cfg = {"work_dir": str(root / "work"), "data": {"dir": str(root / "data")}, "labels": {"horizon_days": 60},
               "models": MODELS, "crm": {"target": "webhook", "webhook": {"url": crm.url + WEBHOOK_PATH,
                                                                          "batch_size": 40}}}
        path = root / "config.yaml"
        path.write_text(yaml.safe_dump(cfg))
        settings = load_settings(path)
        first = run_weekly(settings, as_of=WEEK1)
        yield Job(path, settings, crm, first)
    mp.undo()


def _registry(s: Settings) -> ModelRegistry:
    return ModelRegistry.from_work_dir(s.work_dir, name=s.registry.name)


def test_the_week_runs_end_to_end(job: Job) -> None:
    from mlflow import MlflowClient

    r, s = job.first, job.settings
    assert r.status == "succeeded" and r.week == week_key(WEEK1) == "2025-W07"
    assert r.version == 1 and r.promoted and _registry(s).champion() == 1
    scores = ScoreStore.from_work_dir(s.work_dir).read(WEEK1)
    assert len(scores) == r.scored > 50 and (scores["model_version"] == "1").all()
    assert r.push is not None and r.push.acked == r.scored and set(job.crm.deliveries.values()) == {1}
    assert r.drift is not None and len(r.drift.features) > 20 and 0 <= r.drift.score_psi < 10
    marked = set(r.drift.features.loc[r.drift.features["accumulates"], "feature"])
    assert "tenure_days" in marked and "events_30d" not in marked and not marked & set(r.drift.breaches)
    # one parent run, one nested run per step
    client = MlflowClient(f"sqlite:///{(s.work_dir / 'mlflow.db').resolve()}")
    parent = client.get_run(r.run_id)
    assert parent.data.tags["churnml.week"] == "2025-W07" and parent.info.status == "FINISHED"
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{r.run_id}'")
    assert {c.info.run_name for c in children} == {"validate", "features", "train", "drift", "health", "promote",
                                                    "score", "forecast", "alerts", "push"}
    assert r.alerts_new is not None and (s.work_dir / "alerts.duckdb").exists()  # the week's alerts were raised
    drift_run = next(c for c in children if c.info.run_name == "drift")
    assert "psi_score" in drift_run.data.metrics and "drift_breaches" in drift_run.data.metrics
    text = r.summary_path.read_text()
    assert r.summary_path == s.work_dir / "jobs" / "2025-W07" / "summary.md"
    for part in ("Challenger v1: **promoted to champion**", "## Drift", "Score distribution PSI",
                 "## Biggest risk movers", f"Target **webhook**: {r.scored:,} acknowledged", "| lightgbm |",
                 "## Model health before labels (CBPE)", "challenger v1: estimated ROC-AUC",
                 "_no forecast: the outcome models were never trained here"):
        assert part in text


def test_rerunning_a_done_week_does_nothing(job: Job) -> None:
    versions = len(_registry(job.settings).list_versions())
    again = run_weekly(job.settings, as_of=WEEK1 + dt.timedelta(days=2))  # same ISO week
    assert again.status == "skipped" and again.run_id == job.first.run_id
    assert len(_registry(job.settings).list_versions()) == versions and job.crm.requests == job.first.push.batches


def test_a_second_run_cannot_start_while_one_holds_the_lock(job: Job) -> None:
    with (job.settings.work_dir / LOCK_FILE).open("a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RetrainError, match="another weekly job is running"):
            run_weekly(job.settings, as_of=WEEK2)


def test_training_failure_leaves_champion_and_scores(job: Job, monkeypatch: pytest.MonkeyPatch) -> None:
    from churnml.cli.app import app

    s = job.settings
    store = ScoreStore.from_work_dir(s.work_dir)
    before, champion = store.read(), _registry(s).champion()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("injected training failure\nsecond line never shown")

    monkeypatch.setattr("churnml.training.job.train", broken)
    res = CliRunner().invoke(app, ["retrain", "--as-of", WEEK2.isoformat(), "-c", str(job.config)])
    assert res.exit_code == 1
    # one message (rich may wrap it at the test terminal's 80 columns), no traceback, no second line
    assert " ".join(res.output.split()) == "error: weekly job 2025-W08 failed at train: RuntimeError: injected " \
                                           "training failure"
    assert _registry(s).champion() == champion and _registry(s).aliases().get("champion") == champion
    pd.testing.assert_frame_equal(store.read(), before)
    state = json.loads((s.work_dir / "jobs" / "2025-W08" / "state.json").read_text())
    assert state["status"] == "failed" and state["step"] == "train"
    assert not (s.work_dir / "jobs" / "2025-W08" / "summary.md").exists()


def _quick_train(champion: int):
    """A new version registered from the champion's own run (real training is tested above; these tests are about
    safety, and this keeps each run to seconds)."""

    def quick(settings: Settings, registry: ModelRegistry, frame: pd.DataFrame, names: list[str], source: Path,
              **kwargs: object) -> Challenger:
        from churnml.model.pyfunc import load_churn_model

        model = load_churn_model(f"models:/{registry.name}/{champion}")
        version = registry.register(registry.get_version(champion).run_id)
        result = SimpleNamespace(model=model, metrics={"overall": pd.DataFrame({"model": ["lightgbm"]})})
        return Challenger(result, None, version, None)  # type: ignore[arg-type]

    return quick


def _force(settings: Settings, registry: ModelRegistry, challenger: Challenger, drift: object,
           health: object = None) -> Decision:
    registry.promote(challenger.version, "forced by the test")
    return Decision(True, "forced by the test")


def test_failure_after_promotion_puts_the_champion_back(job: Job, monkeypatch: pytest.MonkeyPatch) -> None:
    s = job.settings
    store = ScoreStore.from_work_dir(s.work_dir)
    before, champion = store.read(), _registry(s).champion()

    monkeypatch.setattr("churnml.jobs.weekly.train_challenger", _quick_train(champion))
    monkeypatch.setattr("churnml.jobs.weekly._promote", _force)

    def broken_scoring(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("churnml.jobs.weekly._score", broken_scoring)
    with pytest.raises(RetrainError, match=r"^weekly job 2025-W08 failed at score: OSError: disk full$"):
        run_weekly(s, as_of=WEEK2)
    reg = _registry(s)
    assert reg.champion() == champion and reg.challenger() is None
    new = reg.list_versions()[-1].version if reg.list_versions()[-1].version != champion else None
    assert new is not None and new != champion
    # forced onto the new version, then put back on the previous champion
    assert [(e.event, e.version) for e in reg.history()][-2:] == [("promote", new), ("promote", champion)]
    pd.testing.assert_frame_equal(store.read(), before)


def test_pipeline_entry_point_with_a_local_webhook(job: Job, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m pipelines.weekly_retrain --local-webhook` (what `make demo` runs): week 2 after the failures."""
    from pipelines.weekly_retrain import main

    code = main(["--config", str(job.config), "--as-of", WEEK2.isoformat(), "--local-webhook"])
    out = capsys.readouterr().out
    assert code == 0, out
    s = job.settings
    scores = ScoreStore.from_work_dir(s.work_dir).read(WEEK2)
    assert f"{len(scores):,} accounts received in" in out and "(0 repeated batches dropped)" in out
    text = (s.work_dir / "jobs" / "2025-W08" / "summary.md").read_text()
    assert "## Biggest risk movers" in text and ("risk up" in text or "risk down" in text)  # movers since week 1
    assert json.loads((s.work_dir / "jobs" / "2025-W08" / "state.json").read_text())["status"] == "succeeded"
    assert main(["--config", str(job.config), "--as-of", "2025-02-18", "--no-push"]) == 0  # same week: done
    assert "already done" in capsys.readouterr().out


def test_backfill_weeks_do_not_train_on_outcomes_after_their_date() -> None:
    from churnml.training.frames import mask_unobserved

    frame = pd.DataFrame({"as_of": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"]),
                          "churned": pd.array([True, False, True], dtype="boolean"),
                          "churn_date": pd.to_datetime(["2025-02-10", None, "2025-04-01"])})
    out = mask_unobserved(frame, dt.date(2025, 4, 20), days=74)  # rows after 2025-02-05 are still open on 04-20
    assert out["churned"].tolist()[:2] == [True, False] and out["churned"].isna().tolist() == [False, False, True]
    assert out["churn_date"].isna().tolist() == [False, True, True]
    assert frame["churned"].notna().all()  # input untouched


def test_a_week_that_failed_while_pushing_resumes_with_the_push_only(job: Job,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Push down after scoring: the re-run trains nothing and registers nothing; it pushes and completes."""
    from churnml.jobs import weekly as retrain

    s, week3 = job.settings, dt.date(2025, 2, 24)
    real_push = retrain._push

    def crm_down(*args: object) -> None:
        raise ConnectionError("CRM unreachable")

    monkeypatch.setattr("churnml.jobs.weekly._push", crm_down)
    with pytest.raises(RetrainError, match=r"failed at push: ConnectionError: CRM unreachable$"):
        run_weekly(s, as_of=week3)
    job_dir = s.work_dir / "jobs" / week_key(week3)
    state = json.loads((job_dir / "state.json").read_text())
    assert state["status"] == "failed" and state["step"] == "push" and state["scored"] > 0
    assert "failed at push" in (job_dir / "summary.md").read_text()
    versions = [v.version for v in _registry(s).list_versions()]
    scores = ScoreStore.from_work_dir(s.work_dir).read(week3)

    monkeypatch.setattr("churnml.jobs.weekly._push", real_push)
    done = run_weekly(s, as_of=week3)
    assert done.status == "succeeded" and done.push is not None and done.push.acked > 0
    assert done.push.acked + done.push.unchanged == len(scores)  # changed scores sent, the rest already acked
    assert [v.version for v in _registry(s).list_versions()] == versions  # nothing retrained or registered
    pd.testing.assert_frame_equal(ScoreStore.from_work_dir(s.work_dir).read(week3), scores)
    assert json.loads((job_dir / "state.json").read_text())["resumed"] == "push"
    assert "## Push (resumed after the failure" in (job_dir / "summary.md").read_text()
    assert run_weekly(s, as_of=week3).status == "skipped"


class Crash(BaseException):
    """A simulated kill: not an `Exception`, so none of the job's handlers run (as with SIGKILL); only the lock
    and the MLflow runs are released on the way out, as the OS and the server would."""


def _crash_before(real: object) -> object:
    def crash(*args: object, **kwargs: object) -> None:
        raise Crash

    return crash


def _crash_after(real: object) -> object:
    def crash(*args: object, **kwargs: object) -> None:
        real(*args, **kwargs)  # type: ignore[operator]
        raise Crash

    return crash


#: (step boundary, function patched, crash before or after it runs, what the re-run does)
BOUNDARIES = [
    ("intent recorded, alias not moved", "_promote", _crash_before, "start over"),
    ("alias moved, nothing scored", "_promote", _crash_after, "score"),
    ("decision recorded, scoring not begun", "_score", _crash_before, "score"),
    ("scores stored, state not yet updated", "_score", _crash_after, "score"),
    ("scores stored and recorded, push not done", "_push", _crash_before, "push"),
]


def _fail(*args: object, **kwargs: object) -> None:
    raise RuntimeError("injected drift failure")


def _quick_week(monkeypatch: pytest.MonkeyPatch, champion: int) -> None:
    monkeypatch.setattr("churnml.jobs.weekly.train_challenger", _quick_train(champion))
    monkeypatch.setattr("churnml.jobs.weekly._promote", _force)


@pytest.mark.parametrize(("boundary", "target", "how", "rerun"), BOUNDARIES, ids=[b[0] for b in BOUNDARIES])
def test_a_week_killed_at_a_step_boundary_is_finished_consistently_by_the_rerun(
    job: Job, monkeypatch: pytest.MonkeyPatch, boundary: str, target: str, how: object, rerun: str,
    record_property: Callable[[str, object], None],
) -> None:
    """Killed anywhere between recording the intent and finishing the push, the next run leaves the champion and the
    week's stored scores in step (scores by the champion's version) and a state file with no stale failure."""
    from churnml.jobs import weekly

    s = job.settings
    day = dt.date(2025, 1, 6) + dt.timedelta(days=7 * [b[0] for b in BOUNDARIES].index(boundary))
    reg = _registry(s)
    champion = reg.champion()
    assert champion is not None
    if rerun in ("start over", "score") and target == "_promote":
        # an earlier failed attempt of the same week: its error must not survive the recovery
        _quick_week(monkeypatch, champion)
        monkeypatch.setattr("churnml.jobs.weekly._drift", _fail)
        with pytest.raises(RetrainError, match="failed at drift"):
            run_weekly(s, as_of=day)
        assert json.loads((s.work_dir / "jobs" / week_key(day) / "state.json").read_text())["step"] == "drift"
        monkeypatch.undo()
    _quick_week(monkeypatch, champion)
    monkeypatch.setattr(f"churnml.jobs.weekly.{target}", how(getattr(weekly, target)))  # type: ignore[operator]
    with pytest.raises(Crash):
        run_weekly(s, as_of=day)
    after_crash = reg.champion()
    assert after_crash == (champion if rerun == "start over" else reg.list_versions()[-1].version)
    versions = len(reg.list_versions())

    monkeypatch.undo()
    _quick_week(monkeypatch, champion)  # used only if the re-run has to train
    done = run_weekly(s, as_of=day)
    final = reg.champion()
    assert done.status == "succeeded" and done.champion == final
    if rerun == "start over":  # the old champion had never left: the week ran again, from training
        assert len(reg.list_versions()) == versions + 1
    else:  # finished with the champion the killed run promoted; nothing trained or registered again
        assert final == after_crash and len(reg.list_versions()) == versions
    scores = ScoreStore.from_work_dir(s.work_dir).read(day)
    assert len(scores) > 0 and set(scores["model_version"]) == {str(final)}
    state = json.loads((s.work_dir / "jobs" / week_key(day) / "state.json").read_text())
    assert state["status"] == "succeeded" and "error" not in state and "step" not in state
    assert state["champion"] == final and state["scored"] == len(scores)
    if rerun != "start over":
        assert state["resumed"] == rerun
    assert run_weekly(s, as_of=day).status == "skipped"
    record_property(f"killed: {boundary}", f"champion v{champion} → v{after_crash} at the kill → v{final} after the "
                    f"re-run ({rerun}), {len(scores)} scores by v{final}")


def test_the_week_pushes_a_task_per_routed_alert_after_the_scores(job: Job, monkeypatch: pytest.MonkeyPatch) -> None:
    """With `plays.deliver_tasks` the push step sends the scores, then one chat message per routed open alert (never
    a held-out one); the week forced again sends no task twice."""
    from churnml.plays.delivery import week_alerts
    from churnml.plays.state import AlertStore
    from tests.support.fake_tasks import SLACK_PATH, FakeTaskCrm

    s, day = job.settings, dt.date(2025, 2, 24)
    champion = _registry(s).champion()
    assert champion is not None
    _quick_week(monkeypatch, champion)
    on = s.model_copy(update={"plays": s.plays.model_copy(update={"deliver_tasks": True})})
    with FakeTaskCrm("slack") as chat:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", chat.url + SLACK_PATH)
        done = run_weekly(on, as_of=day, force=True)
        assert done.status == "succeeded" and done.push is not None and done.tasks is not None
        live, held = week_alerts(AlertStore.from_work_dir(s.work_dir).read(), day)
        assert len(live) > 0 and done.tasks.acked == len(live) and done.tasks.held_out == held  # type: ignore[attr-defined]
        assert set(chat.tasks) == set(live["alert_id"]) and set(chat.created.values()) == {1}
        summary = done.summary_path.read_text()
        assert f"Alert tasks to **slack:tasks**: {len(live):,} delivered" in summary
        again = run_weekly(on, as_of=day, force=True)
        assert again.tasks is not None and again.tasks.planned == 0 and set(chat.created.values()) == {1}
