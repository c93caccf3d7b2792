"""Typed configuration: `configs/*.yaml` validated into pydantic models, environment variables override.

Environment overrides use the prefix ``CHURNML_`` and ``__`` between levels, e.g.
``CHURNML_LABELS__HORIZON_DAYS=60`` or ``CHURNML_WORK_DIR=/data/churnml``. Loading does no I/O beyond reading
the YAML file: no folders are created and no tracking URI is set at import time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from churnml.config_check import ConfigError, check_keys, readable, stray_env
from churnml.crm.mapping import CrmConfig
from churnml.scoring.drift import DriftConfig


class DataConfig(BaseModel):
    """Where the input tables are and how strictly they are validated."""

    dir: Path = Path("work/data")
    lenient: bool = Field(
        False, description="Quarantine bad rows to a rejects folder instead of failing on them."
    )
    rejects_dir: Path | None = Field(None, description="Default: <data.dir>/rejects.")
    duplicate_events: Literal["keep", "drop"] = Field(
        "keep",
        description="Events equal in every column (reported as a warning): keep them (a log may repeat) or "
        "drop the repeats, keeping one of each.",
    )


class EventTypeFeaturesConfig(BaseModel):
    """Per-event-type features (`features.event_types`; docs/features.md, "Per-event-type features").

    `select` is `none` (off), `all`, `top N` (the N types with most events before the first as-of date being
    built: choosing columns never looks past the dates it builds) or a list of event types. Default `top 10`:
    a log's event types are used out of the box, at most 50 columns however many types it has (the measurement
    behind the choice: docs/features.md, "Per-event-type features").
    """

    model_config = ConfigDict(extra="forbid")

    select: str | list[str] = Field("top 10", description="none | all | top N | [type, ...]")
    windows: list[int] = Field([30, 90], description="Windows in days for counts and shares (trend: 30 vs 30).")
    ratios: list[tuple[str, str]] = Field(
        default_factory=list, description="[[numerator, denominator], ...] → ratio_<num>_<den>_<w>d per window."
    )
    max_types: int = Field(50, ge=1, description="Most types `all` keeps (the most frequent, with a warning).")

    @field_validator("select")
    @classmethod
    def _select(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, list):
            if not v or any(not t for t in v):
                raise ValueError("features.event_types.select: a list must name at least one non-empty type")
            return v
        words = v.strip().lower().split()
        if words in (["none"], ["all"]) or (len(words) == 2 and words[0] == "top" and words[1].isdigit()
                                               and int(words[1]) > 0):
            return " ".join(words)
        raise ValueError(f"features.event_types.select must be none, all, 'top N' or a list of types, got {v!r}")

    @field_validator("windows")
    @classmethod
    def _windows(cls, v: list[int]) -> list[int]:
        if not v or any(w < 1 for w in v):
            raise ValueError(f"features.event_types.windows must be positive day counts, got {v}")
        return sorted(set(v))


class BuyerFeaturesConfig(BaseModel):
    """Buy-till-you-die features (`features.buyer`): BG/NBD P(alive) and expected activity in the horizon.

    auto: on for `labels.kind: non_contractual`, off otherwise.
    """

    model_config = ConfigDict(extra="forbid")

    mode: Literal["auto", "on", "off"] = Field("auto", description="auto: on for non_contractual labels.")
    min_customers: int = Field(
        20, ge=2, description="Fewer customers with history at an as-of date: no fit there (features null)."
    )

    @model_validator(mode="before")
    @classmethod
    def _one_word(cls, v: Any) -> Any:
        """`buyer: on` is short for `buyer: {mode: on}` (YAML 1.1 reads a bare on / off as true / false)."""
        if isinstance(v, bool):
            return {"mode": "on" if v else "off"}
        return {"mode": v} if isinstance(v, str) else v


class SimulateConfig(BaseModel):
    """Defaults for `churnml simulate` and the demo."""

    accounts: int = Field(2000, ge=1)
    start: str = "2024-01-01"
    months: int = Field(24, ge=1, le=120)
    seed: int = 7
    plays: bool = Field(False, description="Simulate CSM plays with true effects and a recorded holdout "
                        "(churnml.simulate.plays; its holdout share is plays.holdout).")


class FeatureWindows(BaseModel):
    """Window lengths in days, per theme (`features.windows`); adding a window is one more number here.

    Every usage window gives `events_{w}d`, `active_days_{w}d` (and money or time per window when
    `event_value` says what `value` is); every support window `tickets_{w}d` (the ticket-quality averages use
    the longest); every sentiment window `survey_responses_{w}d`, `csat_mean_{w}d`, `ces_mean_{w}d`.
    Lifetime features come on top, whatever the windows.
    """

    model_config = ConfigDict(extra="forbid")

    usage: tuple[int, ...] = (7, 30, 90, 180, 365)
    support: tuple[int, ...] = (30, 90)
    sentiment: tuple[int, ...] = (90, 180)

    @field_validator("usage", "support", "sentiment")
    @classmethod
    def _positive_sorted(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(w < 1 for w in v):
            raise ValueError(f"windows must be one or more whole days >= 1, got {list(v)}")
        return tuple(sorted(set(v)))

    def longest(self) -> int:
        """The longest window of any theme."""
        return max(*self.usage, *self.support, *self.sentiment)


class EventValue(BaseModel):
    """What `events.value` measures (`features.event_value`), declared once for features and reasons.

    count: the size of an event (rows exported, default 1): no value features. money: a payment, summed
    and averaged per window and over the lifetime, in `unit` (a currency such as USD). duration: time in
    `unit` (e.g. minutes), summed and averaged the same way.
    """

    model_config = ConfigDict(extra="forbid")

    meaning: Literal["count", "money", "duration"] = "count"
    unit: str = Field("", description="Currency (money) or time unit (duration) shown with the value.")


class FeaturesConfig(BaseModel):
    """Feature pipeline settings."""

    engine: Literal["duckdb", "spark"] = Field(
        "duckdb", description="duckdb: one machine, in process. spark: Apache Spark (see docs/scaling.md)."
    )
    every_days: int = Field(7, ge=1, description="Spacing of as-of dates for training snapshots.")
    event_types: EventTypeFeaturesConfig = EventTypeFeaturesConfig()
    buyer: BuyerFeaturesConfig = BuyerFeaturesConfig()
    duckdb_memory_limit: str = "3GB"
    duckdb_threads: int | None = None
    event_type_names: dict[str, str] = Field(
        default_factory=dict,
        description="Display names of event types in feature descriptions and reasons, e.g. {newfriend: new friends}.",
    )
    windows: FeatureWindows = FeatureWindows()
    event_value: EventValue = EventValue()
    event_noun: str | None = Field(
        None, description="What one event is, in the singular (e.g. purchase): 'Purchases in the last 90 days' "
        "instead of 'Product events in the last 90 days'.",
    )
    history_days: int | None = Field(
        90, ge=0, description="Days of data before the first training snapshot (null: the longest window).",
    )

    def history(self) -> int:
        """Days of data needed before the first training snapshot."""
        return self.windows.longest() if self.history_days is None else self.history_days


class LabelsConfig(BaseModel):
    """Churn label definition."""

    kind: Literal["contractual", "non_contractual"] = "contractual"
    horizon_days: int = Field(90, ge=1)
    grace_days: int = Field(14, ge=0, description="A lapse followed by reactivation within this is no churn.")
    lookback_days: int = Field(
        90, ge=1, description="Non-contractual: an account is active if it had an event in this window."
    )


class ForecastConfig(BaseModel):
    """Revenue outcomes and the retention forecast (the `forecast:` section; see docs/forecast.md)."""

    model_config = ConfigDict(extra="forbid")

    contraction_below: float = Field(
        0.9, gt=0, lt=1, description="Contraction: MRR at the horizon below this share of today's (churn excluded)."
    )
    expansion_above: float = Field(1.1, gt=1, description="Expansion: MRR at the horizon above this share of today's.")
    draws: int = Field(4000, ge=100, le=200_000, description="Monte Carlo draws of the portfolio's outcomes.")
    levels: tuple[float, ...] = Field((0.8, 0.95), description="Central interval levels reported.")
    random_effect: bool = Field(
        True, description="Share a logit shift per segment and draw (variance from backtest residuals)."
    )
    auc_floor: float | None = Field(
        None, ge=0.5, le=1, description="Model health: flag an estimated ROC-AUC below this."
    )
    block_promotion_on_health: bool = Field(
        False, description="The weekly job promotes no challenger while the champion's health is flagged."
    )
    seed: int = 0

    @field_validator("levels")
    @classmethod
    def _levels(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or any(not 0 < x < 1 for x in v):
            raise ValueError(f"forecast.levels must be in (0, 1), got {v}")
        return tuple(sorted(v))


class RegistryConfig(BaseModel):
    """Model registry: name and the promotion rule (challenger must beat champion by these margins)."""

    name: str = "churn-risk"
    margin_auc: float = Field(0.005, ge=0, description="ROC-AUC points a challenger must gain.")
    margin_revenue: float = Field(
        0.0, ge=0, description="Share of churned MRR captured in the top 10% a challenger must gain."
    )
    experiment: str = "churnml"


class RelativeBands(BaseModel):
    """`scoring.bands.relative`: the band edges as multiples of the base rate's odds (see `RiskBands`)."""

    medium: float = Field(1.5, gt=1, description="Medium risk from this many times the base odds.")
    high: float = Field(3.0, gt=1, description="High risk from this many times the base odds.")

    @model_validator(mode="after")
    def _ordered(self) -> RelativeBands:
        if not self.medium < self.high:
            raise ValueError(f"relative bands must satisfy medium < high, got {self.medium} and {self.high}")
        return self


