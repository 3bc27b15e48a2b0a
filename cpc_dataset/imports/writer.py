"""What every bulk import shares: the filters, the counts, and the one writer of raw parquet files.

An importer reads its source and hands ``RawWriter.add`` one patent at a time (raw spellings: numbers with
dashes, codes in any accepted form, text uncleaned). The writer normalises, cleans, filters, counts and writes
rows of ``cpc_dataset.raw.RAW_FIELDS`` to ``<out>/<name>.parquet``. It writes to a hidden partial file and
renames it at the end, so a killed import leaves the previous file (or none) and a re-run ends with the same
files, never with duplicate rows. Beside it: ``<name>.import.json`` (the counts) and ``<name>.codes.json``
(``{code: title}``, read by the build like the scraper's).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from cpc_dataset.codes import parse_code
from cpc_dataset.errors import InvalidCodeError, MisconfiguredError
from cpc_dataset.raw import RAW_FIELDS, normalise_publication_number, raw_schema
from cpc_dataset.text import clean_text

log = logging.getLogger(__name__)

BATCH_ROWS = 50_000
STATS_SUFFIX = ".import.json"
TITLES_SUFFIX = ".codes.json"
DICTIONARY_COLUMNS = ("cpc_codes", "country_code", "publication_date", "filing_date", "priority_date")


@dataclass
class ImportFilters:
    """Which patents to keep. ``cpc_prefixes``: a patent is kept if any of its codes starts with one (with all
    its codes); ``since``/``until``: publication date, inclusive; ``limit``: stop after this many rows written."""

    cpc_prefixes: tuple[str, ...] = ()
    since: dt.date | None = None
    until: dt.date | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        self.cpc_prefixes = tuple(p.replace(" ", "").upper() for p in self.cpc_prefixes if p.strip())
        if self.limit is not None and self.limit < 1:
            raise MisconfiguredError(f"--limit must be at least 1, got {self.limit}")
        if self.since and self.until and self.since > self.until:
            raise MisconfiguredError(f"--since {self.since} is after --until {self.until}")


@dataclass
class ImportReport:
    source: str
    out: Path
    read: int = 0  # patents the source holds (after joining its tables)
    written: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> patents that cannot be used
    filtered: Counter = field(default_factory=Counter)  # filter -> patents left out on purpose
    codes_dropped: Counter = field(default_factory=Counter)
    titles: int = 0
    seconds: float = 0.0

    def summary(self) -> dict:
        return {
            "source": self.source,
            "out": self.out.name,
            "patents_read": self.read,
            "rows_written": self.written,
            "skipped": dict(sorted(self.skipped.items())),
            "filtered": dict(sorted(self.filtered.items())),
            "codes_dropped": dict(self.codes_dropped),
            "code_titles": self.titles,
            "seconds": round(self.seconds, 1),
            "rows_per_second": round(self.read / self.seconds) if self.seconds else None,
        }


def _plain(text) -> bool:
    """ASCII letters and digits only: nothing to clean (the usual case, taken without the general code)."""
    return isinstance(text, str) and text.isascii() and text.isalnum()


def to_date(value) -> dt.date | None:
    """A date from ``date``/``datetime``, ``YYYY-MM-DD`` text or a BigQuery ``YYYYMMDD`` integer (0: unknown)."""
    if value is None or value == "" or value == 0:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    try:
        if text.isdigit() and len(text) == 8:
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


class RawWriter:
    """Rows of the raw schema into ``<out>/<name>.parquet``, atomically; a context manager."""

    def __init__(self, out: Path, name: str, source: str, filters: ImportFilters | None = None):
        self.out_dir = Path(out)
        self.path = self.out_dir / f"{name}.parquet"
        self.partial = self.out_dir / f".{name}.parquet.partial"
        self.filters = filters or ImportFilters()
        self.report = ImportReport(source, self.path)
        self.titles: dict[str, str] = {}
        self._columns: dict[str, list] = {n: [] for n, _ in RAW_FIELDS}
        self._codes: dict[str, str | None] = {}  # raw spelling -> normalised symbol (None: not a code)
        self._writer = None
        self._t0 = time.perf_counter()

    # -- context ---------------------------------------------------------------------------------------
    def __enter__(self) -> RawWriter:
        import pyarrow.parquet as pq

        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.partial.unlink(missing_ok=True)  # left by a killed run
        self._writer = pq.ParquetWriter(  # no dictionaries for the text (all distinct: only time spent)
            self.partial, raw_schema(), compression="zstd", use_dictionary=list(DICTIONARY_COLUMNS)
        )
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._writer.close()
            self.partial.unlink(missing_ok=True)
            return
        self._flush()
        self._writer.close()
        self.report.seconds = time.perf_counter() - self._t0
        os.replace(self.partial, self.path)
        base = self.path.with_suffix("")
        _write_json(base.with_name(base.name + TITLES_SUFFIX), dict(sorted(self.titles.items())))
        _write_json(base.with_name(base.name + STATS_SUFFIX), self.report.summary())
        log.info("%s: %d rows written (%d patents read)", self.path, self.report.written, self.report.read)

    @property
    def full(self) -> bool:
        """True once ``--limit`` rows are written: the importer stops reading."""
        return self.filters.limit is not None and self.report.written >= self.filters.limit

    @property
    def seen_codes(self) -> set[str]:
        """The code spellings met so far that are CPC symbols (to pick their titles)."""
        return {raw for raw, symbol in self._codes.items() if symbol is not None}

    # -- rows ------------------------------------------------------------------------------------------
    def skip(self, reason: str, n: int = 1) -> None:
        """Count ``n`` patents the importer could not use (e.g. ``withdrawn``)."""
        self.report.read += n
        self.report.skipped[reason] += n

    def add(
        self,
        publication_number,
        title=None,
        abstract=None,
        codes=None,
        family_id=None,
        country_code=None,
        publication_date=None,
        filing_date=None,
        priority_date=None,
    ) -> bool:
        """One patent; False when it was skipped or filtered out (and counted)."""
        report = self.report
        report.read += 1
        if self.full:
            report.filtered["over --limit"] += 1
            return False
        number = (
            publication_number.upper()
            if _plain(publication_number)
            else normalise_publication_number(publication_number)
        )
        if not number:
            report.skipped["no publication number"] += 1
            return False
        symbols = self._normalise_codes(codes or ())
        if not symbols:
            report.skipped["no codes" if not codes else "no valid codes"] += 1
            return False
        f = self.filters
        if f.cpc_prefixes and not any(s.startswith(f.cpc_prefixes) for s in symbols):
            report.filtered["outside --cpc-prefix"] += 1
            return False
        published = to_date(publication_date)
        if f.since or f.until:
            if published is None:
                report.filtered["no publication date"] += 1
                return False
            if f.since and published < f.since:
                report.filtered["before --since"] += 1
                return False
            if f.until and published > f.until:
                report.filtered["after --until"] += 1
                return False
        abstract = clean_text(abstract)
        if not abstract:
            report.skipped["no abstract"] += 1
            return False
        c = self._columns
        c["publication_number"].append(number)
        c["title"].append(clean_text(title))
        c["abstract"].append(abstract)
        c["cpc_codes"].append(symbols)
        c["family_id"].append(clean_text(str(family_id)) or None if family_id is not None else None)
        c["country_code"].append(
            country_code.upper() if _plain(country_code) else clean_text(country_code).upper() or number[:2]
        )
        c["publication_date"].append(published)
        c["filing_date"].append(to_date(filing_date))
        c["priority_date"].append(to_date(priority_date))
        report.written += 1
        if len(c["publication_number"]) >= BATCH_ROWS:
            self._flush()
        return True

    def add_batch(self, batch, skip=None) -> None:
        """Many patents at once, with ``add``'s rules, counts and rows, vectorised (``cpc_dataset.imports.batch``).

        ``batch``: a pyarrow table or record batch whose columns are ``add``'s argument names (``codes``: a list
        column; absent ones are null). ``skip``: per row, a reason to skip it before anything else (null: none),
        counted as ``skip`` counts. At ``--limit`` it stops as a row-by-row importer does: the rows after the one
        that fills it are not read.
        """
        self._commit(self._prepare(batch, skip))

    def add_batches(self, items, threads: int = 2) -> None:
        """``add_batch`` for each ``(batch, skip)``: prepared on ``threads`` threads (numpy and pyarrow release the
        GIL), counted and written in order; stops once ``--limit`` is reached."""
        from cpc_dataset.pipeline import in_threads

        for prepared in in_threads(lambda item: self._prepare(*item), items, threads):
            self._commit(prepared)
            if self.full:
                break

    def _prepare(self, batch, skip) -> dict:
        """Everything ``add_batch`` computes that depends on the batch alone (thread-safe: the shared code cache
        only gains entries)."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        from cpc_dataset.arrow_text import clean_texts
        from cpc_dataset.imports import batch as vec

        n, f = batch.num_rows, self.filters

        def column(name):
            return batch.column(name) if name in batch.schema.names else pa.nulls(n, pa.string())

        outcome = np.zeros(n, np.int16)  # 0: written; i: the first reason, kinds[i]
        kinds: list[tuple[str, str]] = [("", "")]

        def fail(mask, counter: str, reason: str) -> None:
            kinds.append((counter, reason))
            outcome[(outcome == 0) & mask] = len(kinds) - 1

        if skip is not None:
            for reason in pc.unique(skip.drop_null()).to_pylist():
                fail(pc.fill_null(pc.equal(skip, reason), False).to_numpy(zero_copy_only=False), "skipped", reason)
        number = vec.numbers(column("publication_number"))
        fail(pc.equal(pc.utf8_length(number), 0).to_numpy(zero_copy_only=False), "skipped", "no publication number")
        codes_read = outcome == 0  # the rows whose codes add() normalises (and counts the bad ones of)
        codes = vec.CodeLists(column("codes"), self._normalise_code)
        fail((codes.n_symbols == 0) & (codes.given == 0), "skipped", "no codes")
        fail(codes.n_symbols == 0, "skipped", "no valid codes")
        if f.cpc_prefixes:
            fail(~codes.any_startswith(f.cpc_prefixes), "filtered", "outside --cpc-prefix")
        published = vec.dates(column("publication_date"))
        if f.since or f.until:
            for reason, mask in vec.date_mask(published, f.since, f.until).items():
                fail(mask, "filtered", reason)
        abstract = clean_texts(column("abstract"))
        fail(pc.equal(pc.utf8_length(abstract), 0).to_numpy(zero_copy_only=False), "skipped", "no abstract")

        written = np.flatnonzero(outcome == 0)
        take = pa.array(written)
        number = number.take(take)
        family = column("family_id").take(take)
        family = pc.if_else(pc.is_null(family), pa.scalar(None, pa.string()), clean_texts(family))
        country = pc.utf8_upper(clean_texts(column("country_code").take(take)))
        table = pa.table(
            {
                "publication_number": number,
                "title": clean_texts(column("title").take(take)),
                "abstract": abstract.take(take),
                "cpc_codes": codes.symbols.take(take),
                "family_id": pc.if_else(pc.equal(family, ""), pa.scalar(None, pa.string()), family),
                "country_code": pc.if_else(pc.equal(country, ""), pc.utf8_slice_codeunits(number, 0, 2), country),
                "publication_date": published.take(take),
                "filing_date": vec.dates(column("filing_date").take(take)),
                "priority_date": vec.dates(column("priority_date").take(take)),
            }
        ).cast(raw_schema())
        dropped = np.where(codes_read, codes.invalid, 0)
        return {"n": n, "outcome": outcome, "kinds": kinds, "dropped": dropped, "written": written, "table": table}

    def _commit(self, prepared: dict) -> None:
        """Count a prepared batch up to ``--limit`` and write its rows."""
        import numpy as np

        report, limit = self.report, self.filters.limit
        n, outcome, written, table = prepared["n"], prepared["outcome"], prepared["written"], prepared["table"]
        if not n:
            return
        if self.full:
            report.read += n
            report.filtered["over --limit"] += n
            return
        cut = n
        if limit is not None and len(written) >= limit - report.written:
            cut = int(written[limit - report.written - 1]) + 1
            table = table.slice(0, limit - report.written)
        report.read += cut
        counters = {"skipped": report.skipped, "filtered": report.filtered}
        for i, count in enumerate(np.bincount(outcome[:cut], minlength=len(prepared["kinds"]))[1:], start=1):
            if count:
                counter, reason = prepared["kinds"][i]
                counters[counter][reason] += int(count)
        if dropped := int(prepared["dropped"][:cut].sum()):
            report.codes_dropped["not a CPC code"] += dropped
        if table.num_rows:
            self._flush()  # rows given one at a time before this batch stay before it
            self._writer.write_table(table)
            report.written += table.num_rows

    def add_titles(self, titles: dict[str, str]) -> None:
        """CPC titles (``{code: title}``); codes are normalised where they are symbols, others kept as spelt."""
        for code, title in titles.items():
            title = clean_text(title)
            if not code or not title:
                continue
            symbol = self._normalise_code(code) or code.strip().upper()
            self.titles.setdefault(symbol, title)
        self.report.titles = len(self.titles)

    def _normalise_code(self, raw) -> str | None:
        symbol = self._codes.get(raw, "")
        if symbol == "":
            try:
                symbol = parse_code(raw).symbol
            except InvalidCodeError:
                symbol = None
            if len(self._codes) < 2_000_000:  # distinct codes are a few hundred thousand
                self._codes[raw] = symbol
        return symbol

    def _normalise_codes(self, codes) -> list[str]:
        symbols: list[str] = []
        known = self._codes
        for raw in codes:
            symbol = known.get(raw, "")
            if symbol == "":
                symbol = self._normalise_code(raw)
            if symbol is None:
                self.report.codes_dropped["not a CPC code"] += 1
            elif symbol not in symbols:
                symbols.append(symbol)
        return symbols

    def _flush(self) -> None:
        import pyarrow as pa

        if not self._columns["publication_number"]:
            return
        self._writer.write_table(pa.table(self._columns, schema=raw_schema()))
        self._columns = {n: [] for n, _ in RAW_FIELDS}


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name("." + path.name + ".partial")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
