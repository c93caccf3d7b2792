"""Figures of the CS KPI report, and the one helper that embeds a figure in HTML as a base64 SVG.

Vector, so a figure is sharp at any width and the layout never stretches pixels; the HTML gives each image its
own width and height from the SVG (`to_image`), and CSS only ever shrinks it (`max-width: 100%`, height auto).
Text stays text in the SVG (`svg.fonttype: none`), which keeps the files small.

Each function takes the tables of `churnml.reporting.kpi` / `churnml.reporting.cohorts` and returns a
`matplotlib.figure.Figure`
built without pyplot (no global state, no GUI backend), in the style of `churnml.training.plots`.
"""

from __future__ import annotations

import base64
import io
import re
import textwrap
from dataclasses import dataclass

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

_BLUE, _RED, _GREEN, _GREY, _ORANGE = "#4C72B0", "#C44E52", "#55A868", "0.55", "#DD8452"
_BAND_COLOURS = {"low": _GREEN, "medium": _ORANGE, "high": _RED}


@dataclass(frozen=True)
class Image:
    """An embedded figure: `src` (data URI of an SVG), its CSS pixel `width` and `height`, and `alt` text."""

    src: str
    width: int
    height: int
    alt: str = ""


def to_svg(fig: Figure) -> bytes:
    """The figure as SVG bytes (tight bounding box, text kept as text, no timestamp: same figure, same bytes)."""
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "churnml"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buf.getvalue()


def to_image(fig: Figure, alt: str = "") -> Image:
    """The figure as an `Image` whose width and height (CSS px = SVG pt × 4/3) come from the SVG itself."""
    svg = to_svg(fig)
    m = re.search(rb'<svg[^>]*\swidth="([\d.]+)pt"[^>]*\sheight="([\d.]+)pt"', svg)
    if m is None:
        raise ValueError("matplotlib wrote an SVG without a width and height in pt")
    w, h = (round(float(x) * 4 / 3) for x in m.groups())
    return Image("data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii"), w, h, alt)


def to_data_uri(fig: Figure) -> str:
    """The figure as a `data:image/svg+xml;base64,...` URI, so the report needs no other file."""
    return to_image(fig).src


def _months(ax: object, months: pd.Series) -> None:
    labels = pd.to_datetime(months).dt.strftime("%b %y")
    ax.set_xticks(range(len(labels)), labels=list(labels), rotation=45, ha="right", fontsize=8)  # type: ignore[attr-defined]


def logos_figure(revenue: pd.DataFrame) -> Figure:
    """Customers at the start of each month (line) and logo churn rate (bars)."""
    fig = Figure(figsize=(6.5, 3.6))
    ax = fig.subplots()
    x = np.arange(len(revenue))
    ax.bar(x, 100 * revenue["logo_churn_rate"].fillna(0), color=_RED, alpha=0.7, label="logo churn rate (%)")
    ax.set_ylabel("logo churn rate (%)")
    ax2 = ax.twinx()
    ax2.plot(x, revenue["customers_start"], color=_BLUE, marker="o", label="customers")
    ax2.set_ylabel("customers at month start")
    _months(ax, revenue["month"])
    ax.set_title("Customers and logo churn")
    fig.legend(loc="upper left", fontsize=8, bbox_to_anchor=(0.1, 0.88))
    fig.tight_layout()
    return fig


