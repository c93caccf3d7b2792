"""Plays beside the reasons: an account's open alerts with their recommended play, and recording a play done.

Both the API (`/v1/accounts/{id}`, `POST /v1/accounts/{id}/interventions`) and the web page ("Recommended play",
"Play done") come here, so they answer the same alerts and write the same log (`churnml.plays.interventions`).

- Alerts are read from the alert store beside the score store (`<work_dir>/alerts.duckdb`, `churnml.plays.state`);
  no store yet means no alerts. The store is opened the way the alert step opens it (one writer at a time): a
  store held by another process for longer than `ALERT_WAIT_S` is `StoreUnavailable` (503, retry).
- Recording checks, in order: the account is scored (404), the play is one the playbook recommends (422, naming
  the valid plays), the log can be written here (503: `data.dir` must be an existing, writable folder), the
  exact (account, play, ts) is not in the log yet (409). Each refusal is a `PlayRefused` with its status.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from churnml.config import Settings
from churnml.plays.interventions import DuplicatePlay, LogUnavailable, record_play, writable_log
from churnml.plays.playbook import plays
from churnml.plays.state import AlertStore
from churnml.scoring.store import StoreLockedError
from serving.schemas import Alert, Intervention
from serving.store import StoreReader, StoreUnavailable

#: Seconds a request waits for the alert store while another process (the weekly alert step) holds it.
ALERT_WAIT_S = 2.0


class PlayRefused(Exception):
    """A play that cannot be recorded: the HTTP status and one sentence saying why."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def open_alerts(settings: Settings, account_id: str) -> list[Alert]:
    """The account's open alerts (held-out ones included, flagged), oldest first.

    Raises:
        StoreUnavailable: the alert store stayed held by another process, or cannot be read.
    """
    store = AlertStore.from_work_dir(settings.work_dir, ALERT_WAIT_S)
    try:
        rows = store.read(status="open", account_id=str(account_id))
    except StoreLockedError as exc:
        raise StoreUnavailable(f"the alert store is busy: {exc}") from None
    except duckdb.Error as exc:
        raise StoreUnavailable(f"the alert store {store.path} cannot be read: {type(exc).__name__}") from exc
    return [Alert(alert_id=r["alert_id"], cause=r["cause"], detail=r["detail"] or None, raised=r["opened_as_of"],
                  last_seen=r["last_seen_as_of"], play=r["play"], play_text=r["play_text"],
                  held_out=bool(r["held_out"])) for r in rows.to_dict("records")]


def routed(alerts: list[Alert]) -> list[Alert]:
    """The alerts a CSM may see: held-out ones are recorded, never shown (that would spoil the holdout)."""
    return [a for a in alerts if not a.held_out]


def valid_plays(settings: Settings) -> list[str]:
    """Every play the playbook can recommend, sorted."""
    return plays(settings.plays)


def _utc(ts: dt.datetime | None) -> dt.datetime:
    """`ts` as aware UTC (naive: taken as UTC); now when None."""
    if ts is None:
        return dt.datetime.now(dt.UTC)
    return ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)


def record(settings: Settings, store: StoreReader, account_id: str, play: str, *, ts: dt.datetime | None = None,
           csm_id: str | None = None, outcome: str | None = "done") -> Intervention:
    """Record a play done on a scored account (checks in the module docstring); the stored row.

    Raises:
        PlayRefused: 404 unknown account, 422 unknown play or a time in the future, 503 no writable log or a
            busy alert store, 409 an exact duplicate.
        StoreUnavailable: the score store cannot be read.
    """
    if not store.history(account_id):
        raise PlayRefused(404, f"no scores stored for account {account_id!r}")
    known = valid_plays(settings)
    if play not in known:
        raise PlayRefused(422, f"unknown play {play!r}: the playbook's plays are {', '.join(known)}")
    when = _utc(ts)
    try:
        writable_log(settings)
        resolved = record_play(settings, account_id, play, when, csm_id=csm_id, outcome=outcome,
                               refuse_duplicate=True)
    except DuplicatePlay as exc:
        raise PlayRefused(409, str(exc)) from None
    except LogUnavailable as exc:
        raise PlayRefused(503, f"no intervention log can be written: {exc}") from None
    except StoreLockedError as exc:
        raise PlayRefused(503, f"the alert store is busy, nothing was recorded; retry shortly ({exc})") from None
    except OSError as exc:
        raise PlayRefused(503, f"the intervention log cannot be written, nothing was recorded: "
                               f"{type(exc).__name__}: {exc.strerror or exc}") from None
    except ValueError as exc:  # a time in the future, an empty name
        raise PlayRefused(422, str(exc)) from None
    return Intervention(account_id=str(account_id), ts=when, play=play, csm_id=csm_id, outcome=outcome,
                        alerts_resolved=resolved)


def play_for_form(form: dict[str, list[str]]) -> dict[str, Any]:
    """The web form's fields (`play`, optional `outcome`), stripped; missing ones are empty/None."""
    play = (form.get("play") or [""])[0].strip()
    outcome = (form.get("outcome") or [""])[0].strip() or "done"
    return {"play": play, "outcome": outcome[:500]}
