"""``cpc data import bigquery``: exports of Google's ``patents-public-data.patents.publications`` -> raw parquet.

Export the columns you need from BigQuery (``EXPORT DATA ... format='JSON'`` with gzip, or 'PARQUET'), then
import the files. Fields read, with their nested layout as BigQuery exports them:

- ``publication_number`` (``US-10000000-B2`` -> ``US10000000B2``), ``country_code``, ``family_id``
- ``title_localized`` / ``abstract_localized``: ``[{text, language, truncated}]``; the entry in ``--language``
  (``en``) is used; a publication whose abstract exists only in other languages is counted and skipped
- ``cpc``: ``[{code, inventive, first, tree}]``; the codes in export order
- ``publication_date``, ``filing_date``, ``priority_date``: ``YYYYMMDD`` integers (JSON exports write them as
  strings; 0 is unknown)

DuckDB reads the files (JSONL, JSONL.gz, parquet; a glob or several files), unnests nothing it does not need,
and streams the rows to the raw writer.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cpc_dataset.errors import InputError
from cpc_dataset.imports.engine import expand
from cpc_dataset.imports.writer import ImportFilters, ImportReport, RawWriter
from cpc_dataset.scratch import require_duckdb, scratch_database

log = logging.getLogger(__name__)

NAME = "bigquery"
JSON_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz")
PARQUET_SUFFIXES = (".parquet",)
_LOCALIZED = "STRUCT(text VARCHAR, language VARCHAR, truncated BOOLEAN)[]"
JSON_COLUMNS = {
    "publication_number": "VARCHAR",
    "country_code": "VARCHAR",
    "family_id": "VARCHAR",
    "title_localized": _LOCALIZED,
    "abstract_localized": _LOCALIZED,
    "cpc": "STRUCT(code VARCHAR, inventive BOOLEAN, first BOOLEAN, tree VARCHAR[])[]",
    "publication_date": "VARCHAR",
    "filing_date": "VARCHAR",
    "priority_date": "VARCHAR",
}
REQUIRED = ("publication_number", "abstract_localized", "cpc")


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(JSON_SUFFIXES):
        return "json"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise InputError(f"{path}: not a BigQuery export (expected {', '.join(JSON_SUFFIXES + PARQUET_SUFFIXES)})")


def source_sql(files: list[Path]) -> str:
    """A FROM clause reading all ``files`` (one format at a time)."""
    kinds = {_kind(f) for f in files}
    if len(kinds) > 1:
        raise InputError("give JSON or parquet exports, not both in one import")
    names = "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"
    if kinds == {"parquet"}:
        return f"read_parquet({names}, union_by_name = true)"
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in JSON_COLUMNS.items()) + "}"
    return f"read_json({names}, format = 'newline_delimited', columns = {columns})"


def _localized(column: str, language: str) -> str:
    return f"list_filter({column}, lambda x: x.language = '{language}' AND coalesce(x.text, '') <> '')[1].text"


def import_bigquery(
    patterns: list[str], out: Path, filters: ImportFilters | None = None, language: str = "en", name: str = NAME
) -> ImportReport:
    duckdb = require_duckdb()
    files = expand(patterns)
    language = language.strip().lower().replace("'", "")
    source = source_sql(files)
    with scratch_database() as con:
        try:
            columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        except duckdb.Error as exc:
            raise InputError(f"cannot read {files[0]}{' and others' if len(files) > 1 else ''}: {exc}") from None
        missing = [c for c in REQUIRED if c not in columns]
        if missing:
            raise InputError(f"{files[0]}: missing field(s) {', '.join(missing)}; is it patents.publications?")

        def col(c: str, sql: str | None = None) -> str:
            return (sql or c) if c in columns else "NULL"

        query = f"""
            SELECT publication_number,
                   {col("title_localized", _localized("title_localized", language))} AS title,
                   {_localized("abstract_localized", language)} AS abstract,
                   CASE WHEN {_localized("abstract_localized", language)} IS NULL AND len(abstract_localized) > 0
                        THEN 'abstract not in ''{language}''' END AS skip,
                   list_transform(cpc, lambda x: x.code) AS codes,
                   {col("family_id", "CAST(family_id AS VARCHAR)")} AS family_id,
                   {col("country_code")} AS country_code,
                   {col("publication_date", "CAST(publication_date AS VARCHAR)")} AS publication_date,
                   {col("filing_date", "CAST(filing_date AS VARCHAR)")} AS filing_date,
                   {col("priority_date", "CAST(priority_date AS VARCHAR)")} AS priority_date
            FROM {source}
        """
        with RawWriter(out, name, f"BigQuery patents.publications ({len(files)} file(s))", filters) as writer:
            try:
                batches = con.sql(query).to_arrow_reader(50_000)
                writer.add_batches((batch, batch.column("skip")) for batch in batches)
            except duckdb.Error as exc:
                raise InputError(f"cannot read the export: {exc}") from None
        return writer.report