class CapacityBands(BaseModel):
    """`scoring.bands.capacity`: how much a CS team can work each week — the top K accounts or X% of MRR."""

    accounts: int | None = Field(None, ge=1, description="High risk: this many accounts, riskiest first.")
    mrr_share: float | None = Field(None, gt=0, le=1, description="High risk: the riskiest accounts holding this "
                                    "share of the scored MRR.")

    @model_validator(mode="after")
    def _one(self) -> CapacityBands:
        if (self.accounts is None) == (self.mrr_share is None):
            raise ValueError("scoring.bands.capacity takes exactly one of accounts or mrr_share")
        return self


class RiskBands(BaseModel):
    """How accounts are put in the low / medium / high bands (`scoring.bands`; applied by `churnml.scoring.bands`).

    rule: relative (default) — edges at multiples of the scored population's base rate, on the odds scale so they
    stay below 100% whatever the base rate; capacity — high is the top `capacity` accounts (or MRR share), medium
    as relative; absolute — fixed probabilities `medium` and `high`.
    """

    rule: Literal["relative", "capacity", "absolute"] = Field("relative", description="relative | capacity | "
                                                               "absolute.")
    medium: float = Field(0.10, gt=0, lt=1, description="absolute: probability from which an account is medium risk.")
    high: float = Field(0.25, gt=0, lt=1, description="absolute: probability from which an account is high risk.")
    relative: RelativeBands = RelativeBands()
    capacity: CapacityBands | None = None

    @model_validator(mode="after")
    def _ordered(self) -> RiskBands:
        if not self.medium < self.high:
            raise ValueError(f"risk bands must satisfy medium < high, got {self.medium} and {self.high}")
        if self.rule == "capacity" and self.capacity is None:
            raise ValueError("rule: capacity needs scoring.bands.capacity, {accounts: K} or {mrr_share: X}")
        if self.rule != "capacity" and self.capacity is not None:
            raise ValueError(f"scoring.bands.capacity is set but the rule is {self.rule}; set rule: capacity")
        return self

    def assign(self, probability: Any) -> np.ndarray:
        """Band name per probability by the absolute thresholds `medium` and `high`."""
        p = np.asarray(probability, dtype=float)
        return np.where(p >= self.high, "high", np.where(p >= self.medium, "medium", "low")).astype(object)


