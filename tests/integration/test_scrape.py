"""The scraper against the fixture patent site (a real process on 127.0.0.1): http and browser backends,
real Chromium for the search export, a SIGKILL mid-run then resume, and `cpc data build` on the result."""

from __future__ import annotations

import ast
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SHARED_RAW
from tests.fixtures.ci import require_data
from tests.fixtures.patent_site import FAULTS, site_from_corpus
from tests.fixtures.processes import LOCALHOST, cpc_command, free_port, running_server
from tests.fixtures.serving import chrome

pytest.importorskip("selenium")
pytest.importorskip("selectolax")
pytest.importorskip("httpx")

pytestmark = pytest.mark.integration

FAILING = {  # fault -> reason in the failures file (429 and 500 pages succeed on a later attempt)
    "not_found": "HTTP 404 not found",
    "slow": "timeout",
    "no_abstract": "no abstract",
    "changed_layout": "layout changed: no publication number (itemprop=publicationNumber)",
}


def _need_corpus() -> None:
    require_data(SHARED_RAW, "the shared raw corpus (the fixture site builds its pages from it)")


def _site_process(tmp_path: Path, rows: int, *args: str):
    """``python -m tests.fixtures.patent_site`` on a free port; the same pages as ``site_from_corpus(rows)``."""
    _need_corpus()
    port = free_port()
    command = [sys.executable, "-m", "tests.fixtures.patent_site", "--port", str(port), "--rows", str(rows), *args]
    site = site_from_corpus(rows)
    site.base_url = f"http://{LOCALHOST}:{port}"
    return site, running_server(
        "patent-site", command, site.base_url, tmp_path / f"site-{port}.log", ready_path="/", timeout=60
    )


