"""Pages per second from the fixture patent site with 50 ms of simulated latency per page, in one run:

1. the original's way: a new Chromium for every URL, 4 processes (its fixed sleeps left out, which flatters it);
2. ``cpc scrape patents --backend browser --workers 4`` (one Chromium per worker, reused);
3. ``cpc scrape patents --backend http --workers 8`` (httpx connection pool + selectolax).

The site (``tests/fixtures/patent_site.py``, pages built from the shared corpus, no faulty pages) runs as its own
process on 127.0.0.1 and is stopped by PID at the end. Printed as pages/s and as ratios to the original's way;
written to ``benchmarks/results/scrape.{md,json}``.

    .venv/bin/python benchmarks/scrape.py [--original-pages 24] [--browser-pages 80] [--http-pages 400]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.processes import LOCALHOST, free_port, running_server  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _original_one(url: str) -> bool:
    """What the original scraper did for each URL: start a browser, load the page, read it, quit."""
    from selenium.webdriver.support.ui import WebDriverWait

    from cpc_dataset.scrape.browser import chromium_driver
    from cpc_dataset.scrape.pages import PageError, parse_patent_page

    driver = chromium_driver(page_load_timeout=60)
    try:
        driver.get(url)
        WebDriverWait(driver, 60).until(lambda d: d.execute_script("return document.readyState") == "complete")
        try:
            return bool(parse_patent_page(driver.page_source).abstract)
        except PageError:
            return False
    finally:
        driver.quit()


def original_way(urls: list[str], processes: int = 4) -> dict:
    started = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        ok = sum(pool.map(_original_one, urls, chunksize=1))
    seconds = time.monotonic() - started
    return {
        "pages": len(urls),
        "ok": ok,
        "seconds": round(seconds, 2),
        "pages_per_second": round(len(urls) / seconds, 2),
    }


def backend(urls: list[str], name: str, workers: int, tmp: Path) -> dict:
    from cpc_dataset.scrape.run import ScrapeConfig, scrape_patents

    url_file = tmp / f"{name}-urls.txt"
    url_file.write_text("\n".join(urls) + "\n")
    started = time.monotonic()
    summary = scrape_patents(
        ScrapeConfig(
            urls=[str(url_file)],
            out=str(tmp / f"{name}.csv"),
            backend=name,
            workers=workers,
            timeout=60,
            progress=False,
        )
    )
    seconds = time.monotonic() - started  # browser start-up included
    return {
        "pages": len(urls),
        "ok": summary.done,
        "seconds": round(seconds, 2),
        "pages_per_second": round(len(urls) / seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--original-pages", type=int, default=24)
    parser.add_argument("--browser-pages", type=int, default=80)
    parser.add_argument("--http-pages", type=int, default=400)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--no-save", action="store_true", help="print only; do not write benchmarks/results/")
    args = parser.parse_args()

    from tests.fixtures.patent_site import site_from_corpus

    n = max(args.original_pages, args.browser_pages, args.http_pages)
    port = free_port()
    base = f"http://{LOCALHOST}:{port}"
    site = site_from_corpus(n)
    site.base_url = base
    urls = site.urls()
    command = [
        sys.executable,
        "-m",
        "tests.fixtures.patent_site",
        "--port",
        str(port),
        "--rows",
        str(n),
        "--latency-ms",
        str(args.latency_ms),
        "--no-faults",
    ]
    results = {}
    load = os.getloadavg()[0]
    with (
        tempfile.TemporaryDirectory(prefix="cpc-bench-scrape-") as tmp,
        running_server("patent-site", command, base, Path(tmp) / "site.log", timeout=60),
    ):
        # distinct pages for each contender, so that no one reads what another warmed up
        results["http backend, 8 workers"] = backend(urls[: args.http_pages], "http", 8, Path(tmp))
        results["browser backend, 4 workers"] = backend(urls[: args.browser_pages], "browser", 4, Path(tmp))
        results["original: new browser per URL, 4 processes"] = original_way(urls[: args.original_pages])
    base_rate = results["original: new browser per URL, 4 processes"]["pages_per_second"]
    for value in results.values():
        value["x_original"] = round(value["pages_per_second"] / base_rate, 1)
    lines = ["| contender | pages | pages/s | × original |", "|---|---|---|---|"]
    for name in ("original: new browser per URL, 4 processes", "browser backend, 4 workers", "http backend, 8 workers"):
        r = results[name]
        lines.append(f"| {name} | {r['pages']} ({r['ok']} ok) | {r['pages_per_second']} | {r['x_original']}× |")
    note = (
        f"\nFixture site on 127.0.0.1, {args.latency_ms:g} ms added to every page; one run on one machine "
        f"({os.cpu_count()} CPUs, load average {load:.1f} at the start, Python {platform.python_version()}). "
        "Browser start-up counted.\n"
    )
    report = "\n".join(lines) + "\n" + note
    print(report)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "scrape.md").write_text(report)
        (RESULTS / "scrape.json").write_text(
            json.dumps({"latency_ms": args.latency_ms, "load_average": round(load, 2), "results": results}, indent=2)
            + "\n"
        )


if __name__ == "__main__":
    main()
