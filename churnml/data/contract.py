"""The data contract: which input tables churnml reads, their columns, types and allowed values.

This module is declarative on purpose. Validation (`churnml.data.validate`), the simulator (`churnml.simulate`),
the feature pipeline and the docs (`docs/data-contract.md`) all read these specs, so a column is named and
typed in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnKind = Literal["id", "string", "timestamp", "date", "float", "int", "bool"]


@dataclass(frozen=True)
class ColumnSpec:
    """One column of an input table.

    Attributes:
        name: column name in the input table.
        kind: logical type; ids accept strings or integers.
        required: a required column must be present; an optional one may be missing entirely.
        nullable: whether a present column may hold nulls.
        min_value / max_value: inclusive bounds for numeric columns.
        allowed: closed set of allowed values for categorical columns.
        not_future: timestamps/dates after the extract time are rejected.
        description: one line for the docs.
    """

    name: str
    kind: ColumnKind
    required: bool = True
    nullable: bool = False
    min_value: float | None = None
    max_value: float | None = None
    allowed: tuple[str, ...] | None = None
    not_future: bool = False
    description: str = ""


@dataclass(frozen=True)
class TableSpec:
    """One input table.

    Attributes:
        name: table name (file stem or DuckDB table name).
        columns: known columns; extra columns are allowed only where `allow_extra` is set.
        unique_key: columns that identify a row; duplicates on these are rejected. Key columns the
            table does not have are left out of the key (a key left empty checks nothing).
        key_needs: the key applies only when these columns are present, and only to rows where they
            are not null: `events` has a key only with an `event_id` column; survey answers without a
            `respondent_id` (anonymous) are never duplicates of each other.
        log: a log of things that happened (`events`): rows repeating the same values are legal. Rows
            equal in every column are counted (a warning) and kept or dropped per `data.duplicate_events`.
        required: whether the table must exist (depends on label definition for `subscriptions`).
        allow_extra: extra columns are kept (accounts: static attributes that become features).
        parent: (column, table, column) foreign key, e.g. every event's account must exist.
    """

    name: str
    columns: tuple[ColumnSpec, ...]
    unique_key: tuple[str, ...]
    key_needs: tuple[str, ...] = ()
    log: bool = False
    required: bool = True
    allow_extra: bool = False
    parent: tuple[str, str, str] | None = None
    description: str = ""
    column_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_names", tuple(c.name for c in self.columns))

    def column(self, name: str) -> ColumnSpec:
        """Return the spec of column `name` (KeyError if the contract does not define it)."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name!r} has no column {name!r} in the data contract")


TICKET_PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
SURVEY_KINDS: tuple[str, ...] = ("nps", "csat", "ces")
# Inclusive score range per survey kind.
SURVEY_SCALES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}

ACCOUNTS = TableSpec(
    name="accounts",
    description="One row per customer account. Extra columns are static attributes that become features.",
    columns=(
        ColumnSpec("account_id", "id", description="Account identifier (string or integer)."),
        ColumnSpec(
            "created_at",
            "timestamp",
            required=False,
            not_future=True,
            description="When the account was created. Default: the first subscription start, else the first event.",
        ),
        ColumnSpec("segment", "string", required=False, nullable=True, description="e.g. SMB, Mid-Market."),
        ColumnSpec("industry", "string", required=False, nullable=True),
        ColumnSpec("region", "string", required=False, nullable=True),
        ColumnSpec("csm_id", "id", required=False, nullable=True, description="Owning CSM (joins csm_enps, csms)."),
        ColumnSpec("name", "string", required=False, nullable=True,
                   description="Account name shown on the web page and in exports (never a feature)."),
    ),
    unique_key=("account_id",),
    allow_extra=True,
)

SUBSCRIPTIONS = TableSpec(
    name="subscriptions",
    description=(
        "Contract terms. end_date null = open (auto-renewing, not cancelled). Contractual churn is the lapse "
        "of all of an account's subscriptions."
    ),
    columns=(
        ColumnSpec("account_id", "id"),
        ColumnSpec("start_date", "date", not_future=True),
        ColumnSpec("end_date", "date", nullable=True, description="Null while open; must be >= start_date."),
        ColumnSpec("mrr", "float", min_value=0.0, description="Monthly recurring revenue of this term."),
        ColumnSpec("plan", "string", required=False),
        ColumnSpec("seats", "int", required=False, min_value=0),
        ColumnSpec(
            "term_months",
            "int",
            required=False,
            min_value=1,
            max_value=60,
            description="Billing/contract term in months (1 = monthly, 12 = annual). Default 1.",
        ),
    ),
    unique_key=("account_id", "start_date", "plan"),
    parent=("account_id", "accounts", "account_id"),
)

