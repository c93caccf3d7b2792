"""Apache Spark as the engine (the I/O edge): a SparkSession, an Ibis connection on it, Parquet output.

The feature and label definitions are Ibis expressions (`churnml.features`, `churnml.training.labels`); this module
only gives them a Spark backend to run on, so the very same definitions run on DuckDB on one machine and on
Spark when the customer base outgrows it. Where the session comes from, first match wins:

1. ``SPARK_REMOTE`` set (e.g. ``sc://spark-connect:15002``): a Spark Connect session to that server.
2. ``spark.master`` given (argument, ``spark-submit --master`` or ``SPARK_MASTER``): that cluster manager.
3. Otherwise ``local[2]``: Spark in this process's JVM, sized for a laptop or a CI runner.

An active session (``spark-submit``, a Databricks notebook) is reused as it is, its settings untouched apart
from the session time zone, which must be UTC for as-of cut-offs to mean midnight UTC on both engines.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import ibis
from ibis.backends import BaseBackend

if TYPE_CHECKING:
    from ibis.expr.types import Table
    from pyspark.sql import SparkSession


class _HasTable(Protocol):
    """What `write_features_spark` reads of a feature set (`churnml.features.FeatureSet`): its lazy table."""

    table: Table

DEFAULT_MASTER = "local[2]"

# Local-mode settings: a handful of shuffle partitions (the default 200 costs ~1 s of task overhead per
# stage on small data), UTC everywhere, no UI.
LOCAL_CONF: dict[str, str] = {
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.memory": "2g",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.adaptive.enabled": "true",
    # The feature blocks joined onto the spine are small (a row per account and as-of date): hash/broadcast
    # joins. With sort-merge joins ten sorters share one task and 5k accounts × 26 dates ran out of memory.
    "spark.sql.join.preferSortMergeJoin": "false",
    "spark.sql.autoBroadcastJoinThreshold": "200MB",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
}


class SparkUnavailable(RuntimeError):
    """pyspark or a Java runtime is missing, so no Spark session can be started."""


def java_available() -> bool:
    """True when a Java runtime is found (JAVA_HOME or `java` on PATH); local Spark needs Java 17+."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return True
    return shutil.which("java") is not None


def spark_session(
    master: str | None = None,
    app_name: str = "churnml",
    conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """The SparkSession to run on: Spark Connect if ``SPARK_REMOTE`` is set, else an active or a new one.

    Args:
        master: ``spark.master`` for a new session; default ``SPARK_MASTER`` or ``local[2]``. Ignored when a
            session is already active (as under ``spark-submit``) or ``SPARK_REMOTE`` is set.
        app_name: the application name shown by the cluster manager.
        conf: extra settings; for a local master they override `LOCAL_CONF`.

    Raises:
        SparkUnavailable: pyspark is not installed, or a local/cluster session needs Java and none is found.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:  # pragma: no cover - pyspark is a dev dependency
        raise SparkUnavailable('pyspark is not installed: pip install -e ".[dev]"') from e
    extra = dict(conf or {})
    remote = os.environ.get("SPARK_REMOTE")
    if remote:
        builder = SparkSession.builder.remote(remote).appName(app_name)
        for key, value in extra.items():
            builder = builder.config(key, value)
        return builder.getOrCreate()
    active = SparkSession.getActiveSession()
    if active is not None:
        for key, value in extra.items():
            active.conf.set(key, value)
        return active
    if not java_available():
        raise SparkUnavailable("Spark needs a Java 17+ runtime: install one (e.g. openjdk-17-jre) or set JAVA_HOME")
    master = master or os.environ.get("SPARK_MASTER") or DEFAULT_MASTER
    settings = {**LOCAL_CONF, **extra} if master.startswith("local") else {"spark.sql.session.timeZone": "UTC", **extra}
    if master.startswith("local"):
        # Python workers (mapInPandas scoring) must be this interpreter, with churnml and its libraries, not
        # whatever `python3` is first on PATH.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        settings.setdefault("spark.pyspark.python", os.environ["PYSPARK_PYTHON"])
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    if master.startswith("local"):
        # Spark warns at WARN level about routine things (e.g. every glob path); keep errors only.
        session.sparkContext.setLogLevel("ERROR")
    return session


def spark_connection(session: SparkSession | None = None, **session_kwargs: Any) -> BaseBackend:
    """An Ibis pyspark connection on `session` (default: `spark_session(**session_kwargs)`).

    Tables opened on it with `churnml.data.sources.open_tables(source, con)` feed the unchanged feature and label
    expressions; Ibis compiles them to Spark SQL with `spark_compiler()`, set on this connection only: nothing
    process-wide is patched (Ibis's own PySpark compiler, and any other connection, stay as shipped).
    """
    session = session if session is not None else spark_session(**session_kwargs)
    con = ibis.pyspark.connect(session)
    con.compiler = spark_compiler()
    return con


def spark_compiler() -> Any:
    """Ibis's PySpark compiler plus the one rule the portable feature definitions need and Ibis 12 lacks.

    The distinct-count features aggregate activity bitmaps with BIT_OR; this subclass compiles it to Spark's
    `bit_or` (Spark >= 3.0). A subclass, not a patch of Ibis's class, so the rule lives on churnml's connections.
    """
    from ibis.backends.sql.compilers.pyspark import PySparkCompiler

    class ChurnmlSparkCompiler(PySparkCompiler):
        def visit_BitOr(self, op: Any, *, arg: Any, where: Any) -> Any:
            return self.agg.bit_or(arg, where=where)

    return ChurnmlSparkCompiler()


def write_features_spark(fs: _HasTable, out: Path | str, con: BaseBackend | None = None) -> int:
    """Write the feature table from Spark as Parquet partitioned by ``as_of`` (``out/as_of=YYYY-MM-DD/``).

    The table is written by the executors, never collected to the driver; an existing folder at `out` is
    replaced. Read it back with `pandas.read_parquet(out)` (as_of comes back as a partition column) or
    `con.read_parquet(f"{out}/*/*.parquet")`.

    Returns:
        the number of rows written.
    """
    con = con if con is not None else fs.table.get_backend()
    con.to_parquet(fs.table, Path(out), partitionBy="as_of", mode="overwrite")
    return int(con.read_parquet(Path(out)).count().execute())


__all__ = [
    "DEFAULT_MASTER",
    "LOCAL_CONF",
    "SparkUnavailable",
    "java_available",
    "spark_compiler",
    "spark_connection",
    "spark_session",
    "write_features_spark",
]
