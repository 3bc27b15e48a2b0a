"""DuckDB, the engine of the imports and of the build: a scratch database that spills to disk.

DuckDB joins, groups and sorts tables larger than memory by spilling to its scratch folder, reads JSON (plain
or gzipped, nested records included), CSV and parquet itself, and takes Arrow record-batch streams as tables,
so no source is loaded whole and no join is hand-written. (Polars' streaming engine would do too; DuckDB was
chosen for its SQL, which keeps the merge rules readable in one place, and its bounded-memory spilling.)
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cpc_dataset.errors import InputError, MisconfiguredError

MEMORY_LIMIT = "2GB"  # DuckDB's own buffers (it spills beyond); CPC_DUCKDB_MEMORY overrides it


def require_duckdb():
    import importlib.util

    if importlib.util.find_spec("duckdb") is None:
        raise InputError("bulk imports and the build need DuckDB: pip install 'patent-cpc[data]'")
    import duckdb

    return duckdb


@contextlib.contextmanager
def scratch_database(ordered: bool = True, threads: int | None = None, in_memory: bool = True) -> Iterator:
    """A DuckDB connection that spills to a temporary folder (removed afterwards).

    ``ordered=False`` lets DuckDB return rows in any order where a query says none (less memory on large
    results): for callers whose every order-sensitive query has an ORDER BY. Running out of memory is a
    one-line MisconfiguredError naming ``CPC_DUCKDB_MEMORY``. ``in_memory=False`` keeps the tables in a database
    file there instead (DuckDB writes them out, compressed, to stay within its limit: the build's tables of millions
    of rows); in memory, tables are spilled only as temporary data (faster for the imports' tables, read once).
    """
    duckdb = require_duckdb()
    memory_limit = os.environ.get("CPC_DUCKDB_MEMORY") or MEMORY_LIMIT
    with tempfile.TemporaryDirectory(prefix="cpc-duckdb-") as tmp:
        con = duckdb.connect(":memory:" if in_memory else str(Path(tmp) / "scratch.duckdb"))
        try:
            try:
                con.execute(f"SET memory_limit = '{memory_limit}'")
            except duckdb.Error as exc:
                raise MisconfiguredError(f"CPC_DUCKDB_MEMORY={memory_limit!r} is not a memory size ({exc})") from None
            con.execute(f"SET temp_directory = '{Path(tmp) / 'spill'}'")
            con.execute("SET enable_progress_bar = false")  # the commands log their own progress
            con.execute(f"SET preserve_insertion_order = {'true' if ordered else 'false'}")
            if threads:
                con.execute(f"SET threads = {int(threads)}")
            yield con
        except duckdb.OutOfMemoryException as exc:
            first = str(exc).splitlines()[0]
            raise MisconfiguredError(
                f"DuckDB ran out of memory ({first}); set CPC_DUCKDB_MEMORY above {memory_limit} or free memory"
            ) from None
        finally:
            con.close()
