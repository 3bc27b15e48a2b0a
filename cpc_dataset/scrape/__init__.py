"""The scraper: Google Patents search results (``search``) and patent pages (``run``), crash-safe and resumable.

- ``search.py``   saves each query's search export: ``search_http.py`` (default) fetches the export endpoint and
                  cuts a search by date past the 1,000-row cap (``slices.py``: the slices and their resume folder);
                  ``search_browser.py`` clicks "Download CSV" in headless Chromium; ``search_config.py`` their
                  options and summary; ``export.py`` the export's URL, CSV layout and date filters;
- ``urls.py``     reads those exports (or plain URL lists) into the patent page URLs to visit;
- ``pages.py``    parses one patent page's microdata (number, title, abstract, CPC leaf codes and titles);
- ``http.py``     fetches pages with an httpx connection pool; ``browser.py`` with one Chromium per worker;
- ``retry.py``    backoff with jitter, ``Retry-After``, the rate limit;
- ``output.py``   the append-only raw CSV, its journal, the failures file and ``<out>.codes.json``;
- ``run.py``      the parallel run that ties them together; ``cli.py`` the ``cpc scrape`` commands.

Nothing here imports selenium, httpx or selectolax at import time.
"""
