"""`simulate_world`: run the story account chunk by account chunk and write the output folder.

Every account draws from its own `SeedSequence([seed, 0, index])` (split into lifecycle, usage and support
streams), and world-level draws (creation dates, CSM morale, eNPS) from `SeedSequence([seed, 1, 0])`, so the
content of every file is identical whatever `chunk_accounts` is; only the number of event part files changes.
Events stream to one Parquet part per chunk, so memory stays bounded by the chunk size.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from churnml.data.contract import SURVEY_KINDS, TICKET_PRIORITIES
from churnml.simulate.lifecycle import (
    Account,
    Life,
    account_seed,
    draw_account,
    draw_creation_days,
    draw_morale,
    global_rng,
    health_paths,
    live,
    spell_hazards,
)
from churnml.simulate.names import account_name, csm_name
from churnml.simulate.params import CHANNELS, EVENT_TYPES, INDUSTRIES, REGIONS, SimParams
from churnml.simulate.plays import PlayPolicy, PlaySimParams, plays_rng, write_plays
from churnml.simulate.support import Support, account_support, csm_enps
from churnml.simulate.timeline import Grid, add_months, build_grid
from churnml.simulate.usage import account_events, daily_state

log = logging.getLogger(__name__)

_TS = pa.timestamp("us")
HAZARD_FILE = Path("truth") / "spell_hazard.parquet"


@dataclass(frozen=True)
class SimulationSummary:
    """What `simulate_world` wrote, for the CLI to print.

    Attributes:
        out: output folder.
        accounts / csms: number of accounts and CSMs.
        start / end: data covers [start, end); `end` = start + months is exclusive.
        events / event_files: event rows and Parquet part files.
        tickets / survey_responses / enps_responses / subscription_rows: row counts.
        churned_accounts: accounts with at least one churn inside the window; churn_events counts every churn.
        reactivations: churned spells that came back inside the window.
        monthly_churn_rate: churns per customer-month inside the window (logo churn).
        renewal_churn_rate: share of annual renewals inside the window that did not renew.
        seconds: wall-clock time of the run.
    """

    out: Path
    accounts: int
    csms: int
    start: dt.date
    end: dt.date
    months: int
    seed: int
    events: int
    event_files: int
    tickets: int
    survey_responses: int
    enps_responses: int
    subscription_rows: int
    churned_accounts: int
    churn_events: int
    reactivations: int
    monthly_churn_rate: float
    renewal_churn_rate: float
    seconds: float


def _dict_array(indices: np.ndarray, values: list[str] | tuple[str, ...]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(indices), pa.array(list(values), pa.string()))


def _write(table: pa.Table, path: Path) -> None:
    # store_schema=False: readers see plain strings; Parquet still dictionary-encodes them on disk.
    pq.write_table(table, path, compression="zstd", store_schema=False)


def _chunk_events(
    rngs: list[np.random.Generator], accts: list[Account], dailies: list, grid, params
) -> pa.Table:
    parts = [account_events(r, a, d, grid, params) for r, a, d in zip(rngs, accts, dailies, strict=True)]
    counts = np.array([len(p[0]) for p in parts])
    local = np.repeat(np.arange(len(accts), dtype=np.int32), counts)
    return pa.table(
        {
            "account_id": _dict_array(local, [a.account_id for a in accts]),
            "ts": pa.array(np.concatenate([p[0] for p in parts]), _TS),
            "event_type": _dict_array(np.concatenate([p[1] for p in parts]), EVENT_TYPES),
            "user_id": pa.array(np.concatenate([p[2] for p in parts]), pa.int64()),
            "value": pa.array(np.concatenate([p[3] for p in parts]), pa.float64()),
        }
    )


class _Collector:
    """Accumulates the small tables (everything but events) and the run's counts over chunks."""

    def __init__(self) -> None:
        self.accounts: list[dict] = []
        self.subs: list[tuple] = []
        self.truth: list[tuple[str, int, float, float]] = []
        self.hazard: list[tuple[str, int, int, int, int, float, int]] = []
        self.tickets: list[tuple[Account, Support]] = []
        self.plays: list[tuple[Account, PlayPolicy]] = []
        self.counts = {"events": 0, "churned": 0, "churns": 0, "reactivations": 0, "renewals": 0,
                       "renewal_churns": 0}

    def add(self, a: Account, life: Life, sup: Support, health: np.ndarray, grid: Grid, params: SimParams,
            policy: PlayPolicy | None = None) -> None:
        self.accounts.append(
            {
                "account_id": a.account_id,
                "name": account_name(a.index),
                "created_at": a.created_us,
                "segment": params.segments[a.segment].name,
                "industry": INDUSTRIES[a.industry][0],
                "region": REGIONS[a.region][0],
                "csm_id": f"CSM{a.csm:03d}",
                "employees": a.employees,
                "acquisition_channel": CHANNELS[a.channel][0],
            }
        )
        self.subs.extend((a.account_id, *row) for row in life.rows)
        self.truth.extend((a.account_id, k, pk, hk) for k, pk, hk in life.truth)
        for spell in life.spells:
            shift = None if policy is None else policy.shift
            self.hazard.extend((a.account_id, spell[0], *row)
                               for row in spell_hazards(a, spell, health, grid, params, shift))
        if policy is not None:
            self.plays.append((a, policy))
        self.tickets.append((a, sup))
        c = self.counts
        c["churned"] += bool(life.churn_days)
        c["churns"] += len(life.churn_days)
        c["reactivations"] += life.reactivations
        c["renewals"] += life.renewals
        c["renewal_churns"] += life.renewal_churns


