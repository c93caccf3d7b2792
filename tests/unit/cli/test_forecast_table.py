"""The forecast table fits 80 columns: every figure and range printed whole (it used to cut "[94.4%–9…")."""

from __future__ import annotations

import pandas as pd
from rich.console import Console

from churnml.cli.forecast import forecast_table


def _row(segment: str) -> dict[str, object]:
    row: dict[str, object] = {"segment": segment, "accounts": 1275, "arr": 21.1e6, "renewing_arr": 12.5e6,
                              "arr_at_risk": 1_318_800.0}
    for m in ("grr", "nrr"):
        row.update({m: 0.9631, f"{m}_lo80": 0.9441, f"{m}_hi80": 0.9812, f"{m}_lo95": 0.9304, f"{m}_hi95": 1.0023})
    return row


def test_forecast_table_prints_every_range_whole_at_80_columns() -> None:
    console = Console(width=80, record=True)
    console.print(forecast_table(pd.DataFrame([_row("all"), _row("Enterprise"), _row("Mid-Market")]),
                                 "Next 90 days after 2026-01-01", "segment", (0.8, 0.95)))
    text = console.export_text()
    assert "…" not in text
    assert all(len(line) <= 80 for line in text.splitlines())
    for piece in ("96.3%", "94.4–98.1", "93.0–100.2", "Enterprise", "Mid-Market", "$21.1M", "$1.3M"):
        assert piece in text
