"""`churnml forecast` (GRR / NRR for the next horizon, with intervals) and `churnml train-outcomes`.

Thin: parse, call `churnml.forecast.run` / `churnml.training.outcomes`, print. Registered by
`churnml.cli.app` (`app.command(name="forecast")(forecast_command)`, likewise `train-outcomes`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from churnml.cli.errors import choice, parse_date, user_errors
from churnml.cli.options import ConfigOpt, DataOpt

if TYPE_CHECKING:
    import pandas as pd

console = Console()


def _pct(x: float) -> str:
    return "—" if x is None or x != x else f"{x:.1%}"  # None or NaN


def _money(x: float) -> str:
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"${x / div:,.1f}{unit}"
    return f"${x:,.0f}"


def _cell(row: dict[str, Any], metric: str, levels: tuple[float, ...]) -> str:
    """The forecast, then one range per level on its own line, in percent ("94.4–98.1"): fits 80 columns."""
    ranges = [f"{100 * row[f'{metric}_lo{p}']:.1f}–{100 * row[f'{metric}_hi{p}']:.1f}"
              for p in (round(lv * 100) for lv in levels)]
    return "\n".join([_pct(row[metric]), *ranges])


def forecast_table(table: pd.DataFrame, title: str, key: str, levels: tuple[float, ...]) -> Table:
    """Rich table of forecast rows: accounts, ARR, renewing ARR, GRR / NRR with ranges, ARR at risk."""
    pcts = "/".join(f"{round(lv * 100)}%" for lv in levels)
    t = Table(title=title, title_justify="left",
              caption=f"under GRR and NRR: the central {pcts} ranges, in %, one per line")
    t.add_column(key, no_wrap=True)
    for col in ("accounts", "ARR", "renewing", "GRR", "NRR", "ARR at risk"):
        t.add_column(col, justify="right", no_wrap=col != "ARR at risk")
    for row in table.to_dict(orient="records"):
        t.add_row(
            str(row[key]), f"{int(row['accounts']):,}", _money(row["arr"]), _money(row["renewing_arr"]),
            _cell(row, "grr", levels), _cell(row, "nrr", levels), _money(row["arr_at_risk"]),
        )
    return t


def health_table(health: pd.DataFrame) -> Table:
    """Rich table of the CBPE estimates per segment."""
    t = Table(title="Model health, estimated before labels arrive (CBPE)", title_justify="left")
    for col in ("segment", "accounts", "expected churners", "95%", "expected ROC-AUC", "95% "):
        t.add_column(col, justify="left" if col == "segment" else "right")
    for r in health.to_dict(orient="records"):
        t.add_row(str(r["segment"]), f"{int(r['accounts']):,}", f"{r['expected_churners']:.1f}",
                  f"{r['churners_lo']:.0f} – {r['churners_hi']:.0f}", f"{r['expected_auc']:.3f}",
                  f"{r['auc_lo']:.3f} – {r['auc_hi']:.3f}")
    return t


def forecast_command(
    as_of: Annotated[str, typer.Option("--as-of", help="Forecast date (YYYY-MM-DD): the horizon after it.")],
    by: Annotated[str | None, typer.Option("--by", help="Also report by segment, csm or plan.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write per-account expectations (CSV/Parquet).")]
    = None,
    data: DataOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Expected GRR and NRR for the next horizon, with 80% / 95% ranges, renewing ARR and ARR at risk."""
    from churnml.config import load_settings
    from churnml.forecast.run import BY_COLUMN, run_forecast

    date = parse_date(as_of, "--as-of")
    if by is not None:
        choice(by, list(BY_COLUMN), "--by")
    with user_errors():
        settings = load_settings(config)
        with console.status(f"forecasting the {settings.labels.horizon_days} days after {date}…"):
            run = run_forecast(settings, date, by=by, data=data)  # type: ignore[arg-type]
    fc, levels = run.forecast, settings.forecast.levels
    key = fc.by or "group"
    console.print(forecast_table(fc.groups, f"Revenue retention, {date} + {fc.horizon_days} days", key, levels))
    if len(fc.renewals):
        console.print(forecast_table(fc.renewals, "Accounts renewing inside the horizon, by month",
                                     "renewal_month", levels))
    console.print(health_table(run.health))
    versions = ", ".join(f"{k} v{v}" for k, v in run.versions.items())
    console.print(f"models: {versions}", highlight=False)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        (fc.accounts.to_parquet if out.suffix == ".parquet" else fc.accounts.to_csv)(out, index=False)
        console.print(f"per-account expectations: {out}")


def train_outcomes_command(data: DataOpt = None, config: ConfigOpt = None) -> None:
    """Train, backtest and register the contraction and expansion models and fit the forecast's parameters."""
    from churnml.config import load_settings
    from churnml.training.outcomes import train_and_register_outcomes

    with user_errors():
        settings = load_settings(config)
        with console.status("backtesting and training churn, contraction and expansion models…"):
            done = train_and_register_outcomes(settings, data)
    for outcome, result in done.results.items():
        auc = result.metrics["overall"].set_index("model").loc["lightgbm", "roc_auc"]
        reg = (f"v{done.versions[outcome]} {'champion' if done.promoted[outcome] else 'challenger'}"
               if outcome in done.versions else "backtest only (churn is registered by `churnml train`)")
        console.print(f"{outcome}: backtest ROC-AUC {auc:.3f} — {reg}", highlight=False)
    console.print(f"forecast parameters: {done.params_path}")


def forecast_step(settings: Any, out: Console | None = None) -> None:
    """The demo's last step: train the outcome models, then print next horizon's GRR / NRR with its range and
    the churn model's estimated ROC-AUC this week (before labels exist)."""
    from churnml.data.load import load_data
    from churnml.forecast.run import run_forecast
    from churnml.training.labels import observed_until
    from churnml.training.outcomes import train_and_register_outcomes

    out = out or console
    with out.status("training contraction / expansion models and fitting the forecast…"):
        train_and_register_outcomes(settings)
        as_of = observed_until(load_data(settings).tables)
        run = run_forecast(settings, as_of, by="segment")
    out.print(forecast_table(run.forecast.groups, f"Next {run.forecast.horizon_days} days after {as_of}",
                             "segment", settings.forecast.levels))
    h = run.health.iloc[0]
    out.print(f"churn model's estimated ROC-AUC this week (CBPE): {h['expected_auc']:.3f} "
              f"(95% {h['auc_lo']:.3f}–{h['auc_hi']:.3f}); expected churners {h['expected_churners']:.0f}",
              highlight=False)
