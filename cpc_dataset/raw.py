"""Read the scraper's raw CSVs (``publication_number,title,abstract,cpc_codes``) safely.

A file that cannot be used at all (missing, wrong columns, not UTF-8) raises InputError naming it.
A bad row (malformed code list, no abstract, no valid code) is skipped and counted with its reason;
a bad code inside a good row is dropped and counted.
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

RAW_COLUMNS = ("publication_number", "title", "abstract", "cpc_codes")
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


def list_raw_files(raw_dir: Path) -> list[Path]:
    raw_dir = Path(raw_dir)
    if not raw_dir.exists():
        raise InputError(f"raw folder {raw_dir} does not exist")
    if not raw_dir.is_dir():
        raise InputError(f"{raw_dir} is not a folder of raw CSVs")
    files = sorted(
        p
        for p in raw_dir.iterdir()
        if p.suffix.lower() == ".csv" and p.is_file() and not p.name.endswith(".failures.csv")
    )
    if not files:
        raise InputError(f"raw folder {raw_dir} holds no .csv files")
    return files


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
    number = clean_text(row.get("publication_number")).replace(" ", "").upper()
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
    from tqdm.auto import tqdm

    stats = RawReadStats()
    records: list[RawRecord] = []
    for path in tqdm(list_raw_files(raw_dir), desc="reading raw CSVs", unit="file", disable=not progress):
        records.extend(read_raw_file(path, stats))
    return records, stats
