"""Tables that stay readable at 80 columns: the backtest table and the registry history.

Rich squeezes a table wider than the terminal by cutting cells and headers ("light…", "ROC-A…"). Instead each
table here is built in the widest layout that fits: the usual one row per model (short headers, a legend below),
else one row per metric with the interval under each value, else one block per model. The history puts each
reason under its entry when the table would leave the reason too little room. Pure: data in, rich renderables out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

#: (metric key, short header, what it means) in the order shown.
BACKTEST_METRICS: tuple[tuple[str, str, str], ...] = (
    ("roc_auc", "ROC-AUC", "ranking of churners above stayers (0.5 chance, 1 perfect)"),
    ("pr_auc", "PR-AUC", "precision over recall (the churn rate is chance)"),
    ("log_loss", "log loss", "probabilities' error (lower is better)"),
    ("brier", "Brier", "squared error of the probabilities (lower is better)"),
    ("ece", "ECE", "calibration error: predicted vs observed rate (lower is better)"),
    ("recall_top10", "rec@10%", "share of churners among the riskiest 10% of accounts"),
    ("churned_mrr_share_top10", "MRR@10%", "share of churned MRR among the riskiest 10%"),
)
BACKTEST_TITLE = "Backtest (out-of-time folds; 95% interval, bootstrap by account)"


def _fits(console: Console, renderable: RenderableType, width: int) -> bool:
    return Measurement.get(console, console.options.update(width=10_000), renderable).maximum <= width


def _value(row: dict[str, Any], key: str) -> tuple[str, str]:
    """The metric's value and its interval as text ('—' and '' when absent)."""
    v = row.get(key)
    if v is None or v != v:
        return "—", ""
    lo, hi = row.get(f"{key}_lo"), row.get(f"{key}_hi")
    ok = lo is not None and hi is not None and lo == lo and hi == hi
    return f"{v:.3f}", (f"[{lo:.3f}, {hi:.3f}]" if ok else "")


def _legend(keys: Sequence[str]) -> str:
    meaning = {k: f"{h}: {m}" for k, h, m in BACKTEST_METRICS}
    return "; ".join(meaning[k] for k in keys if k in meaning) + "."


def backtest_table(overall: Any, console: Console, width: int | None = None) -> RenderableType:
    """Backtest metrics per model (out-of-time folds, 95% intervals) in the widest layout that fits `width`
    (default: the console's)."""
    width = width or console.width
    rows = overall.to_dict(orient="records")
    metrics = [(k, h) for k, h, _ in BACKTEST_METRICS if any(k in r for r in rows)]
    legend = _legend([k for k, _ in metrics])

    note = Text(legend, style="dim")
    wide = Table(title=BACKTEST_TITLE, title_justify="left", box=box.SIMPLE_HEAD)
    wide.add_column("model", no_wrap=True)
    for _, header in metrics:
        wide.add_column(header, justify="right", no_wrap=True)
    for r in rows:
        wide.add_row(escape(str(r["model"])), *[" ".join(x for x in _value(r, k) if x) for k, _ in metrics])
    if _fits(console, wide, width):
        return Group(wide, note)

    tall = Table(title=BACKTEST_TITLE, title_justify="left", box=box.SIMPLE_HEAD)
    tall.add_column("metric", no_wrap=True)
    for r in rows:
        tall.add_column(escape(str(r["model"])), justify="right", no_wrap=True)
    for key, header in metrics:
        cells = [_value(r, key) for r in rows]
        tall.add_row(header, *["\n".join(x for x in c if x) for c in cells])
    if _fits(console, tall, width):
        return Group(tall, note)

    blocks: list[RenderableType] = [Text(BACKTEST_TITLE, style="italic")]
    for r in rows:
        block = Table(title=escape(str(r["model"])), title_justify="left", show_header=False, box=None,
                      padding=(0, 1))
        block.add_column(no_wrap=True)
        block.add_column(justify="right", no_wrap=True)
        block.add_column(no_wrap=True)
        for key, header in metrics:
            block.add_row(header, *_value(r, key))
        blocks.append(block)
    return Group(*blocks, note)


#: Room the reason must keep in the history table; below it each reason goes under its entry instead.
REASON_MIN = 40


def history_table(entries: Sequence[Any], name: str, console: Console, width: int | None = None) -> RenderableType:
    """The registry's audit history (`AuditEntry` list): a table with the reason in its last column when there is
    room for it, else one line per entry with its reason wrapped beneath."""
    width = width or console.width
    colour = {"promote": "green", "rollback": "yellow", "decline": "red", "register": "cyan"}

    def fmt(v: float | None) -> str:
        return "—" if v is None else f"{v:.4f}"

    def cells(e: Any) -> list[str]:
        return [e.ts[:16].replace("T", " "), f"[{colour.get(e.event, 'white')}]{e.event}[/]", str(e.version),
                "—" if e.previous is None else str(e.previous), fmt(e.metrics.get("roc_auc")),
                fmt(e.metrics.get("churned_mrr_share_top10")), escape(str(e.actor))]

    legend = "v: the version the event is about; prev: the champion before it; AUC: ROC-AUC; rev@10%: share of " \
             "churned MRR in the riskiest 10%."

    def table(with_reason: bool) -> Table:
        out = Table(title=f"{name} history", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
        for col, justify in (("when (UTC)", "left"), ("event", "left"), ("v", "right"), ("prev", "right"),
                             ("AUC", "right"), ("rev@10%", "right"), ("by", "left")):
            out.add_column(col, justify=justify, no_wrap=True)
        if with_reason:
            out.add_column("reason", ratio=1)
        for e in entries:
            out.add_row(*cells(e), *([escape(str(e.reason))] if with_reason else []))
        return out

    if _fits(console, table(with_reason=False), width - REASON_MIN):
        return Group(table(with_reason=True), Text(legend, style="dim"))
    lines: list[RenderableType] = [Text(f"{name} history", style="italic")]
    for e in entries:
        when, event, version, prev, auc, rev, actor = cells(e)
        was = "" if e.previous is None else f" (was v{prev})"
        lines.append(Text.from_markup(f"{when}  {event} v{version}{was}  AUC {auc}  rev@10% {rev}  by {actor}"))
        lines.append(Padding(Text(str(e.reason)), (0, 0, 0, 4)))
    lines.append(Text(legend, style="dim"))
    return Group(*lines)
