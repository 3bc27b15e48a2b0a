"""The scraper's run without a network: URL sources, retries, rate limit, output files, resume."""

from __future__ import annotations

import ast
import csv
import json
import random
import threading
from pathlib import Path

import pytest

from cpc_dataset.errors import InputError
from cpc_dataset.raw import RAW_COLUMNS, RawReadStats, read_raw_file
from cpc_dataset.scrape.http import Response
from cpc_dataset.scrape.output import codes_path, failures_path, journal_path
from cpc_dataset.scrape.retry import FetchError, RateLimiter, RetryPolicy, parse_retry_after
from cpc_dataset.scrape.run import ScrapeConfig, scrape_page, scrape_patents
from cpc_dataset.scrape.urls import patent_key, read_search_csv, read_urls
from tests.conftest import REPO
from tests.fixtures.patent_pages import changed_layout_page, code_title, expected_row, patent_page

pytest.importorskip("selectolax")
pytest.importorskip("httpx")

SEARCH_SAMPLE = (
    REPO / "tests" / "fixtures" / "pages" / "gp-search-sample.csv"
)  # first 5 rows of a real export (query 4)


def _row(i: int, codes=None) -> dict:
    return {
        "publication_number": f"US{1000 + i}B2",
        "title": f"Widget  number {i} & <co>",
        "abstract": f"A widget {i} that learns.\n  It  works.",
        "cpc_codes": codes or ["G06N3/08", f"G06F{16 + i}/10"],
    }


class FakeSite:
    """A fetcher: ``script[url]`` lists what each attempt gets (a Response, or an exception); then a page."""

    def __init__(self, rows: list[dict], script: dict | None = None):
        self.rows = {f"https://patents.example/patent/{r['publication_number']}/en": r for r in rows}
        self.script = script or {}
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()

    @property
    def urls(self) -> list[str]:
        return list(self.rows)

    def fetch(self, url: str) -> Response:
        with self.lock:
            n = self.calls[url] = self.calls.get(url, 0) + 1
        steps = self.script.get(url, [])
        if n <= len(steps):
            step = steps[n - 1]
            if isinstance(step, Exception):
                raise step
            return step
        return Response(200, patent_page(self.rows[url]))

    def close(self) -> None:
        pass


def _write_urls(tmp_path: Path, urls: list[str]) -> str:
    path = tmp_path / "urls.txt"
    path.write_text("# patent pages\n\n" + "\n".join(urls) + "\n")
    return str(path)


def _rows(out: Path) -> list[dict]:
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["cpc_codes"] = ast.literal_eval(row["cpc_codes"])
    return rows


def _failures(out: Path) -> dict[str, str]:
    with failures_path(out).open(encoding="utf-8", newline="") as fh:
        return {row["url"]: row["reason"] for row in csv.DictReader(fh)}


# -- URL sources -----------------------------------------------------------------------------------------


def test_search_export_read_with_and_without_its_search_url_line(tmp_path):
    original = SEARCH_SAMPLE
    links = read_search_csv(original)
    assert links == [
        "https://patents.google.com/patent/US12299796B2/en",
        "https://patents.google.com/patent/US12412340B2/en",
        "https://patents.google.com/patent/US20230377099A1/en",
        "https://patents.google.com/patent/CN117876249A/en",
        "https://patents.google.com/patent/US20250063136A1/en",
    ]
    prefixed = tmp_path / "gp-search.csv"
    prefixed.write_text(
        "search URL:,https://patents.google.com/?q=(diffusion)\n" + original.read_text(encoding="utf-8")
    )
    assert read_search_csv(prefixed) == links


def test_url_sources_are_merged_each_patent_once(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("https://x.example/patent/US1A/en\nhttps://x.example/patent/US2A/en\n")
    b.write_text("# again, another spelling\nhttps://x.example/patent/us1a\nhttps://x.example/patent/US3A/en\n")
    assert read_urls([a, b]) == [
        "https://x.example/patent/US1A/en",
        "https://x.example/patent/US2A/en",
        "https://x.example/patent/US3A/en",
    ]
    assert patent_key("https://patents.google.com/patent/US11532378B2/en") == "US11532378B2"


def test_bad_url_sources_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("https://x.example/patent/US1A/en\nnot a url\n")
    with pytest.raises(InputError, match="line 2: not a URL"):
        read_urls([bad])
    with pytest.raises(InputError, match="does not exist"):
        read_urls([tmp_path / "missing.csv"])
    wrong = tmp_path / "raw.csv"
    wrong.write_text("publication_number,title\nUS1,x\n")
    with pytest.raises(InputError, match="not a URL"):
        read_urls([wrong])


# -- retries and rate ------------------------------------------------------------------------------------


def test_retry_after_as_seconds_or_date():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == pytest.approx(10.0)
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_backoff_doubles_with_jitter_and_honours_retry_after():
    policy = RetryPolicy(retries=5, backoff=1.0, max_backoff=8.0, rng=random.Random(0))
    for attempt, base in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0)]:
        delays = [policy.delay(attempt) for _ in range(200)]
        assert base / 2 <= min(delays) and max(delays) <= base
        assert len(set(delays)) > 100  # jittered, not one fixed value
    assert policy.delay(1, retry_after=30.0) == 30.0
    assert policy.delay(1, retry_after=10_000.0) == policy.max_retry_after