def retention_figure(revenue: pd.DataFrame) -> Figure:
    """Monthly GRR, NRR and logo retention, in %."""
    fig = Figure(figsize=(6.5, 3.6))
    ax = fig.subplots()
    x = np.arange(len(revenue))
    ax.plot(x, 100 * revenue["nrr"], marker="o", color=_BLUE, label="NRR")
    ax.plot(x, 100 * revenue["grr"], marker="o", color=_ORANGE, label="GRR")
    ax.plot(x, 100 * revenue["retention_rate"], marker=".", color=_GREY, linestyle="--", label="logo retention")
    ax.axhline(100, color="0.8", linewidth=1)
    _months(ax, revenue["month"])
    ax.set(ylabel="% of start-of-month base", title="Revenue and logo retention (monthly)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def movements_figure(revenue: pd.DataFrame) -> Figure:
    """MRR movements per month: new, reactivation, expansion up; contraction and churn down."""
    fig = Figure(figsize=(6.5, 3.6))
    ax = fig.subplots()
    x = np.arange(len(revenue))
    bottom = np.zeros(len(revenue))
    for col, colour, label in (("new_mrr", _BLUE, "new"), ("reactivation_mrr", "#8172B3", "reactivated"),
                               ("expansion_mrr", _GREEN, "expansion")):
        v = revenue[col].to_numpy(dtype=float)
        ax.bar(x, v, bottom=bottom, color=colour, label=label)
        bottom += v
    bottom = np.zeros(len(revenue))
    for col, colour, label in (("contraction_mrr", _ORANGE, "contraction"), ("churned_mrr", _RED, "churned")):
        v = -revenue[col].to_numpy(dtype=float)
        ax.bar(x, v, bottom=bottom, color=colour, label=label)
        bottom += v
    ax.axhline(0, color="0.3", linewidth=0.8)
    _months(ax, revenue["month"])
    ax.set(ylabel="MRR ($)", title="MRR movements")
    ax.legend(fontsize=7, ncols=3)
    fig.tight_layout()
    return fig


def experience_figure(experience: pd.DataFrame, enps: pd.DataFrame | None = None) -> Figure:
    """NPS and team eNPS, CSAT, CES and response rate per month (gaps where nobody answered)."""
    fig = Figure(figsize=(9, 3.4))
    axes = fig.subplots(1, 3)
    x = np.arange(len(experience))
    axes[0].plot(x, experience["nps"], marker="o", color=_BLUE, label="customer NPS")
    if enps is not None and len(enps):
        e = enps.set_index("month").reindex(experience["month"])
        axes[0].plot(x, e["enps"].to_numpy(), marker="s", color=_GREY, linestyle="--", label="CSM team eNPS")
    axes[0].axhline(0, color="0.8", linewidth=1)
    axes[0].set(title="NPS (promoters − detractors)", ylim=(-100, 100))
    axes[0].legend(fontsize=7)
    axes[1].plot(x, 100 * experience["csat"], marker="o", color=_GREEN, label="CSAT (% 4–5)")
    if "response_rate" in experience.columns:
        axes[1].plot(x, 100 * experience["response_rate"], marker=".", color=_GREY, linestyle=":",
                     label="response rate (%)")
    axes[1].set(title="CSAT and response rate", ylim=(0, 100))
    axes[1].legend(fontsize=7)
    axes[2].plot(x, experience["ces"], marker="o", color=_ORANGE, label="survey CES")
    if "ticket_ces" in experience.columns:
        axes[2].plot(x, experience["ticket_ces"], marker=".", color=_GREY, linestyle="--", label="ticket CES")
    axes[2].set(title="Customer effort (1 easy – 7 hard)", ylim=(1, 7))
    axes[2].legend(fontsize=7)
    for ax in axes:
        _months(ax, experience["month"])
    fig.tight_layout()
    return fig


def experience_vs_outcomes_figure(segments: pd.DataFrame, by: str = "segment") -> Figure:
    """Per segment: NPS (experience) against NRR (outcome); bubble size = start MRR."""
    fig = Figure(figsize=(5.5, 4.2))
    ax = fig.subplots()
    size = segments["mrr_start"].to_numpy(dtype=float)
    size = 80 + 900 * size / size.max() if len(size) and np.nanmax(size) > 0 else np.full(len(segments), 80.0)
    ax.scatter(segments["nps"], 100 * segments["nrr"], s=size, color=_BLUE, alpha=0.5)
    for r in segments.itertuples():
        ax.annotate(str(getattr(r, by)), (r.nps, 100 * r.nrr), fontsize=8, ha="center", va="bottom",
                    xytext=(0, 6), textcoords="offset points")
    ax.axhline(100, color="0.8", linewidth=1)
    ax.margins(0.2)  # room for the bubbles and their labels
    ax.set(xlabel="NPS over the period", ylabel="NRR (monthly, %)", title="Experience next to outcomes")
    fig.tight_layout()
    return fig


def cohort_retention_figure(curves: pd.DataFrame, last: int = 12) -> Figure:
    """Retention curves of the latest signup cohorts (share still a customer k months after signup)."""
    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    cohorts = sorted(curves["cohort"].unique())[-last:]
    cmap = matplotlib.colormaps["viridis"]
    for i, c in enumerate(cohorts):
        g = curves[curves["cohort"] == c]
        n = int(g["accounts"].iloc[0])
        ax.plot(g["months"], 100 * g["retention"], marker=".", color=cmap(i / max(1, len(cohorts) - 1)),
                label=f"{pd.Timestamp(c):%b %Y} ({n})")
    ax.set(xlabel="months since signup", ylabel="% of cohort still a customer", title="Retention by signup cohort",
           ylim=(0, 105))
    ax.legend(fontsize=6, ncols=2, loc="lower left")
    fig.tight_layout()
    return fig


def feature_title(name: str, width: int = 34) -> str:
    """A feature's name in the catalog's words, wrapped to fit a small panel (the raw name if not catalogued)."""
    from churnml.features.catalog import BY_NAME

    spec = BY_NAME.get(name)
    return textwrap.fill(spec.description if spec is not None else name, width)


def deciles_figure(deciles: pd.DataFrame, features: list[str]) -> Figure:
    """Small multiples: churn rate by decile of each key feature, titled in the catalog's words (grey: missing)."""
    n = max(1, len(features))
    cols = min(3, n)
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(3.4 * cols, 2.9 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, name in zip(axes, features, strict=False):
        d = deciles[deciles["feature"] == name]
        known = d[d["decile"] > 0]
        ax.bar(known["decile"], 100 * known["churn_rate"], color=_BLUE)
        miss = d[d["decile"] == 0]
        if len(miss):
            ax.bar([0], 100 * miss["churn_rate"], color="0.75")
        ax.set_title(feature_title(name), fontsize=8)
        ax.set_xlabel("decile (0 = missing)", fontsize=7)
        ax.set_ylabel("churn %", fontsize=7)
        ax.tick_params(labelsize=7)
    for ax in axes[len(features):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def bands_figure(bands: pd.DataFrame) -> Figure:
    """Mean predicted risk against realised churn rate by risk band."""
    fig = Figure(figsize=(5.5, 3.6))
    ax = fig.subplots()
    x = np.arange(len(bands))
    ax.bar(x - 0.2, 100 * bands["predicted"], width=0.4, color=_GREY, label="predicted (mean)")
    ax.bar(x + 0.2, 100 * bands["realised"], width=0.4, color=[_BAND_COLOURS.get(b, _BLUE) for b in bands["band"]],
           label="realised churn")
    ax.set_xticks(x, labels=[f"{b}\n({n:,})" for b, n in zip(bands["band"], bands["accounts"], strict=True)])
    ax.set(ylabel="% of accounts", title="Risk bands vs realised churn")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def at_risk_figure(table: pd.DataFrame, by: str, top: int = 15) -> Figure:
    """MRR at risk (probability × MRR) per group, largest first."""
    t = table.head(top)[::-1]
    fig = Figure(figsize=(5.5, 0.32 * len(t) + 1.4))
    ax = fig.subplots()
    ax.barh(t[by].astype(str), t["mrr_at_risk"], color=_RED)
    ax.set(xlabel="MRR at risk ($)", title=f"MRR at risk by {by.replace('_id', '').replace('_', ' ')}")
    fig.tight_layout()
    return fig


def forecast_figure(history: pd.DataFrame, groups: list[str], level: int = 80) -> Figure:
    """Forecast vs realised over time: one column per group, GRR above NRR; the band is the `level`% interval,
    dots the realised value, the dashed line last period's (naive) figure."""
    cols = max(1, len(groups))
    fig = Figure(figsize=(2.9 * cols + 0.6, 5.0))
    axes = np.atleast_2d(fig.subplots(2, cols, sharex=True, squeeze=False))
    for j, group in enumerate(groups):
        for i, metric in enumerate(("grr", "nrr")):
            ax = axes[i, j]
            d = history[(history["group"] == group) & (history["metric"] == metric)].sort_values("as_of")
            x = pd.to_datetime(d["as_of"])
            ax.fill_between(x, 100 * d[f"lo{level}"], 100 * d[f"hi{level}"], color=_BLUE, alpha=0.2,
                            label=f"{level}% range")
            ax.plot(x, 100 * d["forecast"], color=_BLUE, label="forecast")
            ax.plot(x, 100 * d["realised"], "o", color=_RED, markersize=3, label="realised")
            if "naive_last" in d:
                ax.plot(x, 100 * d["naive_last"], "--", color=_GREY, linewidth=1, label="last period")
            ax.set_title(f"{metric.upper()} · {group}", fontsize=9)
            ax.tick_params(labelsize=7)
            ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=2, maxticks=4))
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b %y"))
            ax.tick_params(axis="x", rotation=30)
            if j == 0:
                ax.set_ylabel("% of ARR at the forecast date", fontsize=7)
    axes[0, 0].legend(fontsize=6, loc="lower left")
    fig.tight_layout()
    return fig


__all__ = [
    "Image", "at_risk_figure", "bands_figure", "cohort_retention_figure", "deciles_figure", "experience_figure",
    "experience_vs_outcomes_figure", "feature_title", "forecast_figure", "logos_figure", "movements_figure",
    "retention_figure", "to_data_uri", "to_image", "to_svg",
]