class ScoringConfig(BaseModel):
    """Settings of `churnml score` (the `scoring:` section of the config)."""

    alias: str = Field("champion", description="Registry alias of the model to score with.")
    bands: RiskBands = RiskBands()
    top_reasons: int = Field(3, ge=1, le=20, description="Risk drivers and protective factors kept per account.")
    min_contribution: float = Field(0.01, ge=0, description="Smallest |log-odds| contribution that is a reason.")
    movers: int = Field(10, ge=0, description="Biggest movers listed in the summary.")
    store_wait_s: float = Field(0.0, ge=0, description="Seconds to wait while another process holds the score "
                                "store file (0: fail at once, naming it).")


class ApiKey(BaseModel):
    """One API key of `churnml serve`, stored only as a salted hash (`churnml apikey hash` makes one)."""

    name: str = Field(..., min_length=1, description="Who holds the key (shown in logs, never the key).")
    hash: str = Field(..., pattern=r"^scrypt\$", description="scrypt$n$r$p$salt$digest, from `churnml apikey hash`.")
    role: Literal["read", "write", "score"] = Field(
        "read", description="read: GET routes and the web page; write: also records plays done (POST "
        "/v1/accounts/{id}/interventions, the page's \"Play done\"); score: also POST /v1/score."
    )
    csm_id: str | None = Field(
        None, min_length=1, description="The CSM this key belongs to (accounts.csm_id): the web page's "
        "\"My accounts\" lists that CSM's book."
    )


