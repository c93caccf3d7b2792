"""Sentiment features from surveys: NPS level, category and change, CSAT, CES, and survey silence.

A missing survey is never imputed as a neutral score: unhappy customers stop answering, so silence is
kept as missing values plus explicit response-count and recency features.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis

from churnml.config import FeatureWindows
from churnml.features.calendar import seconds_between, seen_at_asof
from churnml.features.keys import KEYS, attach
from churnml.features.lifetime import days_since_last

LOOKBACK_DAYS = 365


def nps_category(score: ibis.Value) -> ibis.Value:
    """Promoter (9–10), passive (7–8), detractor (0–6); null when there is no answer."""
    return ibis.cases(
        (score.isnull(), ibis.null("string")),
        (score >= 9, "promoter"),
        (score >= 7, "passive"),
        else_="detractor",
    )


def sentiment_features(
    spine: ibis.Table, surveys: ibis.Table, dates: Sequence[dt.date], windows: FeatureWindows | None = None
) -> ibis.Table:
    """Sentiment features for every (account_id, as_of) of `spine`.

    NPS reads the answers of the last year (or of the longest window, if longer); CSAT, CES and answer
    counts per window of `features.windows.sentiment`; `days_since_last_survey` sees all history.
    """
    ws = (windows or FeatureWindows()).sentiment
    s = seen_at_asof(surveys, "ts", dates, max(LOOKBACK_DAYS, *ws))
    age_days = seconds_between(s.as_of_ts, s.ts) / 86400.0
    s = s.mutate(age_days=age_days)
    # Rank NPS answer times newest first: rank 0 is the latest answer, rank 1 the one before.
    nps = s.filter(s.kind == "nps")
    nps = nps.mutate(rank=ibis.dense_rank().over(group_by=KEYS, order_by=ibis.desc(nps.ts)))
    nps_block = nps.group_by(KEYS).aggregate(
        nps_latest=nps.score.mean(where=nps["rank"] == 0),
        nps_previous=nps.score.mean(where=nps["rank"] == 1),
    )
    w = s.filter(s.age_days <= max(ws))
    aggs: dict[str, ibis.Value] = {}
    for d in ws:
        recent = w.age_days <= d
        aggs[f"csat_mean_{d}d"] = w.score.mean(where=(w.kind == "csat") & recent)
        aggs[f"ces_mean_{d}d"] = w.score.mean(where=(w.kind == "ces") & recent)
        aggs[f"survey_responses_{d}d"] = w.account_id.count(where=recent)
    other = w.group_by(KEYS).aggregate(**aggs)
    out = attach(attach(spine, nps_block, KEYS), other, KEYS)
    out = attach(out, days_since_last(surveys, "ts", dates, "days_since_last_survey"), KEYS)
    return out.mutate(
        nps_change=out.nps_latest - out.nps_previous,
        nps_category=nps_category(out.nps_latest),
        **{f"survey_responses_{d}d": ibis.coalesce(out[f"survey_responses_{d}d"], 0).cast("int64") for d in ws},
    )
