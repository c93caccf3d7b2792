"""Theme trends on the account page: probability points when every scoring stored them, else log-odds."""

from __future__ import annotations

import datetime as dt

from serving.schemas import HistoryPoint
from serving.views import theme_trends


def _point(day: int, contributions: dict[str, float], points: dict[str, float] | None) -> HistoryPoint:
    return HistoryPoint(as_of=dt.date(2025, 1, day), churn_probability=0.2, risk_band="medium", change_points=None,
                        model_version="1", theme_contributions=contributions, theme_points=points)


def test_points_when_every_scoring_has_them_in_theme_order() -> None:
    history = [_point(1, {"usage": 0.5, "support": -0.1}, {"usage": 6.0, "support": -1.0}),
               _point(8, {"usage": 0.7}, {"usage": 9.5})]
    trends, unit = theme_trends(history, ["usage", "sentiment", "support"])
    assert unit == "points"
    assert trends == [{"theme": "usage", "values": [6.0, 9.5]}, {"theme": "support", "values": [-1.0, 0.0]}]


def test_log_odds_when_an_older_scoring_has_no_points() -> None:
    history = [_point(1, {"usage": 0.5}, None), _point(8, {"usage": 0.7}, {"usage": 9.5})]
    trends, unit = theme_trends(history, ["usage"])
    assert unit == "log-odds" and trends == [{"theme": "usage", "values": [0.5, 0.7]}]
    assert theme_trends([], ["usage"]) == ([], "log-odds")
