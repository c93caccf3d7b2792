"""The mapping file: how a company's own tables and columns become the data contract's tables.

A mapping is YAML validated into these pydantic models, so a typo (an unknown key, a table the contract does
not have, two ways of filling one column) fails when the file is loaded, before any data is read. Two shapes:

* ``event_log``: source tables → the contract tables (`accounts`, `subscriptions`, `events`, ...), which
  then go through `churnml.data.validate` like any other input.
* ``snapshot``: one row per customer with static attributes and a churned flag (most public churn data
  sets, and many CRM exports); labels are taken as given and the attributes become features.

Each target column is filled in exactly one way — a source column (rename), a constant, or a DuckDB SQL
expression over the source row — and may then be converted: values read as missing (`null_if`), a value
map ("Yes" → true, plan names), a date/time format. See `configs/mapping.yaml` and `docs/import.md`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from churnml.data.contract import TABLES, ColumnKind

#: Target columns of a snapshot besides its features.
SNAPSHOT_ID = "account_id"
SNAPSHOT_LABEL = "churned"
SNAPSHOT_SPLIT = "split"
SNAPSHOT_KEYS = (SNAPSHOT_ID, SNAPSHOT_LABEL, SNAPSHOT_SPLIT)


class ColumnMap(BaseModel):
    """How one target column is filled and converted.

    Attributes:
        column: source column to take (a rename when the names differ).
        value: a constant for every row (e.g. `plan: {value: standard}`).
        expr: a DuckDB SQL expression over the source row's columns (e.g. `amount_cents / 100.0`);
            one expression, no sub-queries (checked with DuckDB's own parser).
        null_if: source values (compared as trimmed text) that mean "missing", e.g. ["", "?", "N/A"].
        map: value map applied to the text of the value, e.g. {"Yes": true, "No": false}.
        default: value for anything the map does not list. Without it, unlisted values pass through
            unchanged, so a value that does not fit the target type is rejected by validation, row named.
        format: strptime format of a date/timestamp held as text, e.g. "%d/%m/%Y".
        type: target type of a column the contract does not define (snapshot features, account
            attributes); contract columns always get the contract's type.
    """

    model_config = ConfigDict(extra="forbid")

    column: str | None = None
    value: Any = None
    expr: str | None = None
    null_if: list[str] = Field(default_factory=list)
    map: dict[str, Any] | None = None
    default: Any = None
    format: str | None = None
    type: ColumnKind | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ColumnMap:
        given = [k for k in ("column", "value", "expr") if k in self.model_fields_set]
        if len(given) != 1:
            raise ValueError(f"give exactly one of column, value or expr (got {given or 'none'})")
        if "default" in self.model_fields_set and self.map is None:
            raise ValueError("default applies to a value map; give map too")
        return self

    @property
    def has_default(self) -> bool:
        """True when `default` was given (a default of null is a real choice)."""
        return "default" in self.model_fields_set

    def describe(self) -> str:
        """How the column is filled, in a few words (for the import report)."""
        if self.column is not None:
            how = f"← {self.column}"
        elif self.expr is not None:
            how = f"= {self.expr}"
        else:
            how = f"= {self.value!r} (constant)"
        steps = []
        if self.null_if:
            steps.append(f"missing if {self.null_if}")
        if self.map is not None:
            steps.append(f"map {len(self.map)} value(s)" + (f", else {self.default!r}" if self.has_default else ""))
        if self.format:
            steps.append(f"format {self.format}")
        return how + (f" ({'; '.join(steps)})" if steps else "")


def _as_column_map(value: Any) -> Any:
    """`account_id: CustomerId` is short for `account_id: {column: CustomerId}`."""
    return {"column": value} if isinstance(value, str) else value


class TableMap(BaseModel):
    """One target table: where its rows come from and how each column is filled.

    Attributes:
        source: source table name (file name without extension, or a database table).
        sql: instead of `source`, one SELECT over source tables (joins, unions); its columns are then
            the source columns.
        where: a SQL condition keeping only some source rows.
        columns: target column → how it is filled (a string is a source column name).
        keep: source columns kept unchanged under their own names (account attributes, snapshot
            features); "*" keeps every source column not used by `columns` and not in `drop`.
        drop: with keep "*": source columns left out, each best explained by a comment in the YAML
            (leaking the label, identifying a person, ...).
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str | None = None
    sql: str | None = None
    where: str | None = None
    columns: dict[str, ColumnMap] = Field(default_factory=dict)
    keep: list[str] | Literal["*"] = Field(default_factory=list)
    drop: list[str] = Field(default_factory=list)

    @field_validator("columns", mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        return {k: _as_column_map(x) for k, x in v.items()} if isinstance(v, dict) else v

    @model_validator(mode="after")
    def _one_origin(self) -> TableMap:
        if (self.source is None) == (self.sql is None):
            raise ValueError("give exactly one of source or sql")
        if self.drop and self.keep != "*":
            raise ValueError('drop applies to keep: "*"')
        return self

    def source_tables(self) -> list[str]:
        """Source tables named directly (tables inside `sql` are found by `churnml.importer.sql`)."""
        return [self.source] if self.source else []


class ReadOptions(BaseModel):
    """How source files and databases are read.

    Attributes:
        csv_null: strings a CSV reader treats as missing everywhere (e.g. ["?"] for OULAD).
        csv_delimiter: CSV delimiter (default: detected).
        schema_name: database schema to read tables from (URL sources; default: the server's default).
        db_reader: how database tables are copied (`churnml.importer.database`): "auto" (ADBC, Arrow-native,
            for PostgreSQL; SQLAlchemy in pandas chunks for other databases), "adbc" or "sqlalchemy".
    """

    model_config = ConfigDict(extra="forbid")

    csv_null: list[str] = Field(default_factory=list)
    csv_delimiter: str | None = None
    schema_name: str | None = Field(None, alias="schema")
    db_reader: Literal["auto", "adbc", "sqlalchemy"] = "auto"


class Mapping(BaseModel):
    """A whole mapping file.

    Attributes:
        shape: "event_log" (contract tables) or "snapshot" (one row per customer).
        description: free text, shown in the import report.
        read: reader options.
        tables: event_log: contract table name → its mapping.
        snapshot: snapshot: the one table's mapping; `columns` must fill `account_id` and `churned`
            (optionally `split`: "train"/"test" for a given split).
    """

    model_config = ConfigDict(extra="forbid")

    shape: Literal["event_log", "snapshot"] = "event_log"
    description: str = ""
    read: ReadOptions = ReadOptions()
    tables: dict[str, TableMap] = Field(default_factory=dict)
    snapshot: TableMap | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Mapping:
        if self.shape == "snapshot":
            if self.snapshot is None or self.tables:
                raise ValueError("a snapshot mapping has a `snapshot:` section and no `tables:`")
            missing = [c for c in (SNAPSHOT_ID, SNAPSHOT_LABEL) if c not in self.snapshot.columns]
            if missing:
                raise ValueError(f"snapshot.columns must fill {missing}")
            return self
        if self.snapshot is not None or not self.tables:
            raise ValueError("an event_log mapping has a `tables:` section and no `snapshot:`")
        unknown = sorted(set(self.tables) - set(TABLES))
        if unknown:
            raise ValueError(f"unknown target table(s) {unknown}; the contract has {list(TABLES)}")
        for name, tm in self.tables.items():
            spec = TABLES[name]
            extra = sorted(set(tm.columns) - set(spec.column_names))
            if extra and not spec.allow_extra:
                raise ValueError(f"{name}: column(s) {extra} are not in the contract ({', '.join(spec.column_names)})")
            if tm.keep and not spec.allow_extra:
                raise ValueError(f"{name}: keep is only for tables with attributes (accounts)")
            for col, cm in tm.columns.items():
                if col in spec.column_names and cm.type is not None:
                    raise ValueError(f"{name}.{col}: the contract types it {spec.column(col).kind}; leave out type")
        return self

    def targets(self) -> dict[str, TableMap]:
        """Target table name → mapping (the snapshot is the table "snapshot")."""
        return {"snapshot": self.snapshot} if self.snapshot is not None else dict(self.tables)


def load_mapping(path: Path | str) -> Mapping:
    """Read and validate a mapping YAML file.

    Raises:
        FileNotFoundError: no such file.
        pydantic.ValidationError: the file does not describe a valid mapping.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"mapping file not found: {p}")
    raw = yaml.safe_load(p.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"mapping file {p} must hold a mapping at top level")
    return Mapping.model_validate(raw)
