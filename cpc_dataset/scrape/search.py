"""``cpc scrape search``: save each query's Google Patents export as ``<out>/<query-slug>.csv``.

``http`` (default, ``search_http.py``): the export endpoint over plain HTTP, searches cut by date past the cap,
resumable. ``browser`` (``search_browser.py``): clicks "Download CSV" in headless Chromium, one export per query.
"""

from __future__ import annotations

from cpc_dataset.scrape.search_config import SearchConfig, SearchSummary


def search_exports(config: SearchConfig, fetcher=None) -> SearchSummary:
    if config.backend == "browser":
        from cpc_dataset.scrape.search_browser import browser_search_exports

        return browser_search_exports(config)
    from cpc_dataset.scrape.search_http import http_search_exports

    return http_search_exports(config, fetcher)
