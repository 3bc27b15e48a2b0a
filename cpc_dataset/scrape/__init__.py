"""The scraper: Google Patents search results (``search``) and patent pages (``run``), crash-safe and resumable.

- ``search.py``   drives Google Patents search in headless Chromium and saves its "Download CSV" export;
- ``urls.py``     reads those exports (or plain URL lists) into the patent page URLs to visit;
- ``pages.py``    parses one patent page's microdata (number, title, abstract, CPC leaf codes and titles);
- ``http.py``     fetches pages with an httpx connection pool; ``browser.py`` with one Chromium per worker;
- ``retry.py``    backoff with jitter, ``Retry-After``, the rate limit;
- ``output.py``   the append-only raw CSV, its journal, the failures file and ``<out>.codes.json``;
- ``run.py``      the parallel run that ties them together; ``cli.py`` the ``cpc scrape`` commands.

Nothing here imports selenium, httpx or selectolax at import time.
"""
