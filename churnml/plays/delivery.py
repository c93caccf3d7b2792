"""Delivery of alerts as tasks: the routed alerts of a week from the alert store, pushed through the CRM ledger.

`week_alerts` picks the alerts a week's task push considers: open alerts opened on or before the week, split into
routed ones (to deliver) and held-out ones (counted, never delivered: they are the holdout that measures whether
plays work). `deliver_tasks` pushes the routed ones (`churnml.crm.task_push.push_tasks`: exactly once per alert
id, resumable); `push_week` is the weekly job's push step: scores first, then tasks when `plays.deliver_tasks`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd

from churnml.config import Settings
from churnml.plays.alerts import routed
from churnml.plays.state import AlertStore

if TYPE_CHECKING:
    from churnml.crm.push import PushReport
    from churnml.crm.task_push import TaskPushReport


def week_alerts(alerts: pd.DataFrame, as_of: dt.date) -> tuple[pd.DataFrame, int]:
    """The routed open alerts opened on or before `as_of`, and how many held-out ones were left out."""
    if alerts.empty:
        return alerts, 0
    opened = pd.to_datetime(alerts["opened_as_of"]).dt.date <= as_of
    open_now = alerts[opened & (alerts["status"] == "open")]
    live = routed(open_now)
    return live.reset_index(drop=True), int(len(open_now) - len(live))


def deliver_tasks(settings: Settings, as_of: dt.date | None = None, *, target: str | None = None,
                  dry_run: bool = False, sleep: Callable[[float], None] = time.sleep,
                  progress: Callable[[int, int], None] | None = None) -> TaskPushReport:
    """Push a task per routed alert of `as_of` (default: the latest week alerts were raised for; a given week
    with no alerts pushes nothing, but still resumes unfinished task batches).

    Raises:
        ValueError: `as_of` not given and no alerts were raised yet.
        PushError: as `push_tasks`.
    """
    from churnml.crm.task_push import push_tasks
    from churnml.scoring.store import ScoreStore

    store = AlertStore.from_work_dir(settings.work_dir)
    if as_of is None:
        weeks = store.weeks()
        if not weeks:
            raise ValueError(f"no alerts raised yet in {store.path}: run the weekly job (churnml retrain) first")
        as_of = weeks[-1]
    live, held = week_alerts(store.read(), as_of)
    ledger = ScoreStore.from_work_dir(settings.work_dir).path
    return push_tasks(settings.crm, ledger, live, as_of, target=target, held_out=held, dry_run=dry_run,
                      sleep=sleep, progress=progress)


def push_week(settings: Settings, as_of: dt.date, target: str | None) -> tuple[PushReport, TaskPushReport | None]:
    """The weekly job's push: the week's scores to `target` (default `crm.target`), then, with
    `plays.deliver_tasks`, a task per routed alert to `crm.tasks.target`. A task push failing raises (the week
    failed at push; its re-run sends no score twice and resumes the tasks)."""
    from churnml.crm.push import push_scores
    from churnml.scoring.store import ScoreStore

    scores = push_scores(settings.crm, ScoreStore.from_work_dir(settings.work_dir).path, as_of, target=target)
    tasks = deliver_tasks(settings, as_of) if settings.plays.deliver_tasks else None
    return scores, tasks
