"""Parameters of the simulated world: segments, plans, event types and the coefficients of the generative story.

Everything the simulator draws from lives here as plain constants, so `truth/params.json` can record them and a
reader can see the whole story's knobs in one place. Health is a latent, roughly standard-normal score: positive
is a thriving account, below -1 is an account in trouble.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class SegmentParams:
    """Commercial profile of one customer segment.

    Attributes:
        name: segment label written to `accounts.segment`.
        share: share of accounts in this segment.
        seats: (low, high) initial seat count, drawn log-uniformly.
        employees: (low, high) company head count, drawn log-uniformly.
        annual_share: share of accounts on annual (12-month) contracts; the rest pay monthly.
        monthly_logit: churn-hazard logit of a monthly-billed account at health 0, per month.
        renewal_logit: non-renewal logit of an annual account at health 0, in its renewal month.
        tickets_per_month: expected support tickets per month at health 0 for a mid-sized account.
    """

    name: str
    share: float
    seats: tuple[int, int]
    employees: tuple[int, int]
    annual_share: float
    monthly_logit: float
    renewal_logit: float
    tickets_per_month: float


SEGMENTS: tuple[SegmentParams, ...] = (
    SegmentParams("SMB", 0.60, (2, 15), (5, 200), 0.15, -4.3, -1.9, 0.35),
    SegmentParams("Mid-Market", 0.30, (15, 80), (200, 2000), 0.50, -4.7, -2.2, 1.0),
    SegmentParams("Enterprise", 0.10, (80, 400), (2000, 60000), 1.00, -5.2, -2.5, 2.6),
)

# Plans by seat count (upper bound inclusive) and list price per seat per month.
PLANS: tuple[tuple[str, int, float], ...] = (
    ("Starter", 10, 45.0),
    ("Growth", 50, 62.0),
    ("Business", 150, 78.0),
    ("Enterprise", 1_000_000, 95.0),
)
ANNUAL_DISCOUNT = 0.85

INDUSTRIES: tuple[tuple[str, float, float], ...] = (  # name, weight, effect on the account's health baseline
    ("Software", 0.24, 0.15),
    ("Financial Services", 0.12, 0.05),
    ("Healthcare", 0.10, -0.05),
    ("Retail", 0.12, -0.15),
    ("Manufacturing", 0.10, 0.0),
    ("Education", 0.08, -0.25),
    ("Media", 0.08, -0.1),
    ("Professional Services", 0.16, 0.05),
)
REGIONS: tuple[tuple[str, float, float], ...] = (  # name, weight, UTC offset in hours of the working day
    ("NA", 0.45, -6.0),
    ("EMEA", 0.33, 1.0),
    ("APAC", 0.14, 8.0),
    ("LATAM", 0.08, -4.0),
)
CHANNELS: tuple[tuple[str, float, float], ...] = (  # acquisition channel, weight, effect on health baseline
    ("inbound", 0.35, 0.05),
    ("outbound", 0.25, -0.15),
    ("partner", 0.12, 0.1),
    ("self_serve", 0.18, -0.1),
    ("referral", 0.10, 0.25),
)

# Event types: name, base weight among a session's follow-up events, health threshold of adoption (None: basic
# feature everybody uses). `login` opens every active user-day; `integration_sync` is a nightly machine event.
EVENT_TYPES: tuple[str, ...] = (
    "login",
    "view_dashboard",
    "search",
    "create_report",
    "share_report",
    "export_csv",
    "comment",
    "upload_file",
    "invite_user",
    "configure_alert",
    "api_call",
    "integration_sync",
)
FOLLOWUP_WEIGHTS: dict[str, tuple[float, float | None]] = {
    "view_dashboard": (0.30, None),
    "search": (0.14, None),
    "create_report": (0.08, -0.6),
    "share_report": (0.05, 0.0),
    "export_csv": (0.08, None),
    "comment": (0.10, -0.3),
    "upload_file": (0.07, None),
    "invite_user": (0.015, 0.3),
    "configure_alert": (0.025, 0.4),
    "api_call": (0.12, None),
}


@dataclass(frozen=True)
class SimParams:
    """Coefficients of the generative story (see the package docstring for the story itself)."""

    pre_start_months: int = 48  # longest tenure of accounts that already exist at `start`
    preexisting_share: float = 0.55  # share of accounts created before `start`
    # Latent health: h' = h + v', v' = momentum*v + noise*eps - reversion*(h - target) + shock.
    health_mean: float = 0.25
    health_between_sd: float = 0.6
    health_momentum: float = 0.55
    health_noise: float = 0.25
    health_reversion: float = 0.1
    champion_loss_rate: float = 0.015  # per month; pushes the health velocity down
    champion_loss_size: tuple[float, float] = (0.3, 0.6)
    sponsor_gain_rate: float = 0.01
    sponsor_gain_size: float = 0.25
    onboarding_effect: float = 0.5  # health target shift per sd of onboarding quality, fading over ~4 months
    csm_morale_effect: float = 0.35
    csm_accounts: int = 70  # accounts per CSM
    csm_morale_persistence: float = 0.85
    csm_morale_noise: float = 0.35
    # Churn hazard.
    hazard_health_slope: float = 1.8
    renewal_health_slope: float = 1.8
    early_tenure_logit: float = 0.5  # extra monthly-hazard logit in the first months, fading over ~4 months
    annual_offcycle_logit: float = -7.0  # annual contracts ending outside the renewal month (bankruptcy etc.)
    quick_reactivation_share: float = (
        0.06  # churned accounts that come back within 14 days (payment recovered)
    )
    winback_share: float = 0.04  # churned accounts won back 2-10 months later
    seat_change_rate: float = 0.08  # monthly-billed: chance per month of a seat change
    # Usage.
    activity_scale: float = 0.55  # multiplies user propensity x engagement into a daily active probability
    engagement_intercept: float = 0.3
    engagement_slope: float = 1.4
    followups_per_session: float = 1.7  # mean follow-up events after the login of an active user-day
    day_noise_sd: float = 0.2
    style_sd: float = 0.4  # account-level usage intensity unrelated to health
    # Support and surveys.
    ticket_health_slope: float = 0.55
    nps_response_intercept: float = -0.5
    csat_response_intercept: float = -0.3
    ces_response_intercept: float = 0.5
    response_health_slope: float = 0.9
    segments: tuple[SegmentParams, ...] = field(default=SEGMENTS)

    def to_dict(self) -> dict[str, Any]:
        """All parameters, segments and catalogues as JSON-serialisable values."""
        out = asdict(self)
        out["plans"] = [list(p) for p in PLANS]
        out["industries"] = [list(i) for i in INDUSTRIES]
        out["regions"] = [list(r) for r in REGIONS]
        out["channels"] = [list(c) for c in CHANNELS]
        out["event_types"] = list(EVENT_TYPES)
        out["followup_weights"] = {k: list(v) for k, v in FOLLOWUP_WEIGHTS.items()}
        out["annual_discount"] = ANNUAL_DISCOUNT
        return out


def plan_for(seats: int, segment: str) -> tuple[str, float]:
    """Plan name and list price per seat for `seats` seats (Enterprise accounts are always on Enterprise)."""
    if segment == "Enterprise":
        return PLANS[-1][0], PLANS[-1][2]
    for name, max_seats, price in PLANS:
        if seats <= max_seats:
            return name, price
    return PLANS[-1][0], PLANS[-1][2]
