"""Headless Chromium (Debian's chromium + chromium-driver) for the search export and the browser backend.

``chromium_driver()`` starts one browser. ``BrowserFetcher`` keeps one browser per worker thread and reuses it
for every page that worker visits (the original started a new Chrome per URL). It reads the HTTP status and
headers of each page from Chromium's performance log, so 404, 429 (with ``Retry-After``) and 5xx are told
apart as with the http backend. Paths: ``CPC_CHROMIUM`` and ``CPC_CHROMEDRIVER`` override the Debian ones.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from cpc_dataset.errors import MisconfiguredError
from cpc_dataset.scrape.http import Response
from cpc_dataset.scrape.retry import FetchError

log = logging.getLogger(__name__)

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--window-size=1280,1000",
)


def chromium_paths() -> tuple[str, str]:
    browser = os.environ.get("CPC_CHROMIUM", CHROMIUM)
    driver = os.environ.get("CPC_CHROMEDRIVER", CHROMEDRIVER)
    missing = [p for p in (browser, driver) if not Path(p).exists()]
    if missing:
        raise MisconfiguredError(
            f"{', '.join(missing)} not found: install Debian's chromium and chromium-driver "
            "(apt-get install -y chromium chromium-driver) or set CPC_CHROMIUM / CPC_CHROMEDRIVER"
        )
    return browser, driver


def chromium_driver(
    download_dir: Path | None = None, page_load_timeout: float | None = None, performance_log: bool = False
):
    """A new headless Chromium driver (the caller quits it)."""
    import importlib.util

    if importlib.util.find_spec("selenium") is None:
        raise MisconfiguredError("the browser needs selenium: pip install 'patent-cpc[scrape]'")
    os.environ.setdefault("SE_AVOID_STATS", "true")  # selenium: no usage statistics
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in FLAGS:
        options.add_argument(flag)
    if download_dir is not None:
        options.add_experimental_option(
            "prefs",
            {
                "download.default_directory": str(download_dir),
                "download.prompt_for_download": False,
                "download.directory_upgrade": True,
                "safebrowsing.enabled": False,
            },
        )
    if performance_log:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    if download_dir is not None:
        driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)})
    if page_load_timeout:
        driver.set_page_load_timeout(page_load_timeout)
    return driver


def document_response(entries: list[dict]) -> tuple[int, dict[str, str]]:
    """Status and headers of the last document response in a performance log (after redirects)."""
    status, headers = 0, {}
    for entry in entries:
        try:
            message = json.loads(entry["message"])["message"]
        except (KeyError, TypeError, json.JSONDecodeError):
            continue
        if message.get("method") != "Network.responseReceived":
            continue
        params = message.get("params", {})
        if params.get("type") == "Document":
            response = params.get("response", {})
            status = int(response.get("status") or 0)
            headers = {k.lower(): str(v) for k, v in (response.get("headers") or {}).items()}
    if not status:
        raise FetchError("no response recorded for the page")
    return status, headers


class BrowserFetcher:
    """``fetch(url)`` -> Response, one Chromium per worker thread, reused; ``close()`` quits them all."""

    def __init__(self, timeout: float):
        chromium_paths()
        self.timeout = timeout
        self._local = threading.local()
        self._drivers: list = []
        self._lock = threading.Lock()

    def _driver(self):
        driver = getattr(self._local, "driver", None)
        if driver is None:
            driver = chromium_driver(page_load_timeout=self.timeout, performance_log=True)
            self._local.driver = driver
            with self._lock:
                self._drivers.append(driver)
        return driver

    def _discard(self, driver) -> None:
        self._local.driver = None
        with self._lock:
            if driver in self._drivers:
                self._drivers.remove(driver)
        try:
            driver.quit()
        except Exception:  # noqa: BLE001 - the browser is gone already
            pass

    def fetch(self, url: str) -> Response:
        from selenium.common.exceptions import TimeoutException, WebDriverException
        from selenium.webdriver.support.ui import WebDriverWait

        driver = self._driver()
        try:
            driver.get_log("performance")  # drop the previous page's entries
            driver.get(url)
            WebDriverWait(driver, self.timeout).until(
                lambda d: d.execute_script("return document.readyState") == "complete"
            )
            status, headers = document_response(driver.get_log("performance"))
            return Response(status, driver.page_source, headers)
        except TimeoutException:
            self._discard(driver)  # a page still loading would leak into the next one
            raise FetchError("timeout") from None
        except WebDriverException as exc:
            message = (exc.msg or str(exc)).splitlines()[0] if (exc.msg or str(exc)) else type(exc).__name__
            if "net::ERR_" in message:
                raise FetchError(f"connection error ({message[message.index('net::') :].split()[0]})") from None
            self._discard(driver)
            raise FetchError(f"browser error ({message[:120]})") from None

    def close(self) -> None:
        with self._lock:
            drivers, self._drivers = self._drivers, []
        for driver in drivers:
            try:
                driver.quit()
            except Exception:  # noqa: BLE001
                log.debug("a browser did not quit cleanly", exc_info=True)
