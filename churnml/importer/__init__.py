"""Bring your own data: map a company's tables (files, DuckDB, any SQL database) onto the data contract.

`import_data(source, mapping, out)` reads the source through a mapping file (`configs/mapping.yaml`), checks
the result with `churnml.data.validate` and writes an ordinary churnml data folder plus an import report. The
tabular snapshot shape (one row per customer with a churned flag) is imported the same way and trained with
`churnml.training.tabular`. See docs/import.md.
"""

from churnml.importer.mapping import ColumnMap, Mapping, TableMap, load_mapping
from churnml.importer.report import ImportReport
from churnml.importer.run import import_data
from churnml.importer.sql import MappingError

__all__ = ["ColumnMap", "ImportReport", "Mapping", "MappingError", "TableMap", "import_data", "load_mapping"]