class AuthLimits(BaseModel):
    """Limits on failed API-key and /login checks (per client address) and on scrypt checks at once."""

    free_failures: int = Field(5, ge=1, description="Failed key checks a client may make before backing off.")
    backoff_s: float = Field(1.0, gt=0, description="First backoff (429 + Retry-After); doubles per failure.")
    backoff_max_s: float = Field(300.0, gt=0, description="Longest backoff.")
    forget_s: float = Field(900.0, gt=0, description="A client's failures are forgotten after this long quiet.")
    check_workers: int = Field(2, ge=1, description="scrypt checks run at once (each ~20 ms CPU and 16 MB).")
    check_queue: int = Field(16, ge=1, description="Requests with an unverified key in progress; more get 429.")


class ServingConfig(BaseModel):
    """Settings of `churnml serve` (the `serving:` section): the API and the CSM web page."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    alias: str = Field("champion", description="Registry alias of the model served; followed when it moves.")
    reload_seconds: float = Field(30.0, ge=0, description="How often the alias is checked (0: never).")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Larger request bodies get 413.")
    max_accounts: int = Field(1000, ge=1, description="Most accounts one POST /v1/score may carry.")
    api_keys: list[ApiKey] = Field(default_factory=list, description="Salted key hashes (env: JSON list).")
    allow_anonymous: bool = Field(False, description="Serve without keys when none are configured (dev only).")
    cookie_secure: bool = Field(False, description="Mark the web page's session cookie Secure (behind HTTPS).")
    session_hours: float = Field(12.0, gt=0, description="Web page sessions expire after this long.")
    workers: int | None = Field(None, ge=1, le=64, description="uvicorn worker processes (default: CPU cores).")
    auth_limits: AuthLimits = AuthLimits()
    trusted_origins: list[str] = Field(default_factory=list, description="Origins (scheme://host[:port]) besides "
                                       "the served host allowed to post the login and logout forms.")


class RetrainConfig(BaseModel):
    """The weekly job (`churnml retrain`, the `retrain:` section): drift thresholds and where scores go."""

    drift: DriftConfig = DriftConfig()
    push: bool = Field(True, description="Push the week's scores to crm.target at the end of the job.")
    drift_weeks: int = Field(8, ge=1, description="Last weeks of the training window used as drift reference.")


class ReportingConfig(BaseModel):
    """The CS KPI report (`churnml report`, the `reporting:` section; see docs/report.md)."""

    model_config = ConfigDict(extra="forbid")

    gross_margin: float = Field(
        1.0, ge=0, le=1, description="Gross margin used in LTV (1.0 = 100%, said on the report)."
    )


class SignalCondition(BaseModel):
    """`signal op value` on the score's key signals (`scoring.table.KEY_SIGNALS`)."""

    model_config = ConfigDict(extra="forbid")

    signal: str = Field(..., min_length=1, description="Key signal of the score (scoring.table.KEY_SIGNALS).")
    op: Literal["<", "<=", ">", ">="]
    value: float


class SignalRule(SignalCondition):
    """A signal that raises an alert when it breaks: `signal op value`, while every `when` condition holds."""

    cause: str = Field(..., min_length=1, description="Alert cause, the playbook's key.")
    bands: list[Literal["low", "medium", "high"]] | None = Field(
        None, description="Only while the account is in one of these risk bands (default: any)."
    )
    when: list[SignalCondition] = Field(
        default_factory=list, description="Only while these hold too (a signal not recorded: the rule is off), "
        "e.g. a contract term of 12 months or more for a renewal rule."
    )


class PlayText(BaseModel):
    """The play recommended for a cause and the words a CSM reads."""

    model_config = ConfigDict(extra="forbid")

    play: str = Field(..., min_length=1)
    text: str = Field(..., min_length=1)


def _default_signals() -> list[SignalRule]:
    return [
        SignalRule(cause="detractor", signal="nps_latest", op="<=", value=6, bands=["medium", "high"]),
        SignalRule(cause="low_seat_use", signal="seat_utilisation_30d", op="<", value=0.4, bands=["medium", "high"]),
        SignalRule(cause="stale_high_ticket", signal="tickets_open_high_14d", op=">=", value=1),
        # a monthly contract renews every month: its renewal is no event for a renewal review
        SignalRule(cause="renewal_at_risk", signal="days_to_renewal", op="<=", value=60, bands=["high"],
                   when=[SignalCondition(signal="contract_term_months", op=">=", value=12)]),
    ]


