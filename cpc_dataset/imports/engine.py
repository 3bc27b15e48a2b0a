"""Reading bulk sources as streams: PatentsView TSVs (zipped or not) into DuckDB, file globs.

PatentsView's ``.tsv.zip`` files are streamed out of the archive by ``zipfile`` into pyarrow's streaming CSV
reader (never unzipped to disk, never loaded whole) and from there into DuckDB (``cpc_dataset.scratch``).
"""

from __future__ import annotations

import contextlib
import glob
import logging
import zipfile
from collections.abc import Iterator
from pathlib import Path

from cpc_dataset.errors import InputError

log = logging.getLogger(__name__)

READ_BLOCK = 4 << 20  # bytes per parsed CSV block


def table_name(path: Path) -> str:
    """``g_patent.tsv.zip`` -> ``g_patent``."""
    name = Path(path).name
    for suffix in (".zip", ".gz", ".tsv", ".csv", ".txt"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name


@contextlib.contextmanager
def open_text_stream(path: Path) -> Iterator:
    """A binary stream of a ``.tsv`` or of the one ``.tsv`` inside a ``.tsv.zip`` (read from the archive)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist")
    if path.suffix.lower() != ".zip":
        with path.open("rb") as fh:
            yield fh
        return
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise InputError(f"{path}: not a zip archive ({exc})") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) != 1:
            raise InputError(f"{path}: expected one table inside the archive, found {len(members)}")
        with archive.open(members[0]) as fh:
            yield fh


def tsv_batches(path: Path, columns: list[str], optional: tuple[str, ...] = ()) -> Iterator:
    """Record batches of ``columns`` (all read as text) of a PatentsView TSV, streamed.

    PatentsView quotes fields with ``"`` (doubled inside) and abstracts may hold tabs and newlines.
    ``optional`` columns are read when the file has them. InputError names the file and the missing columns.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    parse = pacsv.ParseOptions(delimiter="\t", quote_char='"', double_quote=True, newlines_in_values=True)
    read = pacsv.ReadOptions(block_size=READ_BLOCK)
    with open_text_stream(path) as fh:
        try:
            reader = pacsv.open_csv(
                fh,
                read_options=read,
                parse_options=parse,
                convert_options=pacsv.ConvertOptions(column_types={}, strings_can_be_null=False),
            )
            header = reader.schema.names
        except pa.ArrowInvalid as exc:
            raise InputError(f"{path}: not a readable TSV ({exc})") from None
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)} (found {', '.join(header)}); is it the right table?"
        )
    wanted = list(columns) + [c for c in optional if c in header]
    convert = pacsv.ConvertOptions(
        include_columns=wanted, column_types={c: pa.string() for c in wanted}, strings_can_be_null=False
    )
    with open_text_stream(path) as fh:
        try:
            reader = pacsv.open_csv(fh, read_options=read, parse_options=parse, convert_options=convert)
            for batch in reader:
                yield batch
        except pa.ArrowInvalid as exc:
            raise InputError(f"{path}: broken TSV ({exc})") from None


def load_tsv(con, name: str, path: Path, columns: list[str], optional: tuple[str, ...] = ()) -> list[str]:
    """Stream a TSV into the DuckDB table ``name`` (with ``_row``, its row order); returns the columns read."""
    import pyarrow as pa

    batches = _numbered(tsv_batches(path, columns, optional))
    first = next(batches, None)
    if first is None:
        con.execute(f"CREATE TABLE {name} ({', '.join(f'{c} VARCHAR' for c in columns)}, _row BIGINT)")
        return list(columns)
    import duckdb

    reader = pa.RecordBatchReader.from_batches(first.schema, _chain(first, batches))
    con.register("_stream", reader)
    try:
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM _stream")
    except (duckdb.Error, pa.ArrowException) as exc:  # a broken row further down, raised through DuckDB
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: broken TSV ({message})") from None
    finally:
        con.unregister("_stream")
    return [c for c in first.schema.names if c != "_row"]


def load_tsvs(con, jobs: list[tuple]) -> list[list[str]]:
    """``load_tsv(con, *job)`` for each job at once, one thread and DuckDB cursor each (unzipping a table is
    most of its reading, and each table unzips on its own core); returns each job's columns."""
    from concurrent.futures import ThreadPoolExecutor

    def run(job):
        cursor = con.cursor()
        try:
            return load_tsv(cursor, *job)
        finally:
            cursor.close()

    with ThreadPoolExecutor(len(jobs) or 1) as pool:
        futures = [pool.submit(run, job) for job in jobs]
        return [f.result() for f in futures]


def _numbered(batches):
    """Each batch with ``_row``: the row's position in the file (DuckDB's scan order is not the file's)."""
    import numpy as np
    import pyarrow as pa

    start = 0
    for batch in batches:
        rows = pa.array(np.arange(start, start + batch.num_rows, dtype=np.int64))
        start += batch.num_rows
        yield pa.RecordBatch.from_arrays([*batch.columns, rows], names=[*batch.schema.names, "_row"])


def _chain(first, rest):
    yield first
    yield from rest


def expand(patterns: list[str]) -> list[Path]:
    """Files named or matched by globs, in order, each once; InputError for a pattern that matches nothing."""
    files: list[Path] = []
    for pattern in patterns:
        matched = sorted(glob.glob(str(pattern))) if glob.has_magic(str(pattern)) else [str(pattern)]
        matched = [m for m in matched if Path(m).is_file()]
        if not matched:
            raise InputError(f"{pattern}: no such file")
        files.extend(Path(m) for m in matched if Path(m) not in files)
    return files
