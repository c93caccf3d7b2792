"""The feature registry: every feature's name, meaning in a CSM's words, theme and unit.

The definitions (Ibis expressions in the theme modules) and this registry live side by side; explanations
use the registry to phrase reasons ("Weekly active users fell 46% ..."), the docs list it, and the model
uses `kind` to treat categoricals natively. A feature whose source table or column is absent is not
produced at all (absent, not zero) — `requires` says what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Theme = Literal["usage", "support", "sentiment", "commercial", "team", "account"]
Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class FeatureSpec:
    """One feature.

    Attributes:
        name: column name in the feature table.
        description: what it measures, in words a CSM understands.
        theme: usage / support / sentiment / commercial / team / account.
        unit: display unit ("events", "days", "users", "%", "USD", "score", "ratio", "").
        kind: numeric or categorical.
        requires: (table, column) pairs that must exist for the feature to be computed.
        reference: name of another feature that is this one's natural comparison point
            (e.g. events_30d is compared with events_prev_30d), used to phrase reasons.
    """

    name: str
    description: str
    theme: Theme
    unit: str = ""
    kind: Kind = "numeric"
    requires: tuple[tuple[str, str], ...] = ()
    reference: str | None = None
    context: bool = False


def _usage(name: str, description: str, unit: str, *, user: bool = False, reference: str | None = None,
           type_: bool = False) -> FeatureSpec:
    req: tuple[tuple[str, str], ...] = (("events", "ts"),)
    if user:
        req += (("events", "user_id"),)
    if type_:
        req += (("events", "event_type"),)
    return FeatureSpec(name, description, "usage", unit, requires=req, reference=reference)


USAGE_WINDOWS: tuple[int, ...] = (7, 30, 90)

USAGE: tuple[FeatureSpec, ...] = (
    *(
        _usage(f"events_{w}d", f"Product events in the last {w} days", "events",
               reference="events_prev_30d" if w == 30 else None)
        for w in USAGE_WINDOWS
    ),
    _usage("events_prev_30d", "Product events in the 30 days before the last 30", "events"),
    _usage("events_trend_30d", "Product events in the last 30 days relative to the 30 days before", "ratio"),
    *(_usage(f"active_days_{w}d", f"Days with any product activity in the last {w} days", "days")
      for w in USAGE_WINDOWS),
    _usage("days_since_last_event", "Days since the last product activity (within the last 90 days)", "days"),
    _usage("active_users_7d", "Distinct active users in the last 7 days", "users", user=True),
    _usage("active_users_30d", "Distinct active users in the last 30 days", "users", user=True,
           reference="active_users_prev_30d"),
    _usage("active_users_prev_30d", "Distinct active users in the 30 days before the last 30", "users",
           user=True),
    _usage("active_users_trend_30d", "Active users in the last 30 days relative to the 30 days before",
           "ratio", user=True),
    FeatureSpec("seat_utilisation_30d", "Share of paid seats used in the last 30 days", "usage", "%",
                requires=(("events", "user_id"), ("subscriptions", "seats"))),
    _usage("event_types_30d", "Distinct product features used in the last 30 days", "features", type_=True,
           reference="event_types_90d"),
    _usage("event_types_90d", "Distinct product features used in the last 90 days", "features", type_=True),
)

SUPPORT: tuple[FeatureSpec, ...] = (
    FeatureSpec("tickets_30d", "Support tickets opened in the last 30 days", "support", "tickets",
                requires=(("tickets", "opened_at"),)),
    FeatureSpec("tickets_90d", "Support tickets opened in the last 90 days", "support", "tickets",
                requires=(("tickets", "opened_at"),)),
    FeatureSpec("tickets_open", "Support tickets open now", "support", "tickets",
                requires=(("tickets", "opened_at"),)),
    FeatureSpec("tickets_open_high_14d", "High-priority tickets open for over 14 days", "support", "tickets",
                requires=(("tickets", "priority"),)),
    FeatureSpec("high_priority_share_90d", "Share of tickets in the last 90 days that were high priority",
                "support", "%", requires=(("tickets", "priority"),)),
    FeatureSpec("effort_mean_90d", "Average customer effort score on tickets closed in the last 90 days "
                "(1 easy – 7 hard)", "support", "score", requires=(("tickets", "effort_score"),)),
    FeatureSpec("resolution_hours_90d", "Average hours to resolve tickets closed in the last 90 days",
                "support", "hours", requires=(("tickets", "closed_at"),)),
    FeatureSpec("reopen_rate_90d", "Share of tickets closed in the last 90 days that were reopened",
                "support", "%", requires=(("tickets", "reopened"),)),
)

SENTIMENT: tuple[FeatureSpec, ...] = (
    FeatureSpec("nps_latest", "Latest NPS answer (0–10)", "sentiment", "score",
                requires=(("surveys", "kind"),), reference="nps_previous"),
    FeatureSpec("nps_previous", "The NPS answer before the latest one", "sentiment", "score",
                requires=(("surveys", "kind"),)),
    FeatureSpec("nps_change", "Change between the latest and the previous NPS answer", "sentiment", "points",
                requires=(("surveys", "kind"),)),
    FeatureSpec("nps_category", "Latest NPS category (promoter, passive, detractor)", "sentiment",
                kind="categorical", requires=(("surveys", "kind"),)),
    FeatureSpec("csat_mean_90d", "Average CSAT (1–5) in the last 90 days", "sentiment", "score",
                requires=(("surveys", "kind"),)),
    FeatureSpec("ces_mean_90d", "Average Customer Effort Score survey (1–7) in the last 90 days", "sentiment",
                "score", requires=(("surveys", "kind"),)),
    FeatureSpec("survey_responses_180d", "Survey answers received in the last 180 days", "sentiment",
                "responses", requires=(("surveys", "kind"),)),
    FeatureSpec("days_since_last_survey", "Days since the account last answered a survey (within a year)",
                "sentiment", "days", requires=(("surveys", "kind"),)),
)

COMMERCIAL: tuple[FeatureSpec, ...] = (
    FeatureSpec("mrr", "Monthly recurring revenue", "commercial", "USD",
                requires=(("subscriptions", "mrr"),), reference="mrr_90d_ago"),
    FeatureSpec("mrr_90d_ago", "Monthly recurring revenue 90 days ago", "commercial", "USD",
                requires=(("subscriptions", "mrr"),)),
    FeatureSpec("mrr_change_90d", "Change in monthly recurring revenue over 90 days", "commercial", "USD",
                requires=(("subscriptions", "mrr"),)),
    FeatureSpec("mrr_change_pct_90d", "Relative change in monthly recurring revenue over 90 days",
                "commercial", "%", requires=(("subscriptions", "mrr"),)),
    FeatureSpec("seats", "Paid seats", "commercial", "seats", requires=(("subscriptions", "seats"),)),
    FeatureSpec("plan", "Current plan", "commercial", kind="categorical",
                requires=(("subscriptions", "plan"),)),
    FeatureSpec("contract_type", "Contract type (monthly, annual, multi-year)", "commercial",
                kind="categorical", requires=(("subscriptions", "start_date"),)),
    FeatureSpec("tenure_days", "Days since the first subscription started", "commercial", "days",
                requires=(("subscriptions", "start_date"),)),
    FeatureSpec("days_to_renewal", "Days until the next contract renewal", "commercial", "days",
                requires=(("subscriptions", "start_date"),)),
)

TEAM: tuple[FeatureSpec, ...] = (
    FeatureSpec("csm_enps_90d", "Employee NPS of the owning CS team over the last 90 days (−100 to 100)",
                "team", "points", requires=(("csm_enps", "score"), ("accounts", "csm_id"))),
)

ACCOUNT: tuple[FeatureSpec, ...] = (
    FeatureSpec("account_age_days", "Days since the account was created", "account", "days",
                requires=(("accounts", "created_at"),)),
    FeatureSpec("segment", "Customer segment", "account", kind="categorical",
                requires=(("accounts", "segment"),)),
    FeatureSpec("industry", "Industry", "account", kind="categorical", requires=(("accounts", "industry"),)),
    FeatureSpec("region", "Region", "account", kind="categorical", requires=(("accounts", "region"),)),
)

FEATURES: tuple[FeatureSpec, ...] = USAGE + SUPPORT + SENTIMENT + COMMERCIAL + TEAM + ACCOUNT
BY_NAME: dict[str, FeatureSpec] = {f.name: f for f in FEATURES}

# Account columns that are identifiers or join keys, never static-attribute features.
ACCOUNT_KEY_COLUMNS: frozenset[str] = frozenset({"account_id", "created_at", "csm_id"})


def static_attribute_spec(column: str, numeric: bool) -> FeatureSpec:
    """Registry entry for an extra `accounts` column (a static attribute the customer supplied)."""
    pretty = column.replace("_", " ")
    return FeatureSpec(
        name=column,
        description=f"Account attribute: {pretty}",
        theme="account",
        kind="numeric" if numeric else "categorical",
        requires=(("accounts", column),),
    )


def get(name: str) -> FeatureSpec:
    """The registry entry for `name`; static attributes get a generic entry."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"feature {name!r} is not in the feature registry") from None


def registry_markdown() -> str:
    """The registry as a Markdown table (docs/features.md embeds it; a test keeps the two in step)."""
    lines = ["| feature | theme | unit | meaning | needs |", "|---|---|---|---|---|"]
    for f in FEATURES:
        needs = ", ".join(f"{t}.{c}" for t, c in f.requires) or "—"
        unit = f.unit or ("category" if f.kind == "categorical" else "")
        lines.append(f"| `{f.name}` | {f.theme} | {unit} | {f.description} | {needs} |")
    return "\n".join(lines)
