"""The feature registry: every feature's name, meaning in a CSM's words, theme and unit.

The definitions (Ibis expressions in the theme modules) and this registry live side by side; explanations
use the registry to phrase reasons ("Weekly active users fell 46% ..."), the docs list it, and the model
uses `kind` to treat categoricals natively. A feature whose source table or column is absent is not
produced at all (absent, not zero) — `requires` says what it needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from churnml.config import FeaturesConfig, FeatureWindows

Theme = Literal["usage", "support", "sentiment", "commercial", "team", "account", "plays"]
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
        context: the feature describes the account's situation (contract, tenure, segment, static attributes)
            rather than its behaviour; explanations treat it as context, not as something a CSM can move.
        accumulates: the feature grows with the account's age by construction (tenure, lifetime totals), so an
            ageing population shifts its distribution every week; drift monitoring reports its shift apart
            instead of counting it as a breach (`churnml.scoring.drift`).
    """

    name: str
    description: str
    theme: Theme
    unit: str = ""
    kind: Kind = "numeric"
    requires: tuple[tuple[str, str], ...] = ()
    reference: str | None = None
    context: bool = False
    accumulates: bool = False


class Words:
    """How events and their `value` are named in descriptions and units (from `FeaturesConfig`)."""

    def __init__(self, cfg: FeaturesConfig) -> None:
        noun = cfg.event_noun
        self.events = _plural(noun).capitalize() if noun else "Product events"  # "Purchases", "Product events"
        self.unit = _plural(noun) if noun else "events"
        self.activity = f"any {noun}" if noun else "any product activity"
        self.last = f"the last {noun}" if noun else "the last product activity"
        self.first = f"the first {noun}" if noun else "the first product activity"
        self.per = f"per {noun}" if noun else "per event"
        self.value = cfg.event_value

    def value_phrase(self, window: str, mean: bool = False) -> str:
        """'Money spent in the last 90 days (USD)', 'Time in product per event in the last 30 days (minutes)'."""
        what = "Money spent" if self.value.meaning == "money" else "Time in product"
        if mean:
            what = ("Average money spent " if self.value.meaning == "money" else "Average time in product ") + self.per
        unit = f" ({self.value.unit})" if self.value.unit else ""
        return f"{what} {window}{unit}"


def _plural(noun: str | None) -> str:
    if not noun:
        return ""
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _usage(name: str, description: str, unit: str, *, user: bool = False, reference: str | None = None,
           type_: bool = False, value: bool = False, accumulates: bool = False) -> FeatureSpec:
    req: tuple[tuple[str, str], ...] = (("events", "ts"),)
    if user:
        req += (("events", "user_id"),)
    if type_:
        req += (("events", "event_type"),)
    if value:
        req += (("events", "value"),)
    return FeatureSpec(name, description, "usage", unit, requires=req, reference=reference, accumulates=accumulates)


# The default usage windows (`FeatureWindows().usage`); the windows in use come from the config.
USAGE_WINDOWS: tuple[int, ...] = FeatureWindows().usage


