"""``cpc scrape search --backend browser``: run each search in headless Chromium and save its "Download CSV" export.

For each query: open ``<base>/?q=(<query>)&oq=<query>`` (with the date filters asked for), wait (explicitly, never a
fixed sleep) until the download link can be clicked, click it, wait until Chromium has finished writing the file,
check that it is a search export (``result link`` column), and move it to ``<out>/<query-slug>.csv``. One export per
query: at most the site's cap of results (the http backend cuts a search by date to get past it).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from cpc_dataset.errors import CpcError
from cpc_dataset.scrape.export import date_filters, search_page_url, search_params
from cpc_dataset.scrape.search_config import QueryResult, SearchConfig, SearchSummary, query_file_name
from cpc_dataset.scrape.urls import read_search_csv

log = logging.getLogger(__name__)

# the export link of the results page: an <a> whose text says Download and CSV (any case)
DOWNLOAD_LINK = (
    "//a[contains(translate(normalize-space(.), 'DOWNLOADCSV', 'downloadcsv'), 'download')"
    " and contains(translate(normalize-space(.), 'CSV', 'csv'), 'csv')]"
)


def _finished_download(folder: Path):
    """The one finished file in ``folder``, or False while Chromium is still writing it."""
    files = [p for p in folder.iterdir() if p.is_file()]
    if not files or any(p.suffix in (".crdownload", ".tmp") or p.name.startswith(".") for p in files):
        return False
    return files[0]


def browser_search_exports(config: SearchConfig) -> SearchSummary:
    """Download the search export of every query into ``config.out``; one browser for all of them."""
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
    from tqdm.auto import tqdm

    from cpc_dataset.scrape.browser import chromium_driver

    out_dir = Path(config.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    filters = date_filters(config.date_field, config.since, config.until)
    summary = SearchSummary()
    timeout = config.timeout
    with tempfile.TemporaryDirectory(prefix="cpc-search-") as tmp:
        downloads = Path(tmp)
        driver = chromium_driver(download_dir=downloads, page_load_timeout=timeout)
        try:
            for query in tqdm(config.queries, desc="searching", unit="query", disable=not config.progress):
                result = summary.queries[query] = QueryResult(query, slices=1)
                for leftover in downloads.iterdir():
                    leftover.unlink()
                try:
                    driver.get(search_page_url(search_params(query, filters), config.base_url))
                    link = WebDriverWait(driver, timeout).until(EC.element_to_be_clickable((By.XPATH, DOWNLOAD_LINK)))
                    link.click()
                    file = WebDriverWait(driver, timeout, poll_frequency=0.1).until(
                        lambda _: _finished_download(downloads)
                    )
                    urls = read_search_csv(file)
                except TimeoutException:
                    result.failed = f"no download link or no file within {timeout:g} s"
                except WebDriverException as exc:
                    result.failed = f"browser error: {(exc.msg or type(exc).__name__).splitlines()[0][:200]}"
                except CpcError as exc:
                    result.failed = str(exc)
                else:
                    target = out_dir / query_file_name(query)
                    shutil.move(str(file), target)
                    result.file, result.results, result.new, result.fetched = target, len(urls), len(urls), 1
                    if len(urls) >= config.cap:
                        result.capped.append("the whole search (the browser backend does not cut it by date)")
                    log.info("%s: %d results -> %s", query, len(urls), target)
                    continue
                log.warning("%s: %s", query, result.failed)
        finally:
            driver.quit()
    return summary
