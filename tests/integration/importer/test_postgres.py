"""Importing straight from a PostgreSQL database (a real server started for the test) through a URL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from churnml.data.sources import SourceError
from churnml.importer import import_data
from churnml.importer.database import sqlalchemy_url as _sqlalchemy_url
from tests.data.importer.test_import import assert_round_trip
from tests.support.export import MAPPING, company_export
from tests.support.factories import NOW
from tests.support.postgres import postgres_server


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_server() as url:
        engine = sa.create_engine(_sqlalchemy_url(url))
        with engine.begin() as db:
            for name, df in company_export().items():
                df.to_sql(name, db, index=False)
            # An unrelated table that the mapping does not name: never read.
            pd.DataFrame({"x": range(3)}).to_sql("payroll", db, index=False)
        engine.dispose()
        yield url


@pytest.mark.parametrize(("reader", "note"), [("auto", "ADBC PostgreSQL driver"), ("sqlalchemy", "SQLAlchemy")])
def test_import_from_postgres_round_trips(pg_url: str, tmp_path: Path, reader: str, note: str) -> None:
    from churnml.importer import load_mapping

    m = load_mapping(MAPPING)
    m.read.db_reader = reader  # type: ignore[assignment]
    out = tmp_path / "from_pg"
    report = import_data(pg_url, m, out, now=NOW.to_pydatetime())
    assert_round_trip(out)
    assert len(report.notes) == 1 and note in report.notes[0]
    assert report.source.startswith("postgresql://churnml@127.0.0.1:")
    assert report.tables["accounts"].origin.endswith("/postgres table crm_accounts")
    assert report.tables["events"].rows_filtered == 1


@pytest.mark.parametrize("reader", ["auto", "sqlalchemy"])
def test_missing_postgres_table_is_named(pg_url: str, tmp_path: Path, reader: str) -> None:
    from churnml.importer import load_mapping

    m = load_mapping(MAPPING)
    m.read.db_reader = reader  # type: ignore[assignment]
    m.tables["tickets"].source = "zendesk"
    with pytest.raises(SourceError, match=r"\['zendesk'\] not found in postgresql://.*payroll"):
        import_data(pg_url, m, tmp_path / "out")


def test_unreachable_database_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"cannot read from postgresql://nobody@127\.0\.0\.1:1/x"):
        import_data("postgresql://nobody@127.0.0.1:1/x", MAPPING, tmp_path / "out")
