"""``cpc scrape search``: run Google Patents searches in headless Chromium and save each "Download CSV" export.

For each query: open ``<base>/?q=(<query>)&oq=<query>``, wait (explicitly, never a fixed sleep) until the
download link can be clicked, click it, wait until Chromium has finished writing the file, check that it is a
search export (``result link`` column), and move it to ``<out>/<query-slug>.csv``.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from cpc_dataset.errors import CpcError, InputError
from cpc_dataset.scrape.urls import read_search_csv

log = logging.getLogger(__name__)

GOOGLE_PATENTS = "https://patents.google.com"
# the export link of the results page: an <a> whose text says Download and CSV (any case)
DOWNLOAD_LINK = (
    "//a[contains(translate(normalize-space(.), 'DOWNLOADCSV', 'downloadcsv'), 'download')"
    " and contains(translate(normalize-space(.), 'CSV', 'csv'), 'csv')]"
)


def search_url(query: str, base_url: str = GOOGLE_PATENTS) -> str:
    return f"{base_url.rstrip('/')}/?" + urlencode({"q": f"({query})", "oq": query})


def query_file_name(query: str) -> str:
    """``Transformer Language Model`` -> ``transformer-language-model.csv``."""
    slug = re.sub(r"[^a-z0-9]+", "-", query.lower()).strip("-")
    if not slug:
        raise InputError(f"query {query!r} has no letters or digits to name its file after")
    return f"{slug[:100]}.csv"


def read_queries(path: Path) -> list[str]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read queries from {path}: {exc}") from None
    queries = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not queries:
        raise InputError(f"{path} holds no queries (one per line)")
    return queries


@dataclass
class SearchSummary:
    saved: dict[str, Path] = field(default_factory=dict)  # query -> file
    failed: dict[str, str] = field(default_factory=dict)  # query -> reason
    results: dict[str, int] = field(default_factory=dict)  # query -> result links in its file


def _finished_download(folder: Path):
    """The one finished file in ``folder``, or False while Chromium is still writing it."""
    files = [p for p in folder.iterdir() if p.is_file()]
    if not files or any(p.suffix in (".crdownload", ".tmp") or p.name.startswith(".") for p in files):
        return False
    return files[0]


def search_exports(
    queries: list[str], out_dir: Path, base_url: str = GOOGLE_PATENTS, timeout: float = 60.0, progress: bool = True
) -> SearchSummary:
    """Download the search export of every query into ``out_dir``; one browser for all of them."""
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
    from tqdm.auto import tqdm

    from cpc_dataset.scrape.browser import chromium_driver

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {q: query_file_name(q) for q in queries}
    summary = SearchSummary()
    with tempfile.TemporaryDirectory(prefix="cpc-search-") as tmp:
        downloads = Path(tmp)
        driver = chromium_driver(download_dir=downloads, page_load_timeout=timeout)
        try:
            for query in tqdm(queries, desc="searching", unit="query", disable=not progress):
                for leftover in downloads.iterdir():
                    leftover.unlink()
                try:
                    driver.get(search_url(query, base_url))
                    link = WebDriverWait(driver, timeout).until(EC.element_to_be_clickable((By.XPATH, DOWNLOAD_LINK)))
                    link.click()
                    file = WebDriverWait(driver, timeout, poll_frequency=0.1).until(
                        lambda _: _finished_download(downloads)
                    )
                    urls = read_search_csv(file)
                except TimeoutException:
                    summary.failed[query] = f"no download link or no file within {timeout:g} s"
                except WebDriverException as exc:
                    summary.failed[query] = f"browser error: {(exc.msg or type(exc).__name__).splitlines()[0][:200]}"
                except CpcError as exc:
                    summary.failed[query] = str(exc)
                else:
                    target = out_dir / names[query]
                    shutil.move(str(file), target)
                    summary.saved[query], summary.results[query] = target, len(urls)
                    log.info("%s: %d results -> %s", query, len(urls), target)
                    continue
                log.warning("%s: %s", query, summary.failed[query])
        finally:
            driver.quit()
    return summary
