"""The latest forecast on disk: what `run_forecast` (the CLI, the demo, the weekly job) wrote last, for readers
that do not forecast themselves — the API's `/v1/forecast`, the portfolio page and the weekly summary.

`<work_dir>/forecast/latest.json`: as_of, horizon_days, by, levels, the model versions, `groups` (one row per
reported group: GRR/NRR with their intervals, ARR, renewing ARR, ARR at risk), `renewals` (per renewal month)
and `health` (the churn model's CBPE estimate by segment); `<work_dir>/forecast/accounts.parquet`: the
per-account expectations. Written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

LATEST_FILE = "forecast/latest.json"
ACCOUNTS_FILE = "forecast/accounts.parquet"


def latest_path(work_dir: Path | str) -> Path:
    return Path(work_dir) / LATEST_FILE


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in df.to_dict(orient="records"):
        row: dict[str, Any] = {}
        for k, v in rec.items():
            if hasattr(v, "item"):
                v = v.item()  # numpy scalar -> Python
            row[str(k)] = None if isinstance(v, float) and math.isnan(v) else v
        out.append(row)
    return out


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def save_forecast(work_dir: Path | str, *, as_of: dt.date, horizon_days: int, by: str | None,
                  levels: tuple[float, ...], groups: pd.DataFrame, renewals: pd.DataFrame, health: pd.DataFrame,
                  accounts: pd.DataFrame, versions: dict[str, int]) -> Path:
    """Write the forecast as the latest one; returns the JSON file's path."""
    doc = {
        "as_of": as_of.isoformat(), "horizon_days": int(horizon_days), "by": by, "levels": list(levels),
        "versions": {k: int(v) for k, v in versions.items()},
        "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "groups": _records(groups.rename(columns={by: "group"}) if by else groups),
        "renewals": _records(renewals), "health": _records(health),
    }
    acc = Path(work_dir) / ACCOUNTS_FILE
    acc.parent.mkdir(parents=True, exist_ok=True)
    tmp = acc.with_suffix(".parquet.tmp")
    accounts.assign(as_of=pd.Timestamp(as_of)).to_parquet(tmp, index=False)
    os.replace(tmp, acc)
    path = latest_path(work_dir)
    _write_atomic(path, json.dumps(doc, indent=1))
    return path


def read_forecast(work_dir: Path | str) -> dict[str, Any] | None:
    """The latest forecast as written by `save_forecast`, or None when none was made here."""
    path = latest_path(work_dir)
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def read_forecast_accounts(work_dir: Path | str, as_of: dt.date | None = None) -> pd.DataFrame | None:
    """The latest forecast's per-account expectations (with its `as_of`), or None — also when `as_of` is given
    and the latest forecast was made for another date (a CRM push of one week never carries another's)."""
    path = Path(work_dir) / ACCOUNTS_FILE
    if not path.exists():
        return None
    out = pd.read_parquet(path)
    if as_of is not None and not (pd.to_datetime(out["as_of"]) == pd.Timestamp(as_of)).all():
        return None
    return out


__all__ = ["ACCOUNTS_FILE", "LATEST_FILE", "latest_path", "read_forecast", "read_forecast_accounts", "save_forecast"]
