"""Google Patents' search export: its URL, its CSV, and the date filters a search can carry.

The results page's "Download (CSV)" link points at ``/xhr/query?url=<the search's own parameters, URL-encoded>
&exp=&download=true`` (without ``download=true`` the same endpoint answers JSON). The CSV starts with a line
``search URL:,<url>``, then the header ``id, title, assignee, inventor/author, priority date, filing/creation date,
publication date, grant date, result link, representative figure link``, one row per result (the best-ranked
patent of each simple family), at most the top 1,000 results.

Date filters are ``after=<field>:YYYYMMDD`` and ``before=<field>:YYYYMMDD`` with field ``priority``, ``filing``
or ``publication``. They are taken here as inclusive of the day named, and ``date_filters`` is the one place
that says so: a slice ``[lo, hi]`` is searched as ``after=lo`` and ``before=hi``.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

from cpc_dataset.errors import InputError
from cpc_dataset.scrape.urls import RESULT_LINK, patent_key

GOOGLE_PATENTS = "https://patents.google.com"
EXPORT_COLUMNS = (
    "id",
    "title",
    "assignee",
    "inventor/author",
    "priority date",
    "filing/creation date",
    "publication date",
    "grant date",
    "result link",
    "representative figure link",
)
DATE_FIELDS = ("priority", "filing", "publication")
SEARCH_URL_PREFIX = "search URL:"


class ExportError(ValueError):
    """A body that is not a search export (a block page, a consent page, a changed site)."""


def date_filters(date_field: str, lo: date | None, hi: date | None) -> list[tuple[str, str]]:
    """``after``/``before`` parameters for the days ``lo`` to ``hi``, both included (None: open on that side)."""
    params = []
    if lo is not None:
        params.append(("after", f"{date_field}:{lo:%Y%m%d}"))
    if hi is not None:
        params.append(("before", f"{date_field}:{hi:%Y%m%d}"))
    return params


def search_params(query: str, filters: list[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """The parameters of the results page for ``query`` (as the site writes them: ``q=(query)&oq=query``)."""
    return [("q", f"({query})"), ("oq", query), *filters]


def search_page_url(params: list[tuple[str, str]], base_url: str = GOOGLE_PATENTS) -> str:
    return f"{base_url.rstrip('/')}/?{urlencode(params)}"


def export_url(params: list[tuple[str, str]], base_url: str = GOOGLE_PATENTS) -> str:
    """The "Download (CSV)" link of the results page with these parameters."""
    return f"{base_url.rstrip('/')}/xhr/query?" + urlencode({"url": urlencode(params), "exp": "", "download": "true"})


@dataclass
class Export:
    search_url: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def records(self) -> list[dict[str, str]]:
        return [dict(zip(self.header, row)) for row in self.rows]


def publication_number(record: dict[str, str]) -> str:
    """``US-12299796-B2`` -> ``US12299796B2``; from the result link when the id is missing."""
    number = re.sub(r"[^A-Za-z0-9]", "", record.get("id") or "").upper()
    return number or patent_key(record.get(RESULT_LINK) or "")


def parse_export(text: str) -> Export:
    """An export's text (with or without its ``search URL:`` line); ExportError if it is not one."""
    text = text.lstrip("\ufeff")
    search_url = ""
    first, _, rest = text.partition("\n")
    if first.lower().startswith(SEARCH_URL_PREFIX.lower()):
        search_url = first[len(SEARCH_URL_PREFIX) :].lstrip(",").strip().strip('"')
        text = rest
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        if RESULT_LINK not in header:
            found = ", ".join(header)[:120] or "nothing"
            raise ExportError(f"not a search export (no '{RESULT_LINK}' column; found {found})")
        rows = [row + [""] * (len(header) - len(row)) for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise ExportError(f"broken export CSV near line {reader.line_num}: {exc}") from None
    return Export(search_url, header, rows)


def read_export(path: Path) -> Export:
    try:
        return parse_export(Path(path).read_bytes().decode("utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except ExportError as exc:
        raise InputError(f"{path}: {exc}") from None


def export_text(export: Export) -> str:
    buffer = io.StringIO()
    buffer.write(f"{SEARCH_URL_PREFIX},{export.search_url}\n")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(export.header)
    writer.writerows(export.rows)
    return buffer.getvalue()


def write_export(path: Path, export: Export) -> None:
    """Write atomically: a killed run leaves the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(export_text(export), encoding="utf-8")
    os.replace(tmp, path)
