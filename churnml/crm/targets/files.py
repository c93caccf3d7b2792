"""CSV or Parquet export for manual upload: one file per as-of date and target, written atomically.

Each batch is written to its own file `churn_scores_<as_of>_<seq>.<ext>` (one batch per push by default), so a
resent batch overwrites its own file and never duplicates rows.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import httpx
import pandas as pd

from churnml.crm.mapping import FilesConfig
from churnml.crm.payload import Batch
from churnml.crm.targets.base import BatchResult


class FileTarget:
    """Writes batches as CSV or Parquet files under `files.dir`."""

    def __init__(self, cfg: FilesConfig, fmt: str) -> None:
        if fmt not in ("csv", "parquet"):
            raise ValueError(f"file format must be csv or parquet, got {fmt!r}")
        self.cfg = cfg
        self.name = fmt
        self.batch_size = cfg.batch_size

    def path(self, as_of: dt.date, seq: int) -> Path:
        return Path(self.cfg.dir) / f"churn_scores_{as_of.isoformat()}_{seq:03d}.{self.name}"

    def send(self, client: httpx.Client | None, batch: Batch, as_of: dt.date) -> BatchResult:
        frame = pd.DataFrame([r.properties for r in batch.records])
        out = self.path(as_of, batch.seq)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        if self.name == "csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
        os.replace(tmp, out)
        return BatchResult([r.account_id for r in batch.records], {})