def _default_playbook() -> dict[str, PlayText]:
    adoption = PlayText(play="adoption_session", text="Book an adoption session: walk the team through the "
                        "features they stopped using and agree two habits to build.")
    return {
        "band_up": adoption,
        "risk_jump": adoption,
        "low_seat_use": adoption,
        "detractor": PlayText(play="executive_call", text="Set up an executive call: your sponsor and theirs, "
                              "hear the complaint, agree a fix with a date."),
        "stale_high_ticket": PlayText(play="executive_call", text="Escalate the open high-priority ticket and "
                                      "call the account's sponsor with a resolution date."),
        "renewal_at_risk": PlayText(play="renewal_review", text="Run a renewal review: value delivered, "
                                    "open risks, the offer, before the renewal date."),
    }


class PlaysConfig(BaseModel):
    """Alerts, playbooks and the holdout that measures whether plays work (docs/plays.md)."""

    model_config = ConfigDict(extra="forbid")

    holdout: float = Field(0.1, ge=0, lt=1, description="Random, recorded share of new eligible alerts kept "
                           "un-routed (stratified by band): the only clean evidence of what plays do.")
    risk_move_points: float = Field(10.0, gt=0, description="Alert when risk rises more than this many points.")
    signals: list[SignalRule] = Field(default_factory=_default_signals)
    playbook: dict[str, PlayText] = Field(default_factory=_default_playbook, description="Cause -> play.")
    horizon_days: int = Field(90, ge=1, description="Outcome window of the play-effect table.")
    bootstrap: int = Field(400, ge=50, le=10_000, description="Resamples (by account) of the effect intervals.")
    seed: int = 0
    deliver_tasks: bool = Field(False, description="The weekly job pushes a task per routed alert (to "
                                "crm.tasks.target) after the scores, when it pushes.")

    @model_validator(mode="after")
    def _every_cause_has_a_play(self) -> PlaysConfig:
        causes = {"band_up", "risk_jump"} | {s.cause for s in self.signals}
        missing = sorted(causes - set(self.playbook))
        if missing:
            raise ValueError(f"plays.playbook has no play for the cause(s) {missing}")
        return self


class Settings(BaseSettings):
    """All of churnml's configuration."""

    model_config = SettingsConfigDict(env_prefix="CHURNML_", env_nested_delimiter="__", extra="forbid")

    work_dir: Path = Path("work")
    data: DataConfig = DataConfig()
    simulate: SimulateConfig = SimulateConfig()
    features: FeaturesConfig = FeaturesConfig()
    labels: LabelsConfig = LabelsConfig()
    registry: RegistryConfig = RegistryConfig()
    scoring: ScoringConfig = ScoringConfig()
    serving: ServingConfig = ServingConfig()
    # Validated into `churnml.training.train.TrainConfig` by the training job (unknown keys are refused there).
    models: dict[str, Any] = Field(default_factory=dict)
    crm: CrmConfig = CrmConfig()
    retrain: RetrainConfig = RetrainConfig()
    forecast: ForecastConfig = ForecastConfig()
    reporting: ReportingConfig = ReportingConfig()
    plays: PlaysConfig = PlaysConfig()

    @field_validator("work_dir")
    @classmethod
    def _no_placeholder(cls, v: Path) -> Path:
        if str(v).strip() == "":
            raise ValueError("work_dir must not be empty")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over the YAML file (passed as init kwargs).
        return env_settings, init_settings, file_secret_settings


DEFAULT_CONFIG = Path("configs/default.yaml")
log = logging.getLogger(__name__)


def load_settings(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Load settings from a YAML file (default `configs/default.yaml` if it exists), env overriding.

    Unknown keys anywhere in the file are refused with the section and the closest valid key; `CHURNML_*`
    environment variables that match no setting are logged as warnings (they would otherwise be ignored).

    Raises:
        FileNotFoundError: an explicitly given path does not exist.
        ConfigError: the file holds unknown keys or values of the wrong type (message in sentences).
    """
    if path is None:
        path = DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None
    elif not Path(path).exists():
        raise FileNotFoundError(f"Config file {path} does not exist.")
    raw: dict[str, Any] = {}
    if path is not None:
        raw = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"Config file {path} must hold a mapping at top level")
    check_keys(Settings, raw, path)
    try:
        settings = Settings(**raw)
    except ValidationError as exc:
        raise ConfigError(readable(exc.errors(), path)) from None
    named = _env_names(settings.crm.model_dump())
    for warning in stray_env(Settings, os.environ if environ is None else environ, also_read=named):
        log.warning(warning)
    return settings


def _env_names(section: Any) -> list[str]:
    """Every `*_env` value in a dumped config section (variables the config tells churnml to read)."""
    if isinstance(section, dict):
        out = [v for k, v in section.items() if k.endswith("_env") and isinstance(v, str)]
        return out + [n for v in section.values() for n in _env_names(v)]
    if isinstance(section, list):
        return [n for v in section for n in _env_names(v)]
    return []
