"""What a ``cpc scrape search`` is asked (``SearchConfig``) and what it answers (``SearchSummary``), for both backends."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from cpc_dataset.errors import InputError, MisconfiguredError
from cpc_dataset.scrape.export import DATE_FIELDS, GOOGLE_PATENTS

EXPORT_CAP = 1000  # rows in a full export: Google Patents exports at most the top 1,000 results of a search
SEARCH_BACKENDS = ("http", "browser")


def query_file_name(query: str) -> str:
    """``Transformer Language Model`` -> ``transformer-language-model.csv``."""
    slug = re.sub(r"[^a-z0-9]+", "-", query.lower()).strip("-")
    if not slug:
        raise InputError(f"query {query!r} has no letters or digits to name its file after")
    return f"{slug[:100]}.csv"


def read_queries(path: Path) -> list[str]:
    """Queries, one per line; blank lines and lines starting with ``#`` ignored."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read queries from {path}: {exc}") from None
    queries = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not queries:
        raise InputError(f"{path} holds no queries (one per line)")
    return queries


def parse_day(value: str | date | None, option: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise MisconfiguredError(f"{option} must be a date as YYYY-MM-DD, got {value!r}") from None


@dataclass
class SearchConfig:
    queries: list[str]
    out: str  # folder of exports, <query-slug>.csv
    backend: str = "http"
    base_url: str = GOOGLE_PATENTS
    since: date | None = None  # first day, included
    until: date | None = None  # last day, included
    date_field: str = "priority"
    cap: int = EXPORT_CAP  # an export with this many rows is taken as cut off: its dates are split
    max_rate: float | None = 2.0  # exports per second (None: no limit)
    timeout: float = 60.0
    retries: int = 3
    backoff: float = 1.0
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.queries:
            raise MisconfiguredError("no queries to search")
        names = [query_file_name(q) for q in self.queries]
        clash = sorted({n for n in names if names.count(n) > 1})
        if clash:
            raise MisconfiguredError(f"queries that differ only in punctuation or case share a file: {clash[0]}")
        if self.backend not in SEARCH_BACKENDS:
            raise MisconfiguredError(f"--backend must be one of {', '.join(SEARCH_BACKENDS)}, got {self.backend!r}")
        if self.date_field not in DATE_FIELDS:
            raise MisconfiguredError(f"--date-field must be one of {', '.join(DATE_FIELDS)}, got {self.date_field!r}")
        self.since, self.until = parse_day(self.since, "--since"), parse_day(self.until, "--until")
        if self.since and self.until and self.since > self.until:
            raise MisconfiguredError(f"--since {self.since} is after --until {self.until}")
        if self.cap < 2:
            raise MisconfiguredError(f"the export cap must be at least 2 rows, got {self.cap}")
        if self.max_rate is not None and self.max_rate <= 0:
            raise MisconfiguredError(f"--max-rate must be positive, got {self.max_rate}")
        if self.timeout <= 0 or self.retries < 0 or self.backoff < 0:
            raise MisconfiguredError("--timeout must be positive, --retries and --backoff not negative")


@dataclass
class QueryResult:
    query: str
    file: Path | None = None  # the query's export file, once written
    results: int = 0  # rows in the file
    new: int = 0  # rows this run added to it
    slices: int = 0  # exports the search is made of
    fetched: int = 0  # ... fetched by this run
    reused: int = 0  # ... saved by an interrupted run and read back
    capped: list[str] = field(default_factory=list)  # single days whose export is still full: results may be missing
    failed: str = ""  # why the query has no file (the slices fetched so far are kept)

    def as_dict(self) -> dict:
        return {
            "file": str(self.file) if self.file else None,
            "results": self.results,
            "new": self.new,
            "slices": self.slices,
            "fetched": self.fetched,
            "reused": self.reused,
            "capped_slices": self.capped,
            "failed": self.failed or None,
        }


@dataclass
class SearchSummary:
    queries: dict[str, QueryResult] = field(default_factory=dict)

    @property
    def saved(self) -> dict[str, Path]:
        return {q: r.file for q, r in self.queries.items() if r.file is not None and not r.failed}

    @property
    def failed(self) -> dict[str, str]:
        return {q: r.failed for q, r in self.queries.items() if r.failed}

    def as_dict(self) -> dict:
        return {q: r.as_dict() for q, r in self.queries.items()}
