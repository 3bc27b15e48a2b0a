"""What `cpc data refresh` costs: exports/s, pages/s and build time on the fixture site, and from them how long the
project's 20 queries would take at the default rate.

The fixture site (``tests/fixtures/patent_site.py --full-text``, pages built from the shared corpus, 50 ms added to
every request) runs as its own process on 127.0.0.1 and is stopped by PID at the end. One query matching
``--results`` patents is searched with the real 1,000-row cap (so it is cut by date), its pages are scraped and the
dataset is built: the three steps `cpc data refresh` runs, timed one by one, without a rate limit (what the
machinery can do). The estimate then takes the results per query of the three real exports in
``../shared/data/google-patents-ai/search_results`` and the share of distinct patents of the shared scrape, at
the default ``--max-rate`` (whichever is slower, the rate or the measured speed, sets the time). Written to
``benchmarks/results/refresh.{md,json}``.

    .venv/bin/python benchmarks/refresh.py [--results 3500] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.processes import LOCALHOST, free_port, running_server  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "google-patents-ai"
QUERY = "method"


def rows_for(matches: int) -> int:
    from tests.fixtures.patent_pages import corpus_rows
    from tests.fixtures.search_export import query_words, row_words

    found = 0
    for n, row in enumerate(corpus_rows(SHARED / "scraped", 12 * matches), start=1):
        found += query_words(QUERY) <= row_words(row)
        if found == matches:
            return n
    raise SystemExit(f"the shared corpus has fewer than {matches} rows with {QUERY!r}")


def real_query_shape() -> dict:
    """Results per query in the real exports, and the share of distinct patents among the rows of the scrape."""
    exports = sorted((SHARED / "search_results").glob("*.csv"))
    sizes = []
    for path in exports:
        with path.open(encoding="utf-8", newline="") as fh:
            sizes.append(sum(1 for _ in csv.DictReader(fh)))
    rows, numbers = 0, set()
    for path in sorted((SHARED / "scraped").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                rows += 1
                numbers.add(row["publication_number"])
    return {
        "real_exports": len(sizes),
        "results_per_query": round(sum(sizes) / len(sizes)),
        "distinct_share": round(len(numbers) / rows, 3),
    }


def measure(base_url: str, tmp: Path) -> dict:
    from cpc_dataset.refresh import PAGES_FILE, SEARCH_FOLDER, build_from_raw
    from cpc_dataset.scrape.run import ScrapeConfig, scrape_patents
    from cpc_dataset.scrape.search import search_exports
    from cpc_dataset.scrape.search_config import SearchConfig

    raw = tmp / "raw"
    started = time.monotonic()
    searched = search_exports(
        SearchConfig([QUERY], out=str(raw / SEARCH_FOLDER), base_url=base_url, max_rate=None, progress=False)
    ).queries[QUERY]
    search_s = time.monotonic() - started
    pages = scrape_patents(
        ScrapeConfig(urls=[str(searched.file)], out=str(raw / PAGES_FILE), timeout=60, progress=False)
    )
    started = time.monotonic()
    build_from_raw(raw, tmp / "dataset", None, progress=False)
    build_s = time.monotonic() - started
    return {
        "results": searched.results,
        "exports": searched.slices,
        "capped": len(searched.capped),
        "search_seconds": round(search_s, 2),
        "exports_per_second": round(searched.slices / search_s, 2),
        "pages": pages.done,
        "page_seconds": round(pages.seconds, 2),
        "pages_per_second": round(pages.pages_per_second, 2),
        "build_seconds": round(build_s, 2),
    }


def estimate(measured: dict, shape: dict, queries: int, rate: float) -> dict:
    results = shape["results_per_query"] * queries
    exports = results * measured["exports"] / measured["results"]
    pages = results * shape["distinct_share"]
    seconds = exports / min(rate, measured["exports_per_second"]) + pages / min(rate, measured["pages_per_second"])
    return {
        "queries": queries,
        "rate": rate,
        "results": results,
        "exports": round(exports),
        "pages": round(pages),
        "hours": round(seconds / 3600, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=3500, help="patents the fixture query matches")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--rate", type=float, default=2.0, help="the default --max-rate of cpc data refresh")
    parser.add_argument("--no-save", action="store_true", help="print only; do not write benchmarks/results/")
    args = parser.parse_args()

    rows = rows_for(args.results)
    port = free_port()
    base = f"http://{LOCALHOST}:{port}"
    command = [sys.executable, "-m", "tests.fixtures.patent_site", "--port", str(port), "--rows", str(rows)]
    command += ["--full-text", "--no-faults", "--latency-ms", str(args.latency_ms)]
    load = os.getloadavg()[0]
    with (
        tempfile.TemporaryDirectory(prefix="cpc-bench-refresh-") as tmp,
        running_server("patent-site", command, base, Path(tmp) / "site.log", timeout=120),
    ):
        measured = measure(base, Path(tmp))
    shape = real_query_shape()
    guess = estimate(measured, shape, 20, args.rate)
    report = f"""| step | count | seconds | per second |
|---|---|---|---|
| search (cut by date, cap 1,000) | {measured["exports"]} exports, {measured["results"]} results | {measured["search_seconds"]} | {measured["exports_per_second"]} exports/s |
| patent pages (http, 8 workers) | {measured["pages"]} pages | {measured["page_seconds"]} | {measured["pages_per_second"]} pages/s |
| build | {measured["pages"]} rows | {measured["build_seconds"]} | |

The project's 20 queries at the default `--max-rate {args.rate:g}`: {shape["results_per_query"]} results per query (mean of
the {shape["real_exports"]} real exports in the shared data) -> {guess["results"]} results, {guess["exports"]} exports
({measured["exports"]} per {measured["results"]} results here), {guess["pages"]} distinct pages ({shape["distinct_share"]} of
the rows of the shared scrape are distinct patents): about **{guess["hours"]} hours**, set by the rate limit.

Fixture site on 127.0.0.1, {args.latency_ms:g} ms added to every request, no rate limit; one run on one machine
({os.cpu_count()} CPUs, load average {load:.1f} at the start, Python {platform.python_version()}).
"""
    print(report)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "refresh.md").write_text(report)
        data = {"latency_ms": args.latency_ms, "load_average": round(load, 2), "measured": measured}
        data.update({"real_query_shape": shape, "estimate": guess})
        (RESULTS / "refresh.json").write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
