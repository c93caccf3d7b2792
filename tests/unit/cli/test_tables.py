"""The backtest table and the registry history are readable at 80 columns: nothing cut with "…" (issue 19)."""

from __future__ import annotations

import pandas as pd
import pytest
from rich.console import Console

from churnml.cli.tables import BACKTEST_METRICS, backtest_table, history_table
from churnml.lifecycle.registry import AuditEntry

MODELS = ("lightgbm", "logistic", "health_score", "oracle")


def _overall(models: tuple[str, ...] = MODELS) -> pd.DataFrame:
    rows = []
    for i, m in enumerate(models):
        row: dict[str, object] = {"model": m}
        for j, (key, _, _) in enumerate(BACKTEST_METRICS):
            row |= {key: 0.5 + i / 10 + j / 100, f"{key}_lo": 0.4 + i / 10, f"{key}_hi": 0.6 + i / 10}
        rows.append(row)
    return pd.DataFrame(rows)


def _render(renderable_of, width: int, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    console = Console(record=True, force_terminal=False)
    assert console.width == width  # the terminal width comes from COLUMNS, as in a real shell
    console.print(renderable_of(console))
    return console.export_text()


@pytest.mark.parametrize("width", [80, 60, 200])
def test_backtest_table_cuts_nothing(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _render(lambda c: backtest_table(_overall(), c), width, monkeypatch)
    assert "…" not in text
    assert all(len(line.rstrip()) <= width for line in text.splitlines())
    for word in (*MODELS, "ROC-AUC", "PR-AUC", "MRR@10%", "0.500", "[0.400, 0.600]", "[0.700, 0.900]"):
        assert word in text, (width, word)
    assert "ROC-AUC: ranking of churners" in " ".join(text.split())  # the legend of the short headers


def test_narrow_backtest_is_one_row_per_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _render(lambda c: backtest_table(_overall(), c), 80, monkeypatch)
    header = next(line for line in text.splitlines() if "lightgbm" in line)
    assert header.split() == ["metric", *MODELS]  # models side by side, metrics down


def test_history_keeps_whole_reasons_at_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    reason = "challenger beats champion: ROC-AUC +0.012 [0.004, 0.020], churned MRR captured +0.03"
    entries = [AuditEntry("2025-01-06T12:00:00", "promote", 3, 2, reason, {"roc_auc": 0.81}, "weekly-job", {}),
               AuditEntry("2025-01-13T12:00:00", "decline", 4, 3, "no gain", {}, "cli", {})]
    for width in (80, 160):
        text = _render(lambda c: history_table(entries, "churn-risk", c), width, monkeypatch)
        assert "…" not in text and reason in " ".join(text.split()), width
        assert all(len(line.rstrip()) <= width for line in text.splitlines())
        assert "weekly-job" in text and "0.8100" in text and "prev: the champion before it" in text