def _write_accounts(out: Path, col: _Collector) -> None:
    acc = col.accounts
    _write(
        pa.table(
            {
                "account_id": pa.array([r["account_id"] for r in acc], pa.string()),
                "name": pa.array([r["name"] for r in acc], pa.string()),
                "created_at": pa.array(np.array([r["created_at"] for r in acc], np.int64), _TS),
                **{k: pa.array([r[k] for r in acc]) for k in ("segment", "industry", "region", "csm_id")},
                "employees": pa.array([r["employees"] for r in acc], pa.int64()),
                "acquisition_channel": pa.array([r["acquisition_channel"] for r in acc], pa.string()),
            }
        ),
        out / "accounts.parquet",
    )
    subs = col.subs
    _write(
        pa.table(
            {
                "account_id": pa.array([s[0] for s in subs], pa.string()),
                "start_date": pa.array(np.array([s[1] for s in subs], np.int32), pa.date32()),
                "end_date": pa.array([s[2] for s in subs], pa.int32()).cast(pa.date32()),
                "mrr": pa.array([s[3] for s in subs], pa.float64()),
                "plan": pa.array([s[4] for s in subs], pa.string()),
                "seats": pa.array([s[5] for s in subs], pa.int64()),
                "term_months": pa.array([s[6] for s in subs], pa.int64()),
            }
        ),
        out / "subscriptions.parquet",
    )


def _write_support(out: Path, col: _Collector) -> tuple[int, int]:
    t_acc, t_id, t_open, t_close, t_prio, t_eff, t_reo = [], [], [], [], [], [], []
    s_acc, s_ts, s_kind, s_score, s_user = [], [], [], [], []
    for a, sup in col.tickets:
        n = len(sup.opened)
        t_acc += [a.account_id] * n
        t_id += [f"T{a.index:06d}-{i:04d}" for i in range(n)]
        t_open.append(sup.opened)
        t_close.append(sup.closed)
        t_prio.append(sup.priority)
        t_eff.append(sup.effort)
        t_reo.append(sup.reopened)
        s_acc += [a.account_id] * len(sup.survey_ts)
        s_ts.append(sup.survey_ts)
        s_kind.append(sup.survey_kind)
        s_score.append(sup.survey_score)
        s_user.append(sup.survey_user)
    closed = np.concatenate(t_close)
    effort = np.concatenate(t_eff)
    _write(
        pa.table(
            {
                "account_id": pa.array(t_acc, pa.string()),
                "ticket_id": pa.array(t_id, pa.string()),
                "opened_at": pa.array(np.concatenate(t_open), _TS),
                "closed_at": pa.array(closed, _TS, mask=closed < 0),
                "priority": pa.array(np.array(TICKET_PRIORITIES)[np.concatenate(t_prio)], pa.string()),
                "effort_score": pa.array(effort, pa.float64(), mask=np.isnan(effort)),
                "reopened": pa.array(np.concatenate(t_reo), pa.bool_()),
            }
        ),
        out / "tickets.parquet",
    )
    _write(
        pa.table(
            {
                "account_id": pa.array(s_acc, pa.string()),
                "ts": pa.array(np.concatenate(s_ts), _TS),
                "kind": pa.array(
                    np.array(SURVEY_KINDS)[np.concatenate(s_kind).astype(np.int64)], pa.string()
                ),
                "score": pa.array(np.concatenate(s_score), pa.float64()),
                "respondent_id": pa.array(np.concatenate(s_user), pa.int64()),
            }
        ),
        out / "surveys.parquet",
    )
    return len(t_id), len(s_acc)


