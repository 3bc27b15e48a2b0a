"""``cpc data import patentsview``: PatentsView's bulk tables (patentsview.org/download) -> one raw parquet file.

Granted patents (``g_`` tables, every US grant since 1976):

- ``g_patent``: patent_id, patent_type, patent_date, patent_title, wipo_kind, withdrawn, ...
- ``g_patent_abstract``: patent_id, patent_abstract (older releases have patent_abstract in g_patent)
- ``g_cpc_current``: patent_id, cpc_sequence, cpc_section, cpc_class, cpc_subclass, cpc_group, cpc_type, ...
- ``g_cpc_title``: cpc_subclass, cpc_subclass_title, cpc_group, cpc_group_title, cpc_class, cpc_class_title

Pre-grant publications (``pg_`` tables, since 2001) where their layout mirrors the grants':
``pg_published_application`` (pgpub_id, published_date, application_title or ...; the abstract in it or in a
``pg_*abstract*`` table) and ``pg_cpc_current`` (pgpub_id, cpc_sequence, cpc_group, ...).

Each table is streamed (``.tsv`` or ``.tsv.zip``, never unzipped to disk) into DuckDB, joined on the patent id,
and written as ``patentsview-grants.parquet`` / ``patentsview-pregrants.parquet``; publication numbers as
Google Patents writes them (``US`` + id + kind: ``US10000000B2``, ``US20100273145A1``); titles of the codes
used into ``<name>.codes.json``. Withdrawn patents, and patents without codes or abstract, are counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from cpc_dataset.errors import InputError
from cpc_dataset.imports.engine import load_tsvs, table_name, tsv_batches
from cpc_dataset.imports.writer import ImportFilters, ImportReport, RawWriter
from cpc_dataset.scratch import scratch_database

log = logging.getLogger(__name__)

SUFFIXES = (".tsv", ".tsv.zip")
BATCH_ROWS = 50_000
_WS = "' \t\n\r'"  # what str.strip() strips from ids, kinds and flags
TITLE_TABLE = "g_cpc_title"
TITLE_COLUMNS = (
    ("cpc_group", "cpc_group_title"),
    ("cpc_subclass", "cpc_subclass_title"),
    ("cpc_class", "cpc_class_title"),
)


@dataclass(frozen=True)
class Layout:
    """One family of PatentsView tables; each tuple lists accepted column names, the first found wins."""

    name: str  # output file stem
    main: str
    id: str
    cpc: str
    abstract_tables: tuple[str, ...]
    title: tuple[str, ...]
    abstract: tuple[str, ...]
    date: tuple[str, ...]
    kind: tuple[str, ...]
    withdrawn: tuple[str, ...] = ()


GRANTS = Layout(
    name="patentsview-grants",
    main="g_patent",
    id="patent_id",
    cpc="g_cpc_current",
    abstract_tables=("g_patent_abstract",),
    title=("patent_title",),
    abstract=("patent_abstract",),
    date=("patent_date",),
    kind=("wipo_kind", "patent_kind"),
    withdrawn=("withdrawn",),
)
PREGRANTS = Layout(
    name="patentsview-pregrants",
    main="pg_published_application",
    id="pgpub_id",
    cpc="pg_cpc_current",
    abstract_tables=("pg_application_abstract", "pg_published_application_abstract", "pg_abstract"),
    title=("application_title", "invention_title", "title"),
    abstract=("application_abstract", "abstract"),
    date=("published_date", "publication_date", "date_published"),
    kind=("wipo_kind", "kind", "document_kind"),
)
LAYOUTS = (GRANTS, PREGRANTS)


def find_tables(paths: list[Path]) -> dict[str, Path]:
    """``{table name: file}`` from files and folders; InputError for anything that is not a PatentsView table."""
    tables: dict[str, Path] = {}
    for path in map(Path, paths):
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.name.lower().endswith(SUFFIXES))
            if not files:
                raise InputError(f"{path}: holds no PatentsView .tsv or .tsv.zip tables")
        elif path.is_file():
            if not path.name.lower().endswith(SUFFIXES):
                raise InputError(f"{path}: not a PatentsView table (expected .tsv or .tsv.zip)")
            files = [path]
        else:
            raise InputError(f"{path} does not exist")
        for f in files:
            name = table_name(f)
            if name in tables and tables[name] != f:
                raise InputError(f"table {name} given twice: {tables[name]} and {f}")
            tables[name] = f
    if not any(layout.main in tables for layout in LAYOUTS):
        raise InputError(f"no g_patent or pg_published_application table among {', '.join(sorted(tables)) or 'none'}")
    return tables


def import_patentsview(paths: list[Path], out: Path, filters: ImportFilters | None = None) -> list[ImportReport]:
    """Import every layout whose main table is given; one report per raw file written."""
    tables = find_tables(paths)
    reports = []
    for layout in LAYOUTS:
        if layout.main not in tables:
            continue
        if layout.cpc not in tables:
            raise InputError(f"{layout.main} needs its CPC table {layout.cpc} (.tsv or .tsv.zip) beside it")
        reports.append(_import_layout(layout, tables, Path(out), filters))
    return reports


def _pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    return next((c for c in names if c in columns), None)


def _import_layout(layout: Layout, tables: dict[str, Path], out: Path, filters: ImportFilters | None) -> ImportReport:
    with scratch_database(ordered=False) as con:  # its one order-sensitive query says ORDER BY
        optional = layout.title + layout.abstract + layout.date + layout.kind + layout.withdrawn
        abstract_table = next((t for t in layout.abstract_tables if t in tables), None)
        jobs = [
            ("patents", tables[layout.main], [layout.id], optional),
            ("cpc", tables[layout.cpc], [layout.id, "cpc_group"], ("cpc_sequence",)),
        ]
        if abstract_table is not None:
            jobs.append(("abstracts", tables[abstract_table], [layout.id], layout.abstract))
        main_cols, _, *abstract_cols = load_tsvs(con, jobs)
        title, date, kind = (_pick(main_cols, names) for names in (layout.title, layout.date, layout.kind))
        withdrawn = _pick(main_cols, layout.withdrawn)
        if kind is None:
            raise InputError(f"{tables[layout.main]}: no kind column ({' or '.join(layout.kind)})")
        abstract_sql = _abstracts(layout, tables, abstract_table, main_cols, abstract_cols[0] if abstract_cols else [])
        # codes in cpc_sequence (then file) order: a list of {key, code} sorted afterwards (an ORDER BY inside the
        # aggregate is held in memory whole), the key one integer: the sequence (0..2^22-1) above the file row
        sequence = "least(greatest(coalesce(TRY_CAST(cpc_sequence AS BIGINT), 0), 0), 4194303)"
        order = f"({sequence} << 40) + _row" if _has(con, "cpc", "cpc_sequence") else "_row"
        query = f"""
            WITH codes AS (
                SELECT id, list_transform(list_sort(list(entry)), lambda e: e.code) AS codes
                FROM (SELECT {layout.id} AS id, {{'k': {order}, 'code': cpc_group}} AS entry FROM cpc)
                GROUP BY id)
            SELECT 'US' || trim(p.{layout.id}, {_WS}) || coalesce(trim(p.{kind}, {_WS}), '') AS publication_number,
                   {f"p.{title}" if title else "NULL"} AS title, {f"p.{date}" if date else "NULL"} AS publication_date,
                   a.abstract, c.codes, 'US' AS country_code,
                   CASE WHEN trim(coalesce({f"p.{withdrawn}" if withdrawn else "'0'"}, '0'), {_WS})
                             NOT IN ('0', '', 'false', 'FALSE', 'False') THEN 'withdrawn' END AS skip
            FROM ({abstract_sql}) a RIGHT JOIN patents p ON a.id = p.{layout.id} LEFT JOIN codes c ON c.id = p.{layout.id}
            ORDER BY p._row
        """
        # the joins as written: the patents, then the codes, are the hash side; the abstracts (gigabytes at
        # millions of patents) stream past them instead of being hashed and spilled
        con.execute("SET disabled_optimizers = 'join_order,build_side_probe_side'")
        with RawWriter(out, layout.name, f"PatentsView {layout.main}", filters) as writer:
            batches = con.sql(query).to_arrow_reader(BATCH_ROWS)
            writer.add_batches((batch, batch.column("skip")) for batch in batches)
            if TITLE_TABLE in tables:
                writer.add_titles(_titles(tables[TITLE_TABLE], writer.seen_codes))
        return writer.report


def _has(con, table: str, column: str) -> bool:
    return column in [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]


def _abstracts(
    layout: Layout, tables: dict[str, Path], table: str | None, main_cols: list[str], cols: list[str]
) -> str:
    """SQL giving (id, abstract): from the abstract table when given, else from the main table."""
    if table is not None:
        column = _pick(cols, layout.abstract)
        if column is None:
            raise InputError(f"{tables[table]}: no abstract column ({' or '.join(layout.abstract)})")
        # an id given twice keeps its smallest abstract; the others (all, as a rule) skip the aggregate
        return f"""
            SELECT {layout.id} AS id, {column} AS abstract FROM abstracts
            WHERE {layout.id} NOT IN (SELECT {layout.id} FROM abstracts GROUP BY 1 HAVING count(*) > 1)
            UNION ALL
            SELECT {layout.id}, min({column}) FROM abstracts
            WHERE {layout.id} IN (SELECT {layout.id} FROM abstracts GROUP BY 1 HAVING count(*) > 1) GROUP BY 1
        """
    column = _pick(main_cols, layout.abstract)
    if column is None:
        raise InputError(
            f"no abstracts: give {' or '.join(layout.abstract_tables)} (.tsv or .tsv.zip) beside {layout.main}"
        )
    return f"SELECT {layout.id} AS id, {column} AS abstract FROM patents"


def _titles(path: Path, seen: set[str]) -> dict[str, str]:
    """Titles of the groups seen in the import and of their subclasses and classes, streamed from g_cpc_title."""
    from cpc_dataset.codes import code_level

    wanted = set(seen)
    for code in seen:
        for level in ("subclass", "class"):
            try:
                wanted.add(code_level(code, level))
            except ValueError:
                pass
    titles: dict[str, str] = {}
    columns = [c for pair in TITLE_COLUMNS for c in pair]
    for batch in tsv_batches(path, [], tuple(columns)):
        data = batch.to_pydict()
        for code_col, title_col in TITLE_COLUMNS:
            if code_col not in data or title_col not in data:
                continue
            for code, title in zip(data[code_col], data[title_col]):
                if code in wanted and title and code not in titles:
                    titles[code] = title
    return titles
