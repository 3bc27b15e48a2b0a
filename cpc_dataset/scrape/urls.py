"""The patent page URLs to visit: from Google Patents' search-result CSVs or from plain lists of URLs.

A search-result CSV is Google's "Download CSV" export: an optional first line ``search URL:,<url>``, then a
header with a ``result link`` column. Any other file is read as one URL per line (blank lines and lines
starting with ``#`` ignored). A folder stands for the ``.csv`` and ``.txt`` files in it.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from cpc_dataset.errors import InputError

RESULT_LINK = "result link"
_PATENT_PATH = re.compile(r"/patent/([A-Za-z0-9]+)(?:/|$)")


def patent_key(url: str) -> str:
    """What identifies a page: the publication number in ``/patent/<number>/...``, else the URL itself."""
    match = _PATENT_PATH.search(url)
    return match.group(1).upper() if match else url.strip()


def _text_of(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path} does not exist") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None


def _skip_search_url_line(text: str) -> str:
    first, _, rest = text.partition("\n")
    return rest if first.lower().startswith("search url:") else text


def read_search_csv(path: Path) -> list[str]:
    """The ``result link`` URLs of one Google Patents export, with or without its ``search URL:`` line."""
    path = Path(path)
    reader = csv.DictReader(io.StringIO(_skip_search_url_line(_text_of(path)), newline=""))
    header = [h.strip().lower() for h in reader.fieldnames or ()]
    if RESULT_LINK not in header:
        raise InputError(
            f"{path}: not a Google Patents search export (no '{RESULT_LINK}' column; found {', '.join(header) or 'nothing'})"
        )
    column = (reader.fieldnames or [])[header.index(RESULT_LINK)]
    try:
        return [row[column].strip() for row in reader if (row.get(column) or "").strip()]
    except csv.Error as exc:
        raise InputError(f"{path}: broken CSV near line {reader.line_num}: {exc}") from None


def read_url_list(path: Path) -> list[str]:
    urls = []
    for number, line in enumerate(_text_of(Path(path)).splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not line.lower().startswith(("http://", "https://")):
            raise InputError(
                f"{path} line {number}: not a URL: {line[:80]!r} (expected a search CSV or one URL per line)"
            )
        urls.append(line)
    return urls


def _is_search_csv(path: Path) -> bool:
    head = _skip_search_url_line(_text_of(path)[:4096]).split("\n", 1)[0].lower()
    return RESULT_LINK in head


def read_urls(sources: list[str | Path]) -> list[str]:
    """Every URL of every source, in order, each patent once (by ``patent_key``)."""
    files: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in (".csv", ".txt"))
            if not found:
                raise InputError(f"{path} holds no .csv or .txt files of URLs")
            files.extend(found)
        else:
            files.append(path)
    if not files:
        raise InputError("no URL sources given: pass --urls with search CSVs or a text file of URLs")
    urls: dict[str, str] = {}
    for path in files:
        for url in read_search_csv(path) if _is_search_csv(path) else read_url_list(path):
            urls.setdefault(patent_key(url), url)
    return list(urls.values())