def usage_specs(cfg: FeaturesConfig) -> tuple[FeatureSpec, ...]:
    """Usage features of windows `cfg.windows.usage` plus the fixed-window users, breadth and trends."""
    ws, words = cfg.windows.usage, Words(cfg)
    return (
        *(
            _usage(f"events_{w}d", f"{words.events} in the last {w} days", words.unit,
                   reference="events_prev_30d" if w == 30 else None)
            for w in ws
        ),
        *(() if 30 not in ws else (  # the 30-day trend comes with the 30-day window
            _usage("events_prev_30d", f"{words.events} in the 30 days before the last 30", words.unit),
            _usage("events_trend_30d", f"{words.events} in the last 30 days relative to the 30 days before",
                   "ratio"),
        )),
        *(_usage(f"active_days_{w}d", f"Days with {words.activity} in the last {w} days", "days") for w in ws),
        _usage("days_since_last_event", f"Days since {words.last}", "days"),
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


def lifetime_specs(cfg: FeaturesConfig) -> tuple[FeatureSpec, ...]:
    """Lifetime / RFM features: first activity, totals, active periods, gaps, money, trend against history."""
    ws, words = cfg.windows.usage, Words(cfg)
    since = f"since {words.first}"
    specs = [
        _usage("days_since_first_event", f"Days since {words.first}", "days", accumulates=True),
        _usage("events_lifetime", f"{words.events} {since}", words.unit, accumulates=True),
        _usage("active_days_lifetime", f"Days with {words.activity} {since}", "days", accumulates=True),
        _usage("active_weeks_lifetime", f"Calendar weeks (Monday to Sunday) with {words.activity} {since}", "weeks",
               accumulates=True),
        _usage("active_months_lifetime", f"Calendar months with {words.activity} {since}", "months", accumulates=True),
        _usage("gap_days_mean_lifetime", f"Average days between active days {since}", "days"),
        _usage("gap_days_latest", "Days between the last two active days", "days",
               reference="gap_days_mean_lifetime"),
        *(
            _usage(f"events_vs_history_{w}d", f"{words.events} in the last {w} days relative to the account's "
                   f"own daily rate before them", "ratio")
            for w in ws
        ),
    ]
    if cfg.event_value.meaning != "count":
        unit = cfg.event_value.unit or ("money" if cfg.event_value.meaning == "money" else "time")
        for w in ws:
            specs.append(_usage(f"value_{w}d", words.value_phrase(f"in the last {w} days"), unit, value=True))
            specs.append(_usage(f"value_mean_{w}d", words.value_phrase(f"in the last {w} days", mean=True), unit,
                                value=True))
        specs.append(_usage("value_lifetime", words.value_phrase(since), unit, value=True, accumulates=True))
        specs.append(_usage("value_mean_lifetime", words.value_phrase(since, mean=True), unit, value=True))
    return tuple(specs)


def support_specs(cfg: FeaturesConfig) -> tuple[FeatureSpec, ...]:
    """Ticket counts per support window; quality averages over the longest one; recency uncapped."""
    ws, long = cfg.windows.support, max(cfg.windows.support)
    opened = (("tickets", "opened_at"),)
    return (
        *(FeatureSpec(f"tickets_{w}d", f"Support tickets opened in the last {w} days", "support", "tickets",
                      requires=opened) for w in ws),
        FeatureSpec("tickets_open", "Support tickets open now", "support", "tickets", requires=opened),
        FeatureSpec("tickets_open_high_14d", "High-priority tickets open for over 14 days", "support", "tickets",
                    requires=(("tickets", "priority"),)),
        FeatureSpec(f"high_priority_share_{long}d", f"Share of tickets in the last {long} days that were high "
                    "priority", "support", "%", requires=(("tickets", "priority"),)),
        FeatureSpec(f"effort_mean_{long}d", f"Average customer effort score on tickets closed in the last {long} "
                    "days (1 easy – 7 hard)", "support", "score", requires=(("tickets", "effort_score"),)),
        FeatureSpec(f"resolution_hours_{long}d", f"Average hours to resolve tickets closed in the last {long} days",
                    "support", "hours", requires=(("tickets", "closed_at"),)),
        FeatureSpec(f"reopen_rate_{long}d", f"Share of tickets closed in the last {long} days that were reopened",
                    "support", "%", requires=(("tickets", "reopened"),)),
        FeatureSpec("days_since_last_ticket", "Days since the account last opened a support ticket", "support",
                    "days", requires=opened),
    )


def sentiment_specs(cfg: FeaturesConfig) -> tuple[FeatureSpec, ...]:
    """NPS level and change; CSAT, CES and answers per sentiment window; survey recency uncapped."""
    survey = (("surveys", "kind"),)
    per_window = []
    for w in cfg.windows.sentiment:
        per_window += [
            FeatureSpec(f"csat_mean_{w}d", f"Average CSAT (1–5) in the last {w} days", "sentiment", "score",
                        requires=survey),
            FeatureSpec(f"ces_mean_{w}d", f"Average Customer Effort Score survey (1–7) in the last {w} days",
                        "sentiment", "score", requires=survey),
            FeatureSpec(f"survey_responses_{w}d", f"Survey answers received in the last {w} days", "sentiment",
                        "responses", requires=survey),
        ]
    return (
        FeatureSpec("nps_latest", "Latest NPS answer (0–10)", "sentiment", "score", requires=survey,
                    reference="nps_previous"),
        FeatureSpec("nps_previous", "The NPS answer before the latest one", "sentiment", "score", requires=survey),
        FeatureSpec("nps_change", "Change between the latest and the previous NPS answer", "sentiment", "points",
                    requires=survey),
        FeatureSpec("nps_category", "Latest NPS category (promoter, passive, detractor)", "sentiment",
                    kind="categorical", requires=survey),
        *per_window,
        FeatureSpec("days_since_last_survey", "Days since the account last answered a survey", "sentiment",
                    "days", requires=survey),
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
                requires=(("subscriptions", "plan"),), context=True),
    FeatureSpec("contract_type", "Contract type (monthly, annual, multi-year)", "commercial",
                kind="categorical", requires=(("subscriptions", "start_date"),), context=True),
    FeatureSpec("contract_term_months", "Longest term of the active subscriptions, in months (1: monthly)",
                "commercial", "months", requires=(("subscriptions", "start_date"),), context=True),
    FeatureSpec("tenure_days", "Days since the first subscription started", "commercial", "days",
                requires=(("subscriptions", "start_date"),), context=True, accumulates=True),
    FeatureSpec("days_to_renewal", "Days until the next contract renewal", "commercial", "days",
                requires=(("subscriptions", "start_date"),), context=True),
)

