"""The raw-file schema: what the scraper and the bulk imports write, and what ``cpc data build`` reads.

A raw folder holds two kinds of files, read in name order:

- ``*.csv``: the scraper's rows (``publication_number,title,abstract,cpc_codes``; code lists as Python list
  literals, read with ``ast.literal_eval``, never executed). Read here, row by row: a bad row (malformed code
  list, no abstract, no valid code) is skipped and counted with its reason; a bad code inside a good row is
  dropped and counted.
- ``*.parquet``: rows written by ``cpc data import`` (``cpc_dataset.imports.writer``) with ``RAW_SCHEMA``:
  numbers normalised (``normalise_publication_number``), text cleaned, codes normalised and unique, every row
  with a number, an abstract and a code. ``family_id`` (a patent family, e.g. BigQuery's simple family) makes
  the build keep a family in one split; ``country_code`` and the dates are kept for filtering and reports.

Beside them, ``*.codes.json`` (``{code: title}``, ``cpc_dataset.titles``). A file that cannot be used at all
(missing, wrong columns or types, not UTF-8) raises InputError naming it.
"""

from __future__ import annotations

import ast
import csv
import io
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from cpc_dataset.codes import parse_code
from cpc_dataset.errors import InputError, InvalidCodeError
from cpc_dataset.text import clean_text

log = logging.getLogger(__name__)

RAW_COLUMNS = ("publication_number", "title", "abstract", "cpc_codes")  # the scraper's CSV header
# the imported (parquet) raw schema: name -> Arrow type name; RAW_COLUMNS first, all strings except as noted
RAW_FIELDS = (
    ("publication_number", "string"),  # e.g. US10000000B2: country, number, kind, no spaces or dashes
    ("title", "string"),
    ("abstract", "string"),
    ("cpc_codes", "list<string>"),  # normalised (cpc_dataset.codes), unique, in the source's order
    ("family_id", "string"),  # null where the source has none
    ("country_code", "string"),
    ("publication_date", "date32"),
    ("filing_date", "date32"),
    ("priority_date", "date32"),
)
RAW_SUFFIXES = (".csv", ".parquet")
_MAX_WARNINGS = 20


@dataclass
class RawRecord:
    publication_number: str
    title: str
    abstract: str
    cpc_codes: list[str]
    source: str  # file name the row came from


@dataclass
class RawReadStats:
    files: int = 0
    rows: int = 0
    dropped: Counter = field(default_factory=Counter)  # reason -> rows
    codes_dropped: Counter = field(default_factory=Counter)  # reason -> codes
    rows_per_file: dict[str, int] = field(default_factory=dict)
    _warned: int = 0

    def drop(self, reason: str, where: str, detail: str = "", quiet: bool = False) -> None:
        self.dropped[reason] += 1
        if quiet:
            log.debug("%s: skipped row (%s)", where, reason)
            return
        self._warn(f"{where}: skipped row ({reason}){': ' + detail if detail else ''}")

    def _warn(self, message: str) -> None:
        self._warned += 1
        if self._warned <= _MAX_WARNINGS:
            log.warning(message)
        elif self._warned == _MAX_WARNINGS + 1:
            log.warning("more skipped rows and codes are counted but not listed")


def parse_code_list(text: str) -> list:
    """Parse the scraper's Python-style list literal without executing anything."""
    text = (text or "").strip()
    if not text:
        return []
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise ValueError(f"malformed code list {text[:60]!r}") from exc
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"code list is a {type(value).__name__}, not a list: {text[:60]!r}")
    return list(value)


def raw_schema():
    """``RAW_FIELDS`` as a pyarrow schema."""
    import pyarrow as pa

    types = {"string": pa.string(), "list<string>": pa.list_(pa.string()), "date32": pa.date32()}
    return pa.schema([pa.field(name, types[kind]) for name, kind in RAW_FIELDS])


def normalise_publication_number(text: str | None) -> str:
    """``US-10000000-B2``, ``us 10000000 b2`` -> ``US10000000B2`` (the spelling Google Patents shows)."""
    return clean_text(text).replace(" ", "").replace("-", "").upper()


