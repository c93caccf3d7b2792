"""Sentiment features from surveys: NPS level, category and change, CSAT, CES, and survey silence.

A missing survey is never imputed as a neutral score: unhappy customers stop answering, so silence is
kept as missing values plus explicit response-count and recency features.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis

from churnml.features.calendar import seconds_between, seen_at_asof
from churnml.features.keys import KEYS, attach

LOOKBACK_DAYS = 365


def nps_category(score: ibis.Value) -> ibis.Value:
    """Promoter (9–10), passive (7–8), detractor (0–6); null when there is no answer."""
    return ibis.cases(
        (score.isnull(), ibis.null("string")),
        (score >= 9, "promoter"),
        (score >= 7, "passive"),
        else_="detractor",
    )


def sentiment_features(spine: ibis.Table, surveys: ibis.Table, dates: Sequence[dt.date]) -> ibis.Table:
    """Sentiment features for every (account_id, as_of) of `spine` (answers within the last year)."""
    s = seen_at_asof(surveys, "ts", dates, LOOKBACK_DAYS)
    age_days = seconds_between(s.as_of_ts, s.ts) / 86400.0
    s = s.mutate(age_days=age_days)
    # Rank NPS answer times newest first: rank 0 is the latest answer, rank 1 the one before.
    nps = s.filter(s.kind == "nps")
    nps = nps.mutate(rank=ibis.dense_rank().over(group_by=KEYS, order_by=ibis.desc(nps.ts)))
    nps_block = nps.group_by(KEYS).aggregate(
        nps_latest=nps.score.mean(where=nps["rank"] == 0),
        nps_previous=nps.score.mean(where=nps["rank"] == 1),
    )
    recent = s.age_days <= 90
    other = s.group_by(KEYS).aggregate(
        csat_mean_90d=s.score.mean(where=(s.kind == "csat") & recent),
        ces_mean_90d=s.score.mean(where=(s.kind == "ces") & recent),
        survey_responses_180d=s.account_id.count(where=s.age_days <= 180),
        days_since_last_survey=s.age_days.min().ceil().cast("int64"),
    )
    out = attach(attach(spine, nps_block, KEYS), other, KEYS)
    return out.mutate(
        nps_change=out.nps_latest - out.nps_previous,
        nps_category=nps_category(out.nps_latest),
        survey_responses_180d=ibis.coalesce(out.survey_responses_180d, 0).cast("int64"),
    )
