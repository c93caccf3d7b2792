"""Writing the intervention log: a CSM marks a play done; the row lands in the `interventions` contract table.

The log is `<data.dir>/interventions.parquet` (the file the data folder is read from), rewritten whole through a
temporary file and an atomic rename, so a reader never sees half a file. Recording the same (account, ts, play)
twice keeps one row. The account's open alerts recommending that play are resolved in the alert store.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd

from churnml.config import Settings
from churnml.data.contract import TABLES
from churnml.plays.state import AlertStore

LOG_FILE = "interventions.parquet"


def log_path(settings: Settings) -> Path:
    """Where the intervention log lives; refuses a data folder that holds the table in another form."""
    folder = Path(settings.data.dir)
    other = [p for p in (folder / "interventions.csv", folder / "interventions") if p.exists()]
    if other:
        raise ValueError(f"interventions: the data folder holds {other[0]}; churnml writes plays to "
                         f"{folder / LOG_FILE} only, so convert or remove it first")
    return folder / LOG_FILE


def record_play(settings: Settings, account_id: str, play: str, ts: dt.datetime, csm_id: str | None = None,
                outcome: str | None = "done") -> int:
    """Append one done play to the log and resolve the account's open alerts for it; returns alerts resolved.

    Raises:
        ValueError: empty play name, a timestamp in the future, or a data folder holding the table as CSV.
    """
    if not play.strip():
        raise ValueError("interventions.play must not be empty")
    if ts > dt.datetime.now(dt.UTC).replace(tzinfo=None):
        raise ValueError(f"interventions.ts {ts} is in the future (rows are plays already done)")
    path = log_path(settings)
    cols = list(TABLES["interventions"].column_names)
    row = pd.DataFrame([{"account_id": str(account_id), "ts": pd.Timestamp(ts), "play": play, "csm_id": csm_id,
                         "outcome": outcome}])
    old = pd.read_parquet(path) if path.exists() else pd.DataFrame(columns=cols)
    new = pd.concat([old, row], ignore_index=True) if len(old) else row
    new["ts"] = pd.to_datetime(new["ts"]).astype("datetime64[us]")
    new = new.drop_duplicates(["account_id", "ts", "play"], keep="last")[cols]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    new.to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return AlertStore.from_work_dir(settings.work_dir).resolve(str(account_id), play, ts.date())
