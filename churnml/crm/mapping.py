"""The `crm:` section of the configuration: target, id property, field mapping, batch sizes, URLs, secret env names.

Secrets never live in the YAML file: the config names the environment variables that hold them (tokens, the
webhook signing secret, Salesforce's instance URL). A field mapping is `CRM property -> score field`, where the
score field is one of `payload.SOURCE_FIELDS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Target = Literal["hubspot", "salesforce", "webhook", "csv", "parquet"]
TARGETS: tuple[str, ...] = ("hubspot", "salesforce", "webhook", "csv", "parquet")

#: Score fields a mapping may use (see `churnml.crm.payload.field_values`).
SOURCE_FIELDS: tuple[str, ...] = (
    "account_id", "as_of", "churn_probability", "churn_percent", "risk_band", "mrr", "mrr_at_risk", "change_points",
    "top_reasons", "top_reason_1", "top_reason_2", "top_reason_3", "protective_factors", "model_version", "segment",
    "csm_id", "scored_at", "expected_arr_at_renewal",
)
#: Fields that change every run whatever the score; ignored when deciding whether an account's score changed.
VOLATILE_FIELDS: frozenset[str] = frozenset({"as_of", "scored_at"})

HUBSPOT_FIELDS = {
    "churn_risk": "churn_probability",
    "churn_risk_band": "risk_band",
    "churn_mrr_at_risk": "mrr_at_risk",
    "churn_top_reasons": "top_reasons",
    "churn_scored_at": "as_of",
}
SALESFORCE_FIELDS = {
    "Churn_Risk__c": "churn_probability",
    "Churn_Risk_Band__c": "risk_band",
    "Churn_MRR_At_Risk__c": "mrr_at_risk",
    "Churn_Top_Reasons__c": "top_reasons",
    "Churn_Scored_At__c": "as_of",
}
FLAT_FIELDS = {
    "churn_risk": "churn_probability",
    "churn_risk_band": "risk_band",
    "churn_mrr_at_risk": "mrr_at_risk",
    "churn_change_points": "change_points",
    "churn_top_reasons": "top_reasons",
    "churn_scored_at": "as_of",
    "model_version": "model_version",
}


def _check_fields(v: dict[str, str]) -> dict[str, str]:
    unknown = sorted({s for s in v.values() if s not in SOURCE_FIELDS})
    if unknown:
        raise ValueError(f"unknown score field(s) {unknown} in the CRM field mapping; known: {list(SOURCE_FIELDS)}")
    if not v:
        raise ValueError("the CRM field mapping is empty")
    return v


class _TargetBase(BaseModel):
    fields: dict[str, str]
    batch_size: int

    @field_validator("fields")
    @classmethod
    def _known(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_fields(v)


class HubSpotConfig(_TargetBase):
    """HubSpot CRM v3 companies batch update, matched on a unique company property holding our account id."""

    base_url: str = "https://api.hubapi.com"
    object_type: str = "companies"
    id_property: str = Field("churnml_account_id", description="Unique HubSpot property matched with account_id.")
    token_env: str = Field("HUBSPOT_TOKEN", description="Env var holding the private-app bearer token.")
    batch_size: int = Field(100, ge=1, le=100, description="HubSpot accepts at most 100 inputs per batch.")
    fields: dict[str, str] = Field(default_factory=lambda: dict(HUBSPOT_FIELDS))


class SalesforceConfig(_TargetBase):
    """Salesforce sObject Collections upsert by an external id field (allOrNone false)."""

    api_version: str = Field("v61.0", pattern=r"^v\d+\.\d$")
    sobject: str = "Account"
    external_id_field: str = Field("Churnml_Account_Id__c", description="External id field holding account_id.")
    instance_url_env: str = Field("SALESFORCE_INSTANCE_URL", description="Env var with the org's instance URL.")
    token_env: str = Field("SALESFORCE_ACCESS_TOKEN", description="Env var with the OAuth access token.")
    batch_size: int = Field(200, ge=1, le=200, description="Salesforce accepts at most 200 records per request.")
    fields: dict[str, str] = Field(default_factory=lambda: dict(SALESFORCE_FIELDS))


class WebhookConfig(_TargetBase):
    """Signed JSON batches to any URL (another CRM, a data pipeline)."""

    url: str = "http://127.0.0.1:8787/churnml"
    secret_env: str = Field("CHURNML_WEBHOOK_SECRET", description="Env var with the HMAC-SHA256 signing secret.")
    batch_size: int = Field(500, ge=1, le=10_000)
    fields: dict[str, str] = Field(default_factory=lambda: dict(FLAT_FIELDS))


class FilesConfig(_TargetBase):
    """CSV / Parquet export for manual upload: one file per as-of date, all selected records."""

    dir: Path = Path("work/exports")
    batch_size: int = Field(1_000_000, ge=1)
    fields: dict[str, str] = Field(default_factory=lambda: {"account_id": "account_id", **FLAT_FIELDS})


class RetryConfig(BaseModel):
    """Retries of one batch: exponential backoff with jitter; a 429's Retry-After is honoured (capped)."""

    attempts: int = Field(6, ge=1, le=50, description="Tries per batch before the push stops (resumable).")
    backoff_base_s: float = Field(0.5, ge=0, description="First wait; doubles each retry, plus jitter.")
    backoff_max_s: float = Field(60.0, ge=0, description="Longest single wait, Retry-After included.")
    timeout_s: float = Field(30.0, gt=0, description="HTTP timeout per request.")