def _write_enps(out: Path, grid: Grid, morale_rng: np.random.Generator, morale: np.ndarray) -> int:
    c_idx, c_ts, c_score = csm_enps(morale_rng, morale, grid)
    _write(
        pa.table(
            {
                "csm_id": pa.array([f"CSM{c:03d}" for c in c_idx], pa.string()),
                "ts": pa.array(c_ts, _TS),
                "score": pa.array(c_score, pa.float64()),
            }
        ).sort_by([("csm_id", "ascending"), ("ts", "ascending")]),
        out / "csm_enps.parquet",
    )
    _write(pa.table({"csm_id": pa.array([f"CSM{c:03d}" for c in range(len(morale))], pa.string()),
                     "name": pa.array([csm_name(c) for c in range(len(morale))], pa.string())}),
           out / "csms.parquet")
    return len(c_idx)


def _write_truth(out: Path, col: _Collector, grid: Grid) -> None:
    truth = col.truth
    _write(
        pa.table(
            {
                "account_id": pa.array([t[0] for t in truth], pa.string()),
                "month": pa.array(grid.month_starts[[t[1] for t in truth]].astype(np.int32), pa.date32()),
                "p_churn": pa.array([t[2] for t in truth], pa.float64()),
                "health": pa.array([t[3] for t in truth], pa.float64()),
            }
        ),
        out / "truth" / "monthly_churn_probability.parquet",
    )
    hz = col.hazard
    fixed = np.array([h[6] for h in hz], np.int32)
    _write(
        pa.table(
            {
                "account_id": pa.array([h[0] for h in hz], pa.string()),
                "spell_start": pa.array(np.array([h[1] for h in hz], np.int32), pa.date32()),
                "month": pa.array(grid.month_starts[[h[2] for h in hz]].astype(np.int32), pa.date32()),
                "lo": pa.array(np.array([h[3] for h in hz], np.int32), pa.date32()),
                "hi": pa.array(np.array([h[4] for h in hz], np.int32), pa.date32()),
                "p_churn": pa.array([h[5] for h in hz], pa.float64()),
                "churn_day": pa.array(fixed, pa.int32(), mask=fixed < 0).cast(pa.date32()),
            }
        ),
        out / HAZARD_FILE,
    )


def _simulate_chunk(
    c: int, idx: range, seed: int, created: np.ndarray, n_csm: int, morale: np.ndarray, grid: Grid,
    params: SimParams, out: Path, col: _Collector, plays: PlaySimParams | None = None,
) -> None:
    """Simulate one chunk of accounts: events to their own part file, everything else into `col`."""
    streams = [[np.random.Generator(np.random.PCG64(s)) for s in account_seed(seed, i).spawn(3)] for i in idx]
    accts = [draw_account(s[0], i, int(created[i]), n_csm, grid, params) for s, i in zip(streams, idx, strict=True)]
    health = health_paths(accts, morale, grid, params)
    policies = [None if plays is None else PlayPolicy(plays_rng(seed, a.index), a, health[j], grid, params, plays)
                for j, a in enumerate(accts)]
    lives = [live(a, health[j], grid, params, None if pol is None else pol.month)
             for j, (a, pol) in enumerate(zip(accts, policies, strict=True))]
    dailies = [daily_state(life, health[j], grid) for j, life in enumerate(lives)]
    table = _chunk_events([s[1] for s in streams], accts, dailies, grid, params)
    _write(table, out / "events" / f"part-{c:05d}.parquet")
    col.counts["events"] += table.num_rows
    del table
    for j, (s, a, life, d) in enumerate(zip(streams, accts, lives, dailies, strict=True)):
        col.add(a, life, account_support(s[2], a, d, grid, params), health[j], grid, params, policies[j])


