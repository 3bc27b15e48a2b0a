"""``cpc data import table``: any CSV, TSV, parquet or JSONL table whose columns have other names -> raw parquet.

``--column FIELD=COLUMN`` maps the raw schema's fields to the table's columns: ``publication_number``,
``abstract`` and ``codes`` are required; ``title``, ``family_id``, ``country_code``, ``publication_date``,
``filing_date`` and ``priority_date`` are optional. Codes may be a list column, a list literal
(``['G06N3/08', ...]``) or a delimited string (``G06N3/08; G06F17/00``: split on ``--codes-separator``,
by default any of ``,;|``). DuckDB reads the files and streams the rows to the raw writer.
"""

from __future__ import annotations

import re
from pathlib import Path

from cpc_dataset.errors import InputError, MisconfiguredError
from cpc_dataset.imports.engine import expand
from cpc_dataset.imports.writer import ImportFilters, ImportReport, RawWriter
from cpc_dataset.raw import parse_code_list
from cpc_dataset.scratch import require_duckdb, scratch_database

NAME = "table"
REQUIRED = ("publication_number", "abstract", "codes")
OPTIONAL = ("title", "family_id", "country_code", "publication_date", "filing_date", "priority_date")
READERS = {
    ".csv": "read_csv({files}, all_varchar = true, header = true)",
    ".tsv": "read_csv({files}, all_varchar = true, header = true, delim = '\\t')",
    ".parquet": "read_parquet({files}, union_by_name = true)",
    ".jsonl": "read_json({files}, format = 'newline_delimited')",
    ".json": "read_json({files}, format = 'newline_delimited')",
}


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """``["publication_number=pn", ...]`` -> ``{field: column}``; MisconfiguredError for what cannot be used."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        field, column = field.strip(), column.strip()
        if not sep or not field or not column:
            raise MisconfiguredError(f"--column {pair!r}: write FIELD=COLUMN, e.g. abstract=abstract_text")
        if field not in REQUIRED + OPTIONAL:
            raise MisconfiguredError(
                f"--column {pair!r}: unknown field {field!r}; known: {', '.join(REQUIRED + OPTIONAL)}"
            )
        mapping[field] = column
    missing = [f for f in REQUIRED if f not in mapping]
    if missing:
        raise MisconfiguredError(f"map the required field(s) {', '.join(missing)} with --column FIELD=COLUMN")
    return mapping


def split_codes(value, separator: str | None = None) -> list:
    """A cell of codes as a list: a list stays, a list literal is parsed (never executed), text is split."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    text = str(value).strip()
    if text.startswith("["):
        try:
            return parse_code_list(text)
        except ValueError:
            return []
    parts = text.split(separator) if separator else re.split(r"[,;|]", text)
    return [p.strip() for p in parts if p.strip()]


def import_table(
    patterns: list[str],
    out: Path,
    columns: list[str],
    filters: ImportFilters | None = None,
    codes_separator: str | None = None,
    name: str = NAME,
) -> ImportReport:
    duckdb = require_duckdb()
    mapping = parse_mapping(columns)
    files = expand(patterns)
    suffixes = {f.suffix.lower() for f in files}
    if len(suffixes) > 1 or not suffixes <= set(READERS):
        raise InputError(f"give tables of one format ({', '.join(READERS)}), found {', '.join(sorted(suffixes))}")
    names = "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"
    source = READERS[suffixes.pop()].format(files=names)
    with scratch_database() as con:
        try:
            present = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        except duckdb.Error as exc:
            raise InputError(f"cannot read {files[0]}: {exc}") from None
        absent = [f"{c} (for {f})" for f, c in mapping.items() if c not in present]
        if absent:
            raise InputError(f"{files[0]}: no column {', '.join(absent)}; it has {', '.join(present)}")
        fields = REQUIRED + tuple(f for f in OPTIONAL if f in mapping)
        select = ", ".join(f'"{mapping[f]}" AS {f}' for f in fields)
        with RawWriter(out, name, f"table ({len(files)} file(s))", filters) as writer:
            try:
                for batch in con.sql(f"SELECT {select} FROM {source}").to_arrow_reader(50_000):
                    data = batch.to_pydict()
                    for i in range(batch.num_rows):
                        row = {f: data[f][i] for f in fields}
                        row["codes"] = split_codes(row["codes"], codes_separator)
                        writer.add(**row)
                        if writer.full:
                            break
                    if writer.full:
                        break
            except duckdb.Error as exc:
                raise InputError(f"cannot read {files[0]}: {exc}") from None
        return writer.report
