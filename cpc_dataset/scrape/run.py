"""``cpc scrape patents``: visit patent pages in parallel and append each row as soon as it is scraped.

Workers (threads) fetch and parse; the calling thread alone writes, so rows are whole and never interleaved.
Timeouts, connection errors, 429 and 5xx are retried with exponential backoff and jitter (``Retry-After``
honoured); 404 (any other 4xx), pages without an abstract or with an unknown layout, and what ``http.py``
refuses (redirect loops, bad encodings, pages over the size cap) are not. Every failure, even an exception no one
foresaw, goes to ``<out>.failures.csv`` with its reason and is tried again by the next run: one page never ends
the run. Pages already in ``<out>`` are skipped. See ``output.py`` for the files.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cpc_dataset.errors import MisconfiguredError
from cpc_dataset.scrape.output import ScrapeOutput, failures_path
from cpc_dataset.scrape.pages import PageError, parse_patent_page, require_parser
from cpc_dataset.scrape.retry import RateLimiter, RetryPolicy, fetch_with_retries
from cpc_dataset.scrape.urls import read_urls

log = logging.getLogger(__name__)

BACKENDS = ("http", "browser")
DEFAULT_WORKERS = {"http": 8, "browser": 4}


@dataclass
class ScrapeConfig:
    urls: list[str]  # search CSVs, URL lists or folders of them
    out: str
    backend: str = "http"
    workers: int | None = None  # default: 8 (http) or 4 (browser)
    max_rate: float | None = None  # pages (requests) per second over all workers; None: no limit
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 1.0
    follow_other_hosts: bool = False  # http: follow a redirect to another host (else the page fails)
    progress: bool = True

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise MisconfiguredError(f"--backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        self.workers = self.workers or DEFAULT_WORKERS[self.backend]
        if self.workers < 1:
            raise MisconfiguredError(f"--workers must be at least 1, got {self.workers}")
        if self.max_rate is not None and self.max_rate <= 0:
            raise MisconfiguredError(f"--max-rate must be positive, got {self.max_rate}")
        if self.timeout <= 0 or self.retries < 0 or self.backoff < 0:
            raise MisconfiguredError("--timeout must be positive, --retries and --backoff not negative")


@dataclass
class Outcome:
    url: str
    page: object = None  # PatentPage when scraped
    reason: str = ""  # why not, when failed
    attempts: int = 0


@dataclass
class ScrapeSummary:
    out: Path
    urls: int = 0
    done: int = 0  # rows written by this run
    skipped: int = 0  # already in <out> from an earlier run
    duplicates: int = 0  # scraped, but their publication number already had a row
    failed: Counter = field(default_factory=Counter)  # reason -> pages
    seconds: float = 0.0

    @property
    def pages_per_second(self) -> float:
        scraped = self.done + self.duplicates + sum(self.failed.values())
        return scraped / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {
            "out": str(self.out),
            "urls": self.urls,
            "done": self.done,
            "skipped": self.skipped,
            "duplicates": self.duplicates,
            "failed": sum(self.failed.values()),
            "failed_by_reason": dict(self.failed),
            "seconds": round(self.seconds, 2),
            "pages_per_second": round(self.pages_per_second, 2),
            "failures_file": str(failures_path(self.out)) if self.failed else None,
        }


def make_fetcher(config: ScrapeConfig):
    if config.backend == "browser":
        from cpc_dataset.scrape.browser import BrowserFetcher

        return BrowserFetcher(config.timeout)
    from cpc_dataset.scrape.http import HttpFetcher

    return HttpFetcher(config.workers, config.timeout, follow_other_hosts=config.follow_other_hosts)


def scrape_page(
    url: str, fetcher, policy: RetryPolicy, limiter: RateLimiter, sleep: Callable[[float], None] = time.sleep
) -> Outcome:
    """One page, tried up to ``policy.retries + 1`` times; never raises for what a page or a server does."""
    fetched = fetch_with_retries(url, fetcher, policy, limiter, sleep, log)
    attempts = fetched.attempts
    if fetched.error is not None:
        return _unexpected(url, "fetch", fetched.error, attempts)
    if fetched.response is None:
        not_found = " not found" if fetched.status in (404, 410) else ""
        return Outcome(url, reason=fetched.reason + not_found, attempts=attempts)
    try:
        return Outcome(url, page=parse_patent_page(fetched.response.text), attempts=attempts)
    except PageError as exc:
        return Outcome(url, reason=exc.reason, attempts=attempts)
    except Exception as exc:  # noqa: BLE001 - a fault no one foresaw ends this page, never the run
        return _unexpected(url, "parse", exc, attempts)


def _unexpected(url: str, stage: str, exc: Exception, attempts: int) -> Outcome:
    log.warning("%s: unexpected %s error: %s: %s", url, stage, type(exc).__name__, str(exc)[:200])
    return Outcome(url, reason=f"unexpected {stage} error ({type(exc).__name__})", attempts=attempts)


def scrape_patents(config: ScrapeConfig, fetcher=None) -> ScrapeSummary:
    """Scrape every page of ``config.urls`` not yet in ``config.out``; returns the summary."""
    from tqdm.auto import tqdm

    require_parser()
    urls = read_urls(config.urls)
    own_fetcher = fetcher is None
    fetcher = fetcher or make_fetcher(config)  # a missing extra or browser is reported before any file is touched
    try:
        output = ScrapeOutput(Path(config.out))
    except BaseException:
        if own_fetcher:
            fetcher.close()
        raise
    todo = [u for u in dict.fromkeys([*urls, *output.previous_failures]) if not output.is_done(u)]
    summary = ScrapeSummary(Path(config.out), urls=len(urls), skipped=sum(output.is_done(u) for u in urls))
    log.info(
        "%d URLs: %d done already, %d to scrape (%s backend, %d workers)",
        len(urls),
        summary.skipped,
        len(todo),
        config.backend,
        config.workers,
    )
    policy = RetryPolicy(retries=config.retries, backoff=config.backoff)
    limiter = RateLimiter(config.max_rate)
    attempted: set[str] = set()
    started = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="scrape")
    try:
        with tqdm(total=len(todo), unit="page", desc="scraping", disable=not config.progress, smoothing=0.1) as bar:
            pending = set()
            queue = iter(todo)
            window = config.workers * 2
            while True:
                for url in queue:
                    pending.add(pool.submit(scrape_page, url, fetcher, policy, limiter))
                    if len(pending) >= window:
                        break
                if not pending:
                    break
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    outcome = future.result()
                    attempted.add(outcome.url)
                    _record(outcome, output, summary)
                    bar.update(1)
                    bar.set_postfix(done=summary.done, failed=sum(summary.failed.values()), refresh=False)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        output.close(attempted)
        if own_fetcher:
            fetcher.close()
        summary.seconds = time.monotonic() - started
    return summary


def _record(outcome: Outcome, output: ScrapeOutput, summary: ScrapeSummary) -> None:
    if outcome.page is not None:
        if output.add_page(outcome.url, outcome.page):
            summary.done += 1
        else:
            summary.duplicates += 1
        return
    output.add_failure(outcome.url, outcome.reason, outcome.attempts)
    summary.failed[outcome.reason] += 1
    log.info("%s: %s (%d attempts)", outcome.url, outcome.reason, outcome.attempts)