TEAM: tuple[FeatureSpec, ...] = (
    FeatureSpec("csm_enps_90d", "Employee NPS of the owning CS team over the last 90 days (−100 to 100)",
                "team", "points", requires=(("csm_enps", "score"), ("accounts", "csm_id"))),
)

ACCOUNT: tuple[FeatureSpec, ...] = (
    FeatureSpec("account_age_days", "Days since the account was created", "account", "days",
                requires=(("accounts", "created_at"),), context=True, accumulates=True),
    FeatureSpec("segment", "Customer segment", "account", kind="categorical",
                requires=(("accounts", "segment"),), context=True),
    FeatureSpec("industry", "Industry", "account", kind="categorical", requires=(("accounts", "industry"),),
                context=True),
    FeatureSpec("region", "Region", "account", kind="categorical", requires=(("accounts", "region"),),
                context=True),
)

# Past CSM plays (churnml.features.interventions): a treated account is not mistaken for a healthy one.
PLAYS: tuple[FeatureSpec, ...] = (
    FeatureSpec("plays_90d", "CSM plays run on the account in the last 90 days", "plays", "plays",
                requires=(("interventions", "ts"),)),
    FeatureSpec("days_since_last_play", "Days since the last CSM play", "plays", "days",
                requires=(("interventions", "ts"),)),
)


def catalog(cfg: FeaturesConfig | None = None) -> tuple[FeatureSpec, ...]:
    """Every feature the configuration defines (windows, event words), in registry order."""
    cfg = cfg if cfg is not None else FeaturesConfig()
    return (*usage_specs(cfg), *lifetime_specs(cfg), *support_specs(cfg), *sentiment_specs(cfg), *COMMERCIAL,
            *TEAM, *ACCOUNT, *PLAYS)


# The registry of the default configuration (a FeatureSet's `specs` are the ones of its own configuration).
FEATURES: tuple[FeatureSpec, ...] = catalog()
BY_NAME: dict[str, FeatureSpec] = {f.name: f for f in FEATURES}

# Account columns that are identifiers or join keys, never static-attribute features.
ACCOUNT_KEY_COLUMNS: frozenset[str] = frozenset({"account_id", "created_at", "csm_id", "name"})


def static_attribute_spec(column: str, numeric: bool) -> FeatureSpec:
    """Registry entry for an extra `accounts` column (a static attribute the customer supplied)."""
    pretty = column.replace("_", " ")
    return FeatureSpec(
        name=column,
        description=f"Account attribute: {pretty}",
        theme="account",
        kind="numeric" if numeric else "categorical",
        requires=(("accounts", column),),
        context=True,
    )


def get(name: str, specs: Iterable[FeatureSpec] | None = None) -> FeatureSpec:
    """The registry entry for `name` among `specs` (default: the default configuration's registry)."""
    found = BY_NAME.get(name) if specs is None else next((s for s in specs if s.name == name), None)
    if found is None:
        raise KeyError(f"feature {name!r} is not in the feature registry")
    return found


def registry_markdown(specs: Iterable[FeatureSpec] | None = None) -> str:
    """The registry as a Markdown table (docs/features.md embeds the default one; a test keeps them in step)."""
    lines = ["| feature | theme | unit | meaning | needs |", "|---|---|---|---|---|"]
    for f in FEATURES if specs is None else specs:
        needs = ", ".join(f"{t}.{c}" for t, c in f.requires) or "—"
        unit = f.unit or ("category" if f.kind == "categorical" else "")
        lines.append(f"| `{f.name}` | {f.theme} | {unit} | {f.description} | {needs} |")
    return "\n".join(lines)