def list_raw_files(raw_dir: Path) -> list[Path]:
    """The raw CSVs and parquet files of a folder, in name order (a scrape's failures file and hidden files excepted)."""
    raw_dir = Path(raw_dir)
    if not raw_dir.exists():
        raise InputError(f"raw folder {raw_dir} does not exist")
    if not raw_dir.is_dir():
        raise InputError(f"{raw_dir} is not a folder of raw CSVs")
    files = sorted(
        p
        for p in raw_dir.iterdir()
        if p.suffix.lower() in RAW_SUFFIXES
        and p.is_file()
        and not p.name.startswith(".")
        and not p.name.endswith(".failures.csv")
    )
    if not files:
        raise InputError(f"raw folder {raw_dir} holds no .csv or .parquet files")
    return files


def open_raw_parquet(path: Path):
    """A ``pyarrow.parquet.ParquetFile`` of the raw schema; InputError naming the file otherwise."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{path}: not a parquet file ({exc})") from None
    expected = raw_schema()
    wrong = [
        f"{f.name} ({schema.field(f.name).type if f.name in schema.names else 'missing'}, expected {f.type})"
        for f in expected
        if f.name not in schema.names or not schema.field(f.name).type.equals(f.type)
    ]
    if wrong:
        raise InputError(f"{path}: not a raw file of `cpc data import`: column(s) {', '.join(wrong)}")
    return pf


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}: not UTF-8 text (bad byte 0x{data[exc.start]:02x} on line {line})") from None


def read_raw_file(path: Path, stats: RawReadStats) -> list[RawRecord]:
    """Read one raw CSV; rows that cannot be used are counted in ``stats``."""
    reader = csv.DictReader(io.StringIO(_decode(path), newline=""))
    header = tuple(reader.fieldnames or ())
    missing = [c for c in RAW_COLUMNS if c not in header]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(RAW_COLUMNS)}, found {','.join(header) or 'no header'}"
        )
    records = []
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. a cell over the field limit: that row is dropped, the reader goes on
            stats.drop("unreadable CSV row", f"{path.name} line {reader.line_num}", str(exc))
            continue
        records.extend(_read_row(row, f"{path.name} row {reader.line_num}", path.name, stats))
    stats.files += 1
    stats.rows_per_file[path.name] = len(records)
    return records


def _read_row(row: dict, where: str, source: str, stats: RawReadStats) -> list[RawRecord]:
    stats.rows += 1
    number = normalise_publication_number(row.get("publication_number"))
    abstract = clean_text(row.get("abstract"))
    if not number:
        stats.drop("no publication number", where)
        return []
    if not abstract:
        stats.drop("no abstract", where)
        return []
    try:
        raw_codes = parse_code_list(row.get("cpc_codes") or "")
    except ValueError as exc:
        stats.drop("malformed code list", where, str(exc))
        return []
    codes: list[str] = []
    for raw in raw_codes:
        try:
            symbol = parse_code(raw).symbol
        except InvalidCodeError as exc:
            stats.codes_dropped["not a CPC code"] += 1
            stats._warn(f"{where}: dropped code: {exc}")
            continue
        if symbol not in codes:
            codes.append(symbol)
    if not codes:
        stats.drop("no codes" if not raw_codes else "no valid codes", where, quiet=not raw_codes)
        return []
    return [RawRecord(number, clean_text(row.get("title")), abstract, codes, source)]


def read_raw_dir(raw_dir: Path, progress: bool = True) -> tuple[list[RawRecord], RawReadStats]:
    """Every row of a folder's raw CSVs, in memory (parquet files are read by the build, out of core)."""
    from tqdm.auto import tqdm

    stats = RawReadStats()
    records: list[RawRecord] = []
    files = [p for p in list_raw_files(raw_dir) if p.suffix.lower() == ".csv"]
    for path in tqdm(files, desc="reading raw CSVs", unit="file", disable=not progress):
        records.extend(read_raw_file(path, stats))
    return records, stats