def _cpc(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(cpc_command("-q", *args), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["cpc_codes"] = ast.literal_eval(row["cpc_codes"])
    return sorted(rows, key=lambda r: r["publication_number"])


def _expected(site) -> list[dict]:
    return sorted(site.expected_rows(), key=lambda r: r["publication_number"])


def _failures(out: Path) -> dict[str, str]:
    with out.with_name(out.name + ".failures.csv").open(encoding="utf-8", newline="") as fh:
        return {row["url"]: row["reason"] for row in csv.DictReader(fh)}


def _expected_failures(site) -> dict[str, str]:
    return {site.url(n): FAILING[f] for n, f in site.faults.items() if f in FAILING}


def test_http_scrape_of_the_fixture_site_then_data_build(tmp_path):
    site, server = _site_process(tmp_path, 60, "--slow-s", "4")
    with server:
        urls = tmp_path / "urls.txt"
        urls.write_text("\n".join(site.urls()) + "\n")
        out = tmp_path / "raw" / "scraped.csv"
        result = _cpc(
            "scrape",
            "patents",
            "--urls",
            str(urls),
            "--out",
            str(out),
            "--timeout",
            "1",
            "--retries",
            "2",
            "--backoff",
            "0.05",
            "--json",
        )
    summary = json.loads(result.stdout)
    assert len(FAULTS) == 6
    assert (summary["done"], summary["failed"]) == (56, 4)
    assert _rows(out) == _expected(site)
    assert _failures(out) == _expected_failures(site)
    titles = json.loads(out.with_name("scraped.csv.codes.json").read_text(encoding="utf-8"))
    assert all(code in titles for row in site.expected_rows() for code in row["cpc_codes"])

    # the raw folder as the scraper left it (CSV, failures, codes.json, journal) goes through `cpc data build`
    dataset = tmp_path / "dataset"
    _cpc("data", "build", "--raw", str(out.parent), "--out", str(dataset), "--min-label-freq", "3", "--json")
    labels = json.loads((dataset / "labels.json").read_text())
    assert labels["labels"] and set(labels["titles"]) == set(labels["labels"])
    assert labels["titles"]["G06N3/08"] == "Learning methods"
    assert "| code | training documents | share | title |" in (dataset / "README.md").read_text()


def test_killed_run_resumes_without_losing_or_duplicating_rows(tmp_path):
    site, server = _site_process(tmp_path, 80, "--latency-ms", "50", "--slow-s", "2")
    with server:
        urls = tmp_path / "urls.txt"
        urls.write_text("\n".join(site.urls()) + "\n")
        out = tmp_path / "scraped.csv"
        args = (
            "scrape",
            "patents",
            "--urls",
            str(urls),
            "--out",
            str(out),
            "--workers",
            "4",
            "--max-rate",
            "20",
            "--timeout",
            "1",
            "--retries",
            "2",
            "--backoff",
            "0.05",
        )
        process = subprocess.Popen(
            cpc_command("-q", *args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and process.poll() is None:
                if out.exists() and out.read_text(encoding="utf-8").count("\n") > 25:
                    break
                time.sleep(0.05)
            assert process.poll() is None, f"the run ended before it could be killed: {process.stderr.read()[-2000:]}"
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
            process.stderr.close()
        killed_with = len(_rows(out))
        assert 0 < killed_with < len(site.expected_rows())
        result = _cpc(*args, "--json")
    summary = json.loads(result.stdout)
    rows = _rows(out)
    numbers = [r["publication_number"] for r in rows]
    assert len(numbers) == len(set(numbers)), "a row was written twice"
    assert rows == _expected(site), "a row was lost or differs"
    assert summary["skipped"] >= killed_with and summary["done"] == len(rows) - killed_with
    assert _failures(out) == _expected_failures(site)
    titles = json.loads(out.with_name("scraped.csv.codes.json").read_text(encoding="utf-8"))
    assert all(code in titles for row in rows for code in row["cpc_codes"])  # the killed run's pages' titles too
    print(f"killed with {killed_with} of {len(rows)} rows written; the resumed run wrote {summary['done']}")


def test_browser_backend_with_real_chromium(tmp_path):
    chrome().quit()  # skip (fail in CI) if Chromium is missing
    site, server = _site_process(tmp_path, 14, "--slow-s", "4")
    with server:
        urls = tmp_path / "urls.txt"
        urls.write_text("\n".join(site.urls()) + "\n")
        out = tmp_path / "scraped.csv"
        result = _cpc(
            "scrape",
            "patents",
            "--urls",
            str(urls),
            "--out",
            str(out),
            "--backend",
            "browser",
            "--workers",
            "2",
            "--timeout",
            "2",
            "--retries",
            "2",
            "--backoff",
            "0.05",
            "--json",
        )
    summary = json.loads(result.stdout)
    assert (summary["done"], summary["failed"]) == (10, 4)
    assert _rows(out) == _expected(site)
    assert _failures(out) == _expected_failures(site)


def test_search_export_with_real_chromium(tmp_path):
    chrome().quit()
    site, server = _site_process(tmp_path, 12)
    with server:
        queries = tmp_path / "queries.txt"
        queries.write_text("# two queries\nTransformer Language Model\nEdge AI Accelerator\n")
        result = _cpc(
            "scrape",
            "search",
            "--from-file",
            str(queries),
            "--out",
            str(tmp_path / "search"),
            "--base-url",
            site.base_url,
            "--timeout",
            "30",
        )
        from cpc_dataset.scrape.urls import read_search_csv

        for name in ("transformer-language-model.csv", "edge-ai-accelerator.csv"):
            path = tmp_path / "search" / name
            assert path.read_text(encoding="utf-8").startswith("search URL:,")
            assert read_search_csv(path) == site.urls()
        assert "Edge AI Accelerator: 12 results" in result.stdout
        # and the exports feed `cpc scrape patents` directly (first page: the 404, second: 429 then OK)
        out = tmp_path / "scraped.csv"
        _cpc(
            "scrape",
            "patents",
            "--urls",
            str(tmp_path / "search"),
            "--out",
            str(out),
            "--timeout",
            "10",
            "--backoff",
            "0.05",
        )
    assert (
        len(_rows(out)) == 9
    )  # 12 pages but the 404, the one without abstract and the changed layout (slow is within 10 s)


@pytest.mark.parametrize("backend", ["browser", "http"])
def test_a_failed_search_export_exits_non_zero(tmp_path, backend):
    """A page without a "Download CSV" link (browser) or without the export endpoint (http): the query is reported
    FAILED and `cpc` exits 1 (the command's ctx.exit)."""
    if backend == "browser":
        chrome().quit()
    page = tmp_path / "page"
    page.mkdir()
    (page / "index.html").write_text("<html><body><p>No results, and no download link.</p></body></html>")
    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", LOCALHOST, "--directory", str(page)]
    with running_server("page", command, f"http://{LOCALHOST}:{port}", tmp_path / "page.log"):
        result = subprocess.run(
            cpc_command("-q", "scrape", "search", "Edge AI", "--out", str(tmp_path / "search"))
            + ["--backend", backend, "--base-url", f"http://{LOCALHOST}:{port}", "--timeout", "3", "--retries", "0"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Edge AI: FAILED" in result.stderr
    assert not list((tmp_path / "search").glob("*.csv"))