def test_rate_limiter_spaces_requests():
    clock = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        clock[0] += seconds

    limiter = RateLimiter(4.0, clock=lambda: clock[0], sleep=sleep)
    for _ in range(5):
        limiter.wait()
    assert clock[0] == pytest.approx(1.0) and len(slept) == 4
    assert RateLimiter(None).interval == 0


def _outcome(site, url, retries=3):
    slept = []
    outcome = scrape_page(url, site, RetryPolicy(retries=retries, backoff=0.01), RateLimiter(None), sleep=slept.append)
    return outcome, slept


def test_which_failures_are_retried():
    rows = [_row(i) for i in range(6)]
    urls = [f"https://patents.example/patent/{r['publication_number']}/en" for r in rows]
    site = FakeSite(
        rows,
        {
            urls[0]: [Response(404, "gone")],
            urls[1]: [Response(429, "slow down", {"retry-after": "7"})],
            urls[2]: [Response(500, "oops"), Response(503, "oops")],
            urls[3]: [FetchError("timeout")] * 10,
            urls[4]: [Response(200, patent_page(rows[4], abstract=False))],
            urls[5]: [Response(200, changed_layout_page(rows[5]))],
        },
    )
    outcome, slept = _outcome(site, urls[0])
    assert (outcome.reason, outcome.attempts, slept) == ("HTTP 404 not found", 1, [])
    outcome, slept = _outcome(site, urls[1])
    assert outcome.page.publication_number == rows[1]["publication_number"] and outcome.attempts == 2 and slept[0] >= 7
    outcome, slept = _outcome(site, urls[2])
    assert outcome.page is not None and outcome.attempts == 3 and len(slept) == 2
    outcome, slept = _outcome(site, urls[3], retries=2)
    assert (outcome.reason, outcome.attempts, len(slept)) == ("timeout", 3, 2)
    for url, reason in ((urls[4], "no abstract"), (urls[5], "layout changed")):
        outcome, slept = _outcome(site, url)
        assert reason in outcome.reason and outcome.attempts == 1 and not slept


def test_browser_backend_reads_status_and_headers_from_the_performance_log():
    from cpc_dataset.scrape.browser import document_response

    def entry(method, **params):
        return {"message": json.dumps({"message": {"method": method, "params": params}})}

    log = [
        entry("Network.requestWillBeSent", type="Document"),
        entry("Network.responseReceived", type="Document", response={"status": 301, "headers": {}}),
        entry("Network.responseReceived", type="Script", response={"status": 200, "headers": {}}),
        entry("Network.responseReceived", type="Document", response={"status": 429, "headers": {"Retry-After": "3"}}),
        {"message": "not json"},
    ]
    assert document_response(log) == (429, {"retry-after": "3"})
    with pytest.raises(FetchError, match="no response"):
        document_response(log[2:3])


# -- a whole run: output files and resume ----------------------------------------------------------------


def _config(tmp_path, urls, **kwargs) -> ScrapeConfig:
    return ScrapeConfig(
        urls=[_write_urls(tmp_path, urls)],
        out=str(tmp_path / "raw" / "scraped.csv"),
        workers=3,
        timeout=5,
        retries=2,
        backoff=0.0,
        progress=False,
        **kwargs,
    )


