"""The weekly job's summary, pure: model vs champion, drift, model health before labels, scores, biggest movers,
next horizon's GRR/NRR forecast with its range, push counts, timings (Markdown)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from churnml.crm.push import PushReport
    from churnml.forecast.run import ForecastRun
    from churnml.jobs.weekly import WeeklyResult
    from churnml.scoring.health import HealthCheck
    from churnml.scoring.job import ScoringRun


def _metrics_table(overall: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in ("model", "roc_auc", "pr_auc", "brier", "lift_top10", "churned_mrr_share_top10")
            if c in overall.columns]
    return overall[cols]


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


def push_lines(p: PushReport, heading: str = "Push", tasks: PushReport | None = None) -> list[str]:
    """The summary's push section: counts, and the first rejected records with the CRM's error; then the alert
    tasks' counts when tasks were pushed (`plays.deliver_tasks`)."""
    lines = [f"## {heading}", "", f"Target **{p.target}**: {p.acked:,} acknowledged, {len(p.rejected):,} rejected, "
             f"{p.unchanged:,} unchanged (not sent), {p.batches:,} batches, {p.retries:,} retries.", ""]
    lines += [f"- rejected `{account}`: {error}" for account, error in list(p.rejected.items())[:10]]
    if tasks is not None:
        held = getattr(tasks, "held_out", 0)
        lines += ["", f"Alert tasks to **{tasks.target}**: {tasks.acked:,} delivered, {len(tasks.rejected):,} "
                  f"rejected, {tasks.unchanged:,} already delivered, {held:,} held out (never sent), "
                  f"{tasks.retries:,} retries.", ""]
        lines += [f"- rejected task `{alert}`: {error}" for alert, error in list(tasks.rejected.items())[:10]]
    return [*lines, ""]


def health_lines(check: HealthCheck, blocks: bool) -> list[str]:
    """Model health before labels: the CBPE estimate with its range, the floor, and any alarm (bold)."""
    w = check.portfolio
    ref = f"; backtest ROC-AUC {check.reference_auc:.3f}" if check.reference_auc is not None else ""
    floor = f"; floor {check.floor:.3f}" if check.floor is not None else "; no floor set (forecast.auc_floor)"
    lines = ["## Model health before labels (CBPE)", "",
             f"{check.model}: estimated ROC-AUC on this week's {int(w['accounts']):,} accounts "
             f"**{w['expected_auc']:.3f}** (95% {w['auc_lo']:.3f}–{w['auc_hi']:.3f}){ref}{floor}; expected "
             f"churners {w['expected_churners']:.0f} ({w['churners_lo']:.0f}–{w['churners_hi']:.0f}).", ""]
    if check.flagged:
        effect = ("promotion is blocked (forecast.block_promotion_on_health)" if blocks
                  else "promotion is not blocked by it (set forecast.block_promotion_on_health to block)")
        lines += [f"**HEALTH ALARM**: {a}." for a in check.alarms] + ["", f"Because of it, {effect}.", ""]
    else:
        lines += ["No health alarm.", ""]
    lines += [f"- {n}" for n in check.notes]
    return [*lines, ""] if check.notes else lines


def forecast_lines(run: ForecastRun | None, note: str) -> list[str]:
    """Next horizon's expected GRR and NRR with their ranges, per group (or why there is no forecast)."""
    lines = ["## Revenue retention forecast", ""]
    if run is None:
        return [*lines, f"_{note}_", ""]
    fc = run.forecast
    key = fc.by or "group"
    levels = sorted({int(c.removeprefix("grr_lo")) for c in fc.groups.columns if c.startswith("grr_lo")})
    head = [key, "accounts", "ARR", "ARR at risk", "GRR", "NRR"]
    rows = []
    for r in fc.groups.to_dict(orient="records"):
        cells = [f"{r[m]:.1%} (" + "; ".join(f"{lv}%: {r[f'{m}_lo{lv}']:.1%}–{r[f'{m}_hi{lv}']:.1%}"
                                               for lv in levels) + ")" for m in ("grr", "nrr")]
        rows.append([str(r[key]), f"{int(r['accounts']):,}", f"${r['arr']:,.0f}", f"${r['arr_at_risk']:,.0f}",
                     *cells])
    lines += [f"The {fc.horizon_days} days after {fc.as_of} (ranges: central intervals of the forecast):", "",
              _md_table(pd.DataFrame(rows, columns=head))]
    return lines


def render_summary(result: WeeklyResult, overall: pd.DataFrame | None, scoring: ScoringRun | None) -> str:
    """The job summary in Markdown: model vs champion, drift, scores, biggest movers, push counts, timings."""
    lines = [f"# Weekly churn job — {result.week} (scores as of {result.as_of})", "",
             f"Status: **{result.status}** · MLflow parent run `{result.run_id}`", "",
             "## Model", "",
             f"Challenger v{result.version}: **{'promoted to champion' if result.promoted else 'stays challenger'}**"
             f" — {result.reason}. Champion now: v{result.champion}.", "",
             "Backtest on the same out-of-time folds (`champion` is the current champion refitted on them):", "",
             _md_table(_metrics_table(overall)) if overall is not None
             else "_(finished after an interrupted run: the backtest is on the MLflow run)_\n"]
    if result.drift is not None:
        d = result.drift
        flag = "**DRIFT BREACH**: " + ", ".join(d.breaches) if d.breached else "no breach"
        ageing = (f" Shifted as the accounts age (they grow with tenure by construction; expected, not counted as "
                  f"breaches): {', '.join(d.ageing)}." if d.ageing else "")
        lines += ["## Drift (PSI, training window vs this week)", "",
                  f"Thresholds: shifted ≥ {d.config.warn}, breach ≥ {d.config.alert}. {flag}.{ageing}", "",
                  f"Score distribution PSI: {d.score_psi:.3f} ({d.score_status})", "",
                  _md_table(d.features.head(10))]
    if result.health is not None:
        lines += health_lines(result.health, result.health_blocks)
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
    if result.forecast is not None or result.forecast_note:
        lines += forecast_lines(result.forecast, result.forecast_note)
    if result.push is not None:
        lines += push_lines(result.push, tasks=result.tasks)
    if result.seconds:
        lines += ["## Steps", "", _md_table(pd.DataFrame(list(result.seconds.items()), columns=["step", "seconds"]),
                                            "{:.1f}")]
    return "\n".join(lines)
