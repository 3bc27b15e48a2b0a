"""``cpc scrape search`` over plain HTTP (the default backend), past the export's cap of 1,000 results.

Each query's export is fetched from the site's export endpoint with the page scraper's fetch layer (pooled
httpx client, retries with backoff and jitter, ``Retry-After``, ``--max-rate``). An export that comes back full
(``cap`` rows) is taken as cut off: its date range is cut in two and each half searched, down to single days
(``slices.py``). Every export is saved as soon as it arrives, so a killed search resumes from what it has. When
all slices are in, their rows are merged with the query's export file (if any), each publication number once, and
the file is rewritten; a later run adds only what it did not have. Single days still full are reported.
"""

from __future__ import annotations

import logging
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

from cpc_dataset.errors import CpcError
from cpc_dataset.scrape.export import (
    Export,
    ExportError,
    date_filters,
    export_url,
    parse_export,
    publication_number,
    read_export,
    search_page_url,
    search_params,
    write_export,
)
from cpc_dataset.scrape.retry import RateLimiter, RetryPolicy, fetch_with_retries
from cpc_dataset.scrape.search_config import QueryResult, SearchConfig, SearchSummary, query_file_name
from cpc_dataset.scrape.slices import EARLIEST, SearchPlan, Slice, SliceStore

log = logging.getLogger(__name__)


class SliceFailed(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def fetch_export(
    url: str, fetcher, policy: RetryPolicy, limiter: RateLimiter, sleep: Callable[[float], None] = time.sleep
) -> Export:
    """One export, tried up to ``policy.retries + 1`` times; SliceFailed with the reason when it cannot be had.

    Timeouts, connection errors, 429 and 5xx are retried (``Retry-After`` honoured); any other status, a fetch
    error the fetcher calls final, or a 200 that is not an export (a block or consent page), is not.
    """
    fetched = fetch_with_retries(url, fetcher, policy, limiter, sleep, log)
    if fetched.error is not None:
        exc = fetched.error
        log.warning("%s: unexpected fetch error: %s: %s", url, type(exc).__name__, str(exc)[:200])
        raise SliceFailed(f"unexpected fetch error ({type(exc).__name__})")
    if fetched.response is None:
        raise SliceFailed(f"{fetched.reason} ({fetched.attempts} attempts)" if fetched.exhausted else fetched.reason)
    try:
        return parse_export(fetched.response.text)
    except ExportError as exc:
        raise SliceFailed(str(exc)) from None


def merge_exports(previous: Export | None, exports: list[Export], search_url: str) -> tuple[Export, int]:
    """``previous`` rows, then the new ones, each publication number once; returns the export and the rows added."""
    header = list(previous.header if previous else exports[0].header)
    seen: set[str] = set()
    rows: list[list[str]] = []

    def add(records: list[dict[str, str]]) -> None:
        for record in records:
            key = publication_number(record)
            if key and key not in seen:
                seen.add(key)
                rows.append([record.get(column, "") for column in header])

    add(previous.records() if previous else [])
    kept = len(rows)
    for export in exports:
        add(export.records())
    return Export(search_url, header, rows), len(rows) - kept


class HttpSearch:
    """Searches one query after the other with one fetcher, one retry policy and one rate limit."""

    def __init__(self, config: SearchConfig, fetcher, sleep: Callable[[float], None] = time.sleep):
        self.config = config
        self.fetcher = fetcher
        self.policy = RetryPolicy(retries=config.retries, backoff=config.backoff)
        self.limiter = RateLimiter(config.max_rate)
        self.sleep = sleep
        self.today = datetime.now(timezone.utc).date()

    def _plan(self, query: str) -> SearchPlan:
        c = self.config
        return SearchPlan(
            query=query,
            date_field=c.date_field,
            since=c.since.isoformat() if c.since else None,
            until=c.until.isoformat() if c.until else None,
            cut_until=(c.until or self.today).isoformat(),
        )

    def _export(self, query: str, piece: Slice) -> Export:
        filters = date_filters(self.config.date_field, piece.lo, piece.hi)
        url = export_url(search_params(query, filters), self.config.base_url)
        return fetch_export(url, self.fetcher, self.policy, self.limiter, self.sleep)

    def search(self, query: str, on_slice: Callable[[], None] = lambda: None) -> QueryResult:
        c = self.config
        out = Path(c.out)
        target = out / query_file_name(query)
        result = QueryResult(query)
        try:
            previous = read_export(target) if target.exists() else None
        except CpcError as exc:
            result.failed = f"{exc} (move it away to search again)"
            return result
        store = SliceStore(out / (target.stem + ".slices"), self._plan(query))
        until = date.fromisoformat(store.plan.cut_until)
        exports: list[Export] = []
        stack = [store.plan.root()]
        while stack:
            piece = stack.pop()
            export = store.get(piece)
            if export is None:
                try:
                    export = self._export(query, piece)
                except SliceFailed as exc:
                    result.failed = f"{piece.describe()}: {exc.reason}"
                    return result
                store.put(piece, export)
                result.fetched += 1
            else:
                result.reused += 1
            result.slices += 1
            exports.append(export)
            on_slice()
            if len(export.rows) < c.cap:
                continue
            if (piece.hi or until) <= (piece.lo or EARLIEST):
                result.capped.append(f"{c.date_field} {piece.describe()}: {len(export.rows)} rows, the cap")
                log.warning("%s: %s", query, result.capped[-1])
                continue
            first, second = piece.halves(until)
            stack += [second, first]  # the first half next
        url = search_page_url(search_params(query, date_filters(c.date_field, c.since, c.until)), c.base_url)
        merged, result.new = merge_exports(previous, exports, url)
        write_export(target, merged)
        store.discard()
        result.file, result.results = target, len(merged.rows)
        log.info(
            "%s: %d results (%d new) from %d slices -> %s", query, result.results, result.new, result.slices, target
        )
        return result


def http_search_exports(config: SearchConfig, fetcher=None) -> SearchSummary:
    """Search every query of ``config`` into ``config.out``; a query that fails is reported, the others go on."""
    from tqdm.auto import tqdm

    own_fetcher = fetcher is None
    if own_fetcher:
        from cpc_dataset.scrape.http import HttpFetcher

        fetcher = HttpFetcher(1, config.timeout)
    Path(config.out).mkdir(parents=True, exist_ok=True)
    search = HttpSearch(config, fetcher)
    summary = SearchSummary()
    try:
        with tqdm(total=None, desc="exports", unit="export", disable=not config.progress) as bar:
            for query in config.queries:
                bar.set_postfix_str(query[:40], refresh=False)
                summary.queries[query] = result = search.search(query, on_slice=lambda: bar.update(1))
                if result.failed:
                    log.warning("%s: %s", query, result.failed)
    finally:
        if own_fetcher:
            fetcher.close()
    return summary