def _prepare(out: Path, accounts: int, start: dt.date, months: int, chunk_accounts: int) -> tuple[dt.date, Path]:
    if accounts < 1 or months < 1 or chunk_accounts < 1:
        raise ValueError("accounts, months and chunk_accounts must be positive")
    end = add_months(start, months)
    if end > dt.date.today():
        raise ValueError(f"the simulation would end on {end}, after today; pick an earlier start")
    out = Path(out)
    (out / "events").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    for old in (out / "events").glob("part-*.parquet"):
        old.unlink()
    return end, out


def simulate_world(
    out: Path,
    accounts: int,
    start: dt.date,
    months: int,
    seed: int,
    progress: bool = True,
    chunk_accounts: int = 500,
    plays: PlaySimParams | None = None,
) -> SimulationSummary:
    """Simulate a B2B SaaS customer base and write it as the folder layout the pipeline reads.

    Besides the tables, `truth/` holds what no model may see: the monthly hazard and health of every customer
    month, and every spell's day-level hazard (`HAZARD_FILE`, read by `churnml.simulate.oracle`).

    Args:
        out: output folder (created; existing event part files in it are replaced).
        accounts: number of accounts, including those that already exist at `start`.
        start: first day of data; data covers [start, start + months).
        months: length of the window in calendar months.
        seed: the world is a pure function of (accounts, start, months, seed).
        progress: show a rich progress bar over account chunks.
        chunk_accounts: accounts per event part file; changes memory and file count, never content.
        plays: simulate CSM plays with true effects (`churnml.simulate.plays`): writes `interventions.parquet`
            and `truth/play_effects.parquet`; None (default) leaves the world exactly as without plays.

    Returns:
        Counts and rates of what was written.

    Raises:
        ValueError: on non-positive sizes, or when the window ends in the future (the contract rejects
            timestamps later than the wall clock).
    """
    end, out = _prepare(out, accounts, start, months, chunk_accounts)
    t0 = time.perf_counter()
    params = SimParams()
    grid = build_grid(start, end, params.pre_start_months)
    world = global_rng(seed)
    created = draw_creation_days(world, accounts, grid, params)
    n_csm = max(2, math.ceil(accounts / params.csm_accounts))
    morale = draw_morale(world, n_csm, grid, params)
    col = _Collector()
    n_chunks = math.ceil(accounts / chunk_accounts)
    bar = (
        Progress(TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        if progress
        else nullcontext()
    )
    with bar:
        task = bar.add_task("chunks", total=n_chunks) if progress else None
        for c in range(n_chunks):
            idx = range(c * chunk_accounts, min((c + 1) * chunk_accounts, accounts))
            _simulate_chunk(c, idx, seed, created, n_csm, morale, grid, params, out, col, plays)
            if task is not None:
                bar.update(task, advance=1)
    _write_accounts(out, col)
    n_tickets, n_surveys = _write_support(out, col)
    n_enps = _write_enps(out, grid, world, morale)
    _write_truth(out, col, grid)
    (out / "interventions.parquet").unlink(missing_ok=True)
    if plays is not None:
        write_plays(out, col.plays, grid)
    meta = {"seed": seed, "accounts": accounts, "start": start.isoformat(), "months": months,
            "end_exclusive": end.isoformat(), "chunk_accounts": chunk_accounts, "csms": n_csm,
            "subscription_end_date": "inclusive last covered day; renewals/changes start the next day",
            "params": params.to_dict(), "plays": None if plays is None else asdict(plays)}
    (out / "truth" / "params.json").write_text(json.dumps(meta, indent=2))
    seconds = time.perf_counter() - t0
    cnt = col.counts
    log.info("simulated %d accounts, %d events in %.1fs", accounts, cnt["events"], seconds)
    return SimulationSummary(
        out=out, accounts=accounts, csms=n_csm, start=start, end=end, months=months, seed=seed,
        events=cnt["events"], event_files=n_chunks, tickets=n_tickets, survey_responses=n_surveys,
        enps_responses=n_enps, subscription_rows=len(col.subs), churned_accounts=cnt["churned"],
        churn_events=cnt["churns"], reactivations=cnt["reactivations"],
        monthly_churn_rate=cnt["churns"] / max(len(col.truth), 1),
        renewal_churn_rate=cnt["renewal_churns"] / max(cnt["renewals"], 1), seconds=seconds,
    )


__all__ = ["HAZARD_FILE", "SimulationSummary", "simulate_world"]