def test_run_writes_the_raw_format_failures_and_code_titles(tmp_path):
    rows = [_row(i) for i in range(8)]
    site = FakeSite(rows)
    site.script[site.urls[0]] = [Response(404, "gone")]
    site.script[site.urls[1]] = [FetchError("connection error (ConnectError)")] * 5
    config = _config(tmp_path, site.urls)
    summary = scrape_patents(config, fetcher=site)
    out = Path(config.out)
    assert (summary.done, summary.skipped, dict(summary.failed)) == (
        6,
        0,
        {"HTTP 404 not found": 1, "connection error (ConnectError)": 1},
    )
    written = _rows(out)
    assert sorted(written, key=lambda r: r["publication_number"]) == [expected_row(r) for r in rows[2:]]
    assert out.read_text(encoding="utf-8").splitlines()[0] == ",".join(RAW_COLUMNS)
    stats = RawReadStats()
    assert len(read_raw_file(out, stats)) == 6 and not stats.dropped  # `cpc data build` reads it unchanged
    assert _failures(out) == {site.urls[0]: "HTTP 404 not found", site.urls[1]: "connection error (ConnectError)"}
    titles = json.loads(codes_path(out).read_text(encoding="utf-8"))
    assert titles["G06N3/08"] == "Learning methods" and titles["G06F18/10"] == code_title("G06F18/10")
    assert "G06F16/10" not in titles  # only pages that were scraped (rows[0] failed)

    # the next run skips what is done and tries the failures again; fixed ones leave the failures file
    site.script.clear()
    again = scrape_patents(config, fetcher=site)
    assert (again.done, again.skipped, sum(again.failed.values())) == (2, 6, 0)
    assert len(_rows(out)) == 8 and not failures_path(out).exists()
    assert site.calls[site.urls[5]] == 1  # never fetched twice


def test_resume_repairs_a_partial_row_and_never_duplicates(tmp_path):
    rows = [_row(i) for i in range(6)]
    site = FakeSite(rows)
    config = _config(tmp_path, site.urls[:3])
    scrape_patents(config, fetcher=site)
    out = Path(config.out)
    # a run killed mid-write: a journal line whose row never made it, and half a row
    lost = rows[3]
    with journal_path(out).open("a", encoding="utf-8") as fh:
        fh.write(
            json.dumps({"url": site.urls[3], "publication_number": lost["publication_number"], "titles": {}}) + "\n"
        )
    with out.open("a", encoding="utf-8") as fh:
        fh.write(f'{rows[4]["publication_number"]},"Widget number 4')
    summary = scrape_patents(_config(tmp_path, site.urls), fetcher=site)
    assert (summary.done, summary.skipped) == (3, 3)
    numbers = [r["publication_number"] for r in _rows(out)]
    assert sorted(numbers) == sorted(r["publication_number"] for r in rows) and len(numbers) == len(set(numbers))


def test_out_that_is_not_a_raw_csv_is_refused(tmp_path):
    site = FakeSite([_row(0)])
    config = _config(tmp_path, site.urls)
    Path(config.out).parent.mkdir(parents=True)
    Path(config.out).write_text("id,title\n1,x\n")
    with pytest.raises(InputError, match="not a raw scrape CSV"):
        scrape_patents(config, fetcher=site)
    assert Path(config.out).read_text() == "id,title\n1,x\n"


def test_one_oversized_cell_never_refuses_the_file(tmp_path):
    """A row an earlier scraper wrote with a 10,000-code cell: resume and `cpc data build` skip it, read the rest."""
    rows = [_row(i) for i in range(3)]
    site = FakeSite(rows)
    config = _config(tmp_path, site.urls[:2])
    scrape_patents(config, fetcher=site)
    out = Path(config.out)
    huge = repr([f"G06N3/{i:04d}" for i in range(10_000)])  # about 150 KB, over the csv module's field limit
    with out.open("a", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerow(["US9999999B2", "Huge", "An abstract.", huge])
    stats = RawReadStats()
    # rows are written in the order the workers finish their pages
    assert sorted(r.publication_number for r in read_raw_file(out, stats)) == ["US1000B2", "US1001B2"]
    assert stats.dropped == {"unreadable CSV row": 1}
    summary = scrape_patents(_config(tmp_path, site.urls), fetcher=site)
    assert (summary.done, summary.skipped) == (1, 2)
    assert sorted(r.publication_number for r in read_raw_file(out, RawReadStats())) == [
        "US1000B2",
        "US1001B2",
        "US1002B2",
    ]


def test_journal_lines_that_are_not_entries_are_skipped_not_a_traceback(tmp_path):
    site = FakeSite([_row(i) for i in range(3)])
    config = _config(tmp_path, site.urls[:2])
    scrape_patents(config, fetcher=site)
    number = _row(0)["publication_number"]
    with journal_path(Path(config.out)).open("a", encoding="utf-8") as fh:
        fh.write(
            '5\n["a"]\n{"publication_number": "%s"}\n{"url": "u", "publication_number": "%s", "titles": 7}\n'
            % (number, number)
        )
    summary = scrape_patents(_config(tmp_path, site.urls), fetcher=site)
    assert (summary.done, summary.skipped) == (1, 2)
