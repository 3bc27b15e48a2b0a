"""DuckDB, the engine of the imports and of the build: a scratch database that spills to disk.

DuckDB joins, groups and sorts tables larger than memory by spilling to its scratch folder, reads JSON (plain
or gzipped, nested records included), CSV and parquet itself, and takes Arrow record-batch streams as tables,
so no source is loaded whole and no join is hand-written. (Polars' streaming engine would do too; DuckDB was
chosen for its SQL, which keeps the merge rules readable in one place, and its bounded-memory spilling.)
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cpc_dataset.errors import InputError

MEMORY_LIMIT = "1GB"  # DuckDB's own buffers; it spills beyond


def require_duckdb():
    import importlib.util

    if importlib.util.find_spec("duckdb") is None:
        raise InputError("bulk imports and the build need DuckDB: pip install 'patent-cpc[data]'")
    import duckdb

    return duckdb


@contextlib.contextmanager
def scratch_database(memory_limit: str = MEMORY_LIMIT, threads: int | None = None) -> Iterator:
    """A DuckDB connection on a database file in a temporary folder (removed afterwards) that spills there."""
    duckdb = require_duckdb()
    with tempfile.TemporaryDirectory(prefix="cpc-duckdb-") as tmp:
        con = duckdb.connect(str(Path(tmp) / "scratch.duckdb"))
        try:
            con.execute(f"SET memory_limit = '{memory_limit}'")
            con.execute(f"SET temp_directory = '{Path(tmp) / 'spill'}'")
            con.execute("SET preserve_insertion_order = true")
            if threads:
                con.execute(f"SET threads = {int(threads)}")
            yield con
        finally:
            con.close()
