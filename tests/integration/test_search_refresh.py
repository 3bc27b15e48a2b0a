"""`cpc scrape search` (http) and `cpc data refresh` against the fixture site as a real process on 127.0.0.1:
a query matching 3,500 patents collected past the 1,000-row export cap, a SIGKILL mid-search then resume, and a
refresh end to end (search, pages, build) whose dataset folder `datasets.load_dataset` reads, then a later
refresh that fetches only the new patents."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cpc_dataset.scrape.export import publication_number, read_export
from tests.conftest import SHARED_RAW
from tests.fixtures.ci import require_data
from tests.fixtures.patent_pages import corpus_rows
from tests.fixtures.patent_site import site_from_corpus
from tests.fixtures.processes import LOCALHOST, cpc_command, free_port, running_server
from tests.fixtures.search_export import query_words, row_words

pytest.importorskip("httpx")
pytest.importorskip("selectolax")

pytestmark = pytest.mark.integration

QUERY = "method"


def _need_corpus() -> None:
    require_data(SHARED_RAW, "the shared raw corpus (the fixture site builds its pages from it)")


def _rows_for(matches: int, query: str = QUERY) -> int:
    """How many corpus rows the site must hold for ``query`` to match exactly ``matches`` of them."""
    found = 0
    for n, row in enumerate(corpus_rows(SHARED_RAW, 12 * matches), start=1):
        found += query_words(query) <= row_words(row)
        if found == matches:
            return n
    pytest.fail(f"the shared corpus has fewer than {matches} rows with {query!r}")


def _site_process(tmp_path: Path, rows: int, *args: str):
    _need_corpus()
    port = free_port()
    command = [sys.executable, "-m", "tests.fixtures.patent_site", "--port", str(port), "--rows", str(rows)]
    command += ["--full-text", *args]
    site = site_from_corpus(rows, full_text=True)
    site.base_url = f"http://{LOCALHOST}:{port}"
    log = tmp_path / f"site-{port}.log"
    return site, running_server("patent-site", command, site.base_url, log, ready_path="/", timeout=60)


def _cpc(*args: str, timeout: float = 300) -> dict:
    result = subprocess.run(cpc_command("-q", *args), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def _numbers(path: Path) -> list[str]:
    return [publication_number(r) for r in read_export(path).records()]


def test_3500_results_past_the_cap_then_a_killed_search_resumes(tmp_path):
    site, server = _site_process(tmp_path, _rows_for(3500), "--no-faults")
    expected = {r["publication_number"] for r in site.rows if query_words(QUERY) <= row_words(r)}
    assert len(expected) == 3500
    out = tmp_path / "search"
    args = ("scrape", "search", QUERY, "--out", str(out), "--base-url", site.base_url, "--json")
    with server:
        # a search slowed to 5 exports/s, killed once it has saved three slices
        process = subprocess.Popen(
            cpc_command("-q", *args, "--max-rate", "5"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        slices = out / f"{QUERY}.slices"
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and process.poll() is None:
                if slices.is_dir() and len(list(slices.glob("*.csv"))) >= 3:
                    break
                time.sleep(0.05)
            assert process.poll() is None, (
                f"the search ended before it could be killed: {process.stderr.read()[-2000:]}"
            )
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
            process.stderr.close()
        saved = len(list(slices.glob("*.csv")))
        assert saved >= 3 and not (out / f"{QUERY}.csv").exists()

        resumed = _cpc(*args, "--max-rate", "1000")[QUERY]
        numbers = _numbers(out / f"{QUERY}.csv")
        assert len(numbers) == len(set(numbers)), "a patent is listed twice"
        assert set(numbers) == expected
        assert resumed["results"] == 3500 and resumed["capped_slices"] == []
        assert resumed["reused"] == saved and resumed["fetched"] == resumed["slices"] - saved
        assert resumed["slices"] > 3500 // 1000
        assert not slices.exists()

        again = _cpc(*args, "--max-rate", "1000")[QUERY]
    assert (again["results"], again["new"], again["reused"]) == (3500, 0, 0)
    assert _numbers(out / f"{QUERY}.csv") == numbers


def _dataset_numbers(folder: Path) -> set[str]:
    import pyarrow.parquet as pq

    numbers = set()
    for path in (folder / "data").glob("*.parquet"):
        for row in pq.read_table(path, columns=["publication_number", "other_publication_numbers"]).to_pylist():
            numbers.update([row["publication_number"], *row["other_publication_numbers"]])
    return numbers


def _expected_numbers(site, queries: list[str], with_codes: bool = True) -> set[str]:
    """Patents the queries match whose pages scrape well (and carry codes: what the build keeps)."""
    good = {r["publication_number"] for r in site.expected_rows() if r["cpc_codes"] or not with_codes}
    return {
        r["publication_number"]
        for r in site.rows
        if r["publication_number"] in good and any(query_words(q) <= row_words(r) for q in queries)
    }


def test_refresh_end_to_end_then_a_later_refresh_fetches_only_new_patents(tmp_path):
    import datasets

    queries = ["method", "neural network"]
    queries_file = tmp_path / "queries.txt"
    queries_file.write_text("# two queries\n" + "\n".join(queries) + "\n")
    dataset, raw = tmp_path / "dataset", tmp_path / "raw"
    args = [
        "data",
        "refresh",
        str(queries_file),
        "--out",
        str(dataset),
        "--raw",
        str(raw),
        "--export-cap",
        "50",
        "--max-rate",
        "1000",
        "--timeout",
        "1",
        "--retries",
        "2",
        "--backoff",
        "0.05",
        "--min-label-freq",
        "2",
        "--json",
    ]
    site, server = _site_process(tmp_path, 300, "--cap", "50", "--slow-s", "2")
    with server:
        first = _cpc(*args, "--base-url", site.base_url)
    expected = _expected_numbers(site, queries)
    searched = first["search"]
    assert first["built"] and not any(q["failed"] for q in searched.values())
    assert searched["method"]["slices"] > 1 and searched["method"]["results"] > 50  # cut past the cap
    assert _dataset_numbers(dataset) == expected
    scraped = _expected_numbers(site, queries, with_codes=False)
    assert first["pages"]["done"] == first["changes"]["new_patents"] == len(scraped)
    ds = datasets.load_dataset(str(dataset), cache_dir=str(tmp_path / "hf-cache"))
    sizes = first["changes"]["split_sizes"]
    assert {s: len(ds[s]) for s in ds} == {s: v["after"] for s, v in sizes.items()}
    assert all(v["before"] == 0 for v in sizes.values()) and first["changes"]["new_labels"]
    assert ds["train"].features["labels"].feature.names == json.loads((dataset / "labels.json").read_text())["labels"]

    grown, server = _site_process(tmp_path, 400, "--cap", "50", "--slow-s", "2")
    with server:
        later = _cpc(*args, "--base-url", grown.base_url)
    now = _expected_numbers(grown, queries)
    assert _dataset_numbers(dataset) == now and now > expected
    pages = later["pages"]
    assert pages["skipped"] == len(scraped)  # not fetched again
    assert pages["done"] == later["changes"]["new_patents"] == len(_expected_numbers(grown, queries, False) - scraped)
    changes = later["changes"]
    assert changes["documents"]["before"] == first["changes"]["documents"]["after"] < changes["documents"]["after"]
    assert {s: v["before"] for s, v in changes["split_sizes"].items()} == {s: v["after"] for s, v in sizes.items()}


def test_a_failed_search_leaves_the_dataset_alone_and_says_so(tmp_path):
    queries = tmp_path / "queries.txt"
    queries.write_text("Edge AI\n")
    nowhere = f"http://{LOCALHOST}:{free_port()}"  # nothing listens there
    args = ["data", "refresh", str(queries), "--out", str(tmp_path / "dataset"), "--raw", str(tmp_path / "raw")]
    args += ["--base-url", nowhere, "--retries", "0", "--timeout", "5", "--json"]
    result = subprocess.run(cpc_command("-q", *args), capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Refresh incomplete: the search of Edge AI failed" in result.stderr
    report = json.loads(result.stdout)
    assert not report["built"] and "connection error" in report["search"]["Edge AI"]["failed"]
    assert not (tmp_path / "dataset").exists()


def test_a_refresh_killed_among_the_pages_resumes_to_the_same_dataset(tmp_path):
    import csv

    queries_file = tmp_path / "queries.txt"
    queries_file.write_text("method\n")
    dataset, raw = tmp_path / "dataset", tmp_path / "raw"
    args = ["data", "refresh", str(queries_file), "--out", str(dataset), "--raw", str(raw), "--export-cap", "50"]
    args += ["--timeout", "1", "--retries", "2", "--backoff", "0.05", "--min-label-freq", "2", "--json"]
    site, server = _site_process(tmp_path, 300, "--cap", "50", "--slow-s", "2", "--latency-ms", "20")
    pages = raw / "patents.csv"
    with server:
        process = subprocess.Popen(
            cpc_command("-q", *args, "--base-url", site.base_url, "--max-rate", "40"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and process.poll() is None:
                if pages.exists() and pages.read_text(encoding="utf-8").count("\n") > 30:
                    break
                time.sleep(0.05)
            assert process.poll() is None, (
                f"the refresh ended before it could be killed: {process.stderr.read()[-2000:]}"
            )
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
            process.stderr.close()
        assert not dataset.exists()
        report = _cpc(*args, "--base-url", site.base_url, "--max-rate", "1000")
    assert report["built"] and report["pages"]["skipped"] > 0
    with pages.open(encoding="utf-8", newline="") as fh:
        numbers = [row["publication_number"] for row in csv.DictReader(fh)]
    assert len(numbers) == len(set(numbers)) == len(_expected_numbers(site, ["method"], with_codes=False))
    assert _dataset_numbers(dataset) == _expected_numbers(site, ["method"])