TaskTarget = Literal["hubspot", "salesforce", "slack"]
TASK_TARGETS: tuple[str, ...] = ("hubspot", "salesforce", "slack")


class HubSpotTasksConfig(BaseModel):
    """HubSpot tasks: upserted by a unique task property holding the alert id, then associated with the company."""

    model_config = ConfigDict(extra="forbid")

    id_property: str = Field("churnml_alert_id", description="Unique-value task property holding the alert id.")
    association_type_id: int = Field(192, ge=1, description="HUBSPOT_DEFINED task-to-company association type.")
    batch_size: int = Field(100, ge=1, le=100, description="HubSpot accepts at most 100 inputs per batch.")


class SalesforceTasksConfig(BaseModel):
    """Salesforce Tasks: sObject Collections upsert by an external id field (on Activity) holding the alert id."""

    model_config = ConfigDict(extra="forbid")

    sobject: str = "Task"
    external_id_field: str = Field("Churnml_Alert_Id__c", description="External id (unique) field for alert_id.")
    batch_size: int = Field(200, ge=1, le=200, description="Salesforce accepts at most 200 records per request.")


class SlackConfig(BaseModel):
    """A chat incoming webhook (Slack-compatible Block Kit), one message per alert."""

    model_config = ConfigDict(extra="forbid")

    url_env: str = Field("SLACK_WEBHOOK_URL", description="Env var holding the incoming-webhook URL (a secret).")


class TasksConfig(BaseModel):
    """Tasks for routed alerts (`churnml push --alerts`, and the weekly job with `plays.deliver_tasks`)."""

    model_config = ConfigDict(extra="forbid")

    target: TaskTarget = "slack"
    due_days: int = Field(7, ge=0, le=365, description="A task is due this many days after its alert opened.")
    hubspot: HubSpotTasksConfig = HubSpotTasksConfig()
    salesforce: SalesforceTasksConfig = SalesforceTasksConfig()
    slack: SlackConfig = SlackConfig()


class CrmConfig(BaseModel):
    """Settings of `churnml push` and the weekly job's push step (the `crm:` section)."""

    target: Target = "webhook"
    decimals: int = Field(4, ge=0, le=12, description="Probabilities are rounded to this before hashing and sending.")
    hubspot: HubSpotConfig = HubSpotConfig()
    salesforce: SalesforceConfig = SalesforceConfig()
    webhook: WebhookConfig = WebhookConfig()
    files: FilesConfig = FilesConfig()
    retry: RetryConfig = RetryConfig()
    tasks: TasksConfig = TasksConfig()

    def target_config(self, target: str) -> _TargetBase:
        """The settings block of one target (csv and parquet share `files`)."""
        if target not in TARGETS:
            raise ValueError(f"unknown CRM target {target!r}; choose one of {', '.join(TARGETS)}")
        return self.files if target in ("csv", "parquet") else getattr(self, target)