EVENTS = TableSpec(
    name="events",
    description="Product usage events: a log, so rows may repeat (two purchases on one day).",
    columns=(
        ColumnSpec("event_id", "id", required=False, description="Unique event id; when present, the key."),
        ColumnSpec("account_id", "id"),
        ColumnSpec("ts", "timestamp", not_future=True),
        ColumnSpec("event_type", "string"),
        ColumnSpec("user_id", "id", required=False, nullable=True),
        ColumnSpec("value", "float", required=False, nullable=True, description="Default 1."),
    ),
    unique_key=("event_id",),
    key_needs=("event_id",),
    log=True,
    parent=("account_id", "accounts", "account_id"),
)

TICKETS = TableSpec(
    name="tickets",
    description="Support tickets.",
    columns=(
        ColumnSpec("account_id", "id"),
        ColumnSpec("ticket_id", "id"),
        ColumnSpec("opened_at", "timestamp", not_future=True),
        ColumnSpec("closed_at", "timestamp", required=False, nullable=True, description=">= opened_at."),
        ColumnSpec("priority", "string", allowed=TICKET_PRIORITIES),
        ColumnSpec(
            "effort_score",
            "float",
            required=False,
            nullable=True,
            min_value=1,
            max_value=7,
            description="Customer Effort Score given on closing (1 = very easy, 7 = very hard).",
        ),
        ColumnSpec("reopened", "bool", required=False, nullable=True),
    ),
    unique_key=("ticket_id",),
    required=False,
    parent=("account_id", "accounts", "account_id"),
)

SURVEYS = TableSpec(
    name="surveys",
    description="Survey responses: NPS 0-10, CSAT 1-5, CES 1-7.",
    columns=(
        ColumnSpec("account_id", "id"),
        ColumnSpec("ts", "timestamp", not_future=True),
        ColumnSpec("kind", "string", allowed=SURVEY_KINDS),
        ColumnSpec("score", "float", min_value=0, max_value=10, description="Range depends on kind."),
        ColumnSpec("respondent_id", "id", required=False, nullable=True),
    ),
    unique_key=("account_id", "ts", "kind", "respondent_id"),
    key_needs=("respondent_id",),
    required=False,
    parent=("account_id", "accounts", "account_id"),
)

CSM_ENPS = TableSpec(
    name="csm_enps",
    description="Employee NPS responses of the CS team members (0-10).",
    columns=(
        ColumnSpec("csm_id", "id"),
        ColumnSpec("ts", "timestamp", not_future=True),
        ColumnSpec("score", "float", min_value=0, max_value=10),
    ),
    unique_key=("csm_id", "ts"),
    required=False,
)

INTERVENTIONS = TableSpec(
    name="interventions",
    description=(
        "Plays a CSM ran on an account (the intervention log, written by the alert workflow or imported). "
        "Features see only plays before the as-of date."
    ),
    columns=(
        ColumnSpec("account_id", "id"),
        ColumnSpec("ts", "timestamp", not_future=True, description="When the play was done."),
        ColumnSpec("play", "string", description="Play name, e.g. adoption_session (see plays.playbook)."),
        ColumnSpec("csm_id", "id", required=False, nullable=True, description="Who ran it."),
        ColumnSpec("outcome", "string", required=False, nullable=True, description="Free text, e.g. done."),
    ),
    unique_key=("account_id", "ts", "play"),
    required=False,
    parent=("account_id", "accounts", "account_id"),
)

CSMS = TableSpec(
    name="csms",
    description="The CS team: each CSM's name, shown beside `accounts.csm_id` on the web page (optional).",
    columns=(
        ColumnSpec("csm_id", "id"),
        ColumnSpec("name", "string", nullable=True, description="The CSM's name as colleagues know it."),
    ),
    unique_key=("csm_id",),
    required=False,
)

TABLES: dict[str, TableSpec] = {
    t.name: t for t in (ACCOUNTS, SUBSCRIPTIONS, EVENTS, TICKETS, SURVEYS, CSM_ENPS, CSMS, INTERVENTIONS)
}
