"""The http search without a network: the fixture site's export answered in-process, cut by date past the cap."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qs, parse_qsl, urlparse

import pytest

from cpc_dataset.errors import MisconfiguredError
from cpc_dataset.scrape.export import (
    date_filters,
    export_url,
    parse_export,
    publication_number,
    read_export,
    search_params,
)
from cpc_dataset.scrape.http import Response
from cpc_dataset.scrape.retry import FetchError, RateLimiter, RetryPolicy
from cpc_dataset.scrape.search import search_exports
from cpc_dataset.scrape.search_config import SearchConfig
from cpc_dataset.scrape.search_http import SliceFailed, fetch_export
from cpc_dataset.scrape.slices import EARLIEST, Slice
from cpc_dataset.scrape.urls import read_search_csv
from tests.fixtures.patent_site import PatentSite

BASE = "https://patents.example"


def _rows(n: int, start: int = 0, word: str = "widget") -> list[dict]:
    return [
        {
            "publication_number": f"US{10000 + i}B2",
            "title": f"A {word} number {i}",
            "abstract": f"The {word} {i} learns, and works.",
            "cpc_codes": ["G06N3/08"],
        }
        for i in range(start, start + n)
    ]


class ExportSite:
    """A fetcher answering the fixture site's export in-process; ``fail_after`` exports then HTTP 403."""

    def __init__(self, site: PatentSite, fail_after: int | None = None):
        self.site = site
        site.base_url = BASE
        self.fail_after = fail_after
        self.exports: list[list[tuple[str, str]]] = []

    def fetch(self, url: str) -> Response:
        params = parse_qs(urlparse(url).query, keep_blank_values=True)
        assert urlparse(url).path == "/xhr/query" and params["download"] == ["true"] and params["exp"] == [""]
        if self.fail_after is not None and len(self.exports) >= self.fail_after:
            return Response(403, "<html>Forbidden</html>")
        inner = params["url"][0]
        self.exports.append(parse_qsl(inner))
        return Response(200, self.site.export_csv(inner))

    def close(self) -> None:
        pass


def _config(tmp_path, queries=("widget",), **kwargs) -> SearchConfig:
    kwargs.setdefault("max_rate", None)
    return SearchConfig(list(queries), out=str(tmp_path / "search"), base_url=BASE, progress=False, **kwargs)


def _numbers(path) -> list[str]:
    return [publication_number(r) for r in read_export(path).records()]


def test_a_search_past_the_cap_is_cut_by_date_until_every_slice_is_below_it(tmp_path):
    site = PatentSite(_rows(130) + _rows(40, start=500, word="gadget"), full_text=True, cap=10)
    fetcher = ExportSite(site)
    result = search_exports(_config(tmp_path, cap=10), fetcher).queries["widget"]
    numbers = _numbers(result.file)
    assert sorted(numbers) == sorted(r["publication_number"] for r in _rows(130))  # all, and only the matches
    assert len(numbers) == len(set(numbers))
    assert result.results == result.new == 130 and not result.capped and not result.failed
    assert result.slices == result.fetched == len(fetcher.exports) > 130 // 10
    first_line = result.file.read_text(encoding="utf-8").splitlines()[0]
    assert first_line.startswith("search URL:,") and "q=%28widget%29" in first_line
    assert read_search_csv(result.file) == [site.url(n) for n in numbers]  # what `cpc scrape patents` reads
    assert not (tmp_path / "search" / "widget.slices").exists()


def test_slices_are_asked_with_the_date_field_and_both_days_included(tmp_path):
    site = PatentSite(_rows(30), full_text=True, cap=10)
    fetcher = ExportSite(site)
    search_exports(_config(tmp_path, cap=10, date_field="filing", since="2001-01-01"), fetcher)
    first, *cut = fetcher.exports
    assert dict(first) == {"q": "(widget)", "oq": "widget", "after": "filing:20010101"}
    assert all(dict(p)["after"].startswith("filing:") and dict(p)["before"].startswith("filing:") for p in cut)
    days = sorted((dict(p)["after"][7:], dict(p)["before"][7:]) for p in cut)
    # sibling slices meet without a gap or an overlap: each starts the day after the one before it ends
    leaves = [d for d in days if not any(o != d and o[0] >= d[0] and o[1] <= d[1] for o in days)]
    for (_, end), (start, _) in zip(leaves, leaves[1:]):
        assert (
            date.fromisoformat(f"{start[:4]}-{start[4:6]}-{start[6:]}")
            - date.fromisoformat(f"{end[:4]}-{end[4:6]}-{end[6:]}")
        ).days == 1


def test_a_day_still_at_the_cap_is_reported_and_the_rest_collected(tmp_path):
    rows = _rows(40)
    crowded = {r["publication_number"]: date(2020, 5, 4) for r in rows[:15]}
    site = PatentSite(rows, full_text=True, cap=10, dates=crowded)
    result = search_exports(_config(tmp_path, cap=10), ExportSite(site)).queries["widget"]
    assert result.capped == ["priority 2020-05-04: 10 rows, the cap"]
    numbers = set(_numbers(result.file))
    assert {r["publication_number"] for r in rows[15:]} <= numbers  # every other day complete
    assert len(numbers & set(crowded)) >= 10


def test_an_interrupted_search_resumes_from_its_saved_slices(tmp_path):
    site = PatentSite(_rows(100), full_text=True, cap=10)
    broken = ExportSite(site, fail_after=5)
    first = search_exports(_config(tmp_path, cap=10), broken).queries["widget"]
    assert first.failed.endswith("HTTP 403") and first.file is None and first.fetched == 5
    assert not (tmp_path / "search" / "widget.csv").exists()

    fetcher = ExportSite(site)
    second = search_exports(_config(tmp_path, cap=10), fetcher).queries["widget"]
    assert second.reused == 5 and second.fetched == len(fetcher.exports) == second.slices - 5
    assert sorted(_numbers(second.file)) == sorted(r["publication_number"] for r in _rows(100))
    # the same slices, in the same order, as a search that was never interrupted
    clean = ExportSite(site)
    search_exports(_config(tmp_path / "clean", cap=10), clean)
    assert broken.exports + fetcher.exports == clean.exports


def test_saved_slices_of_another_search_are_not_used(tmp_path):
    site = PatentSite(_rows(60), full_text=True, cap=10)
    search_exports(_config(tmp_path, cap=10), ExportSite(site, fail_after=3))
    fetcher = ExportSite(site)
    result = search_exports(_config(tmp_path, cap=10, since="2010-01-01"), fetcher).queries["widget"]
    assert result.reused == 0 and dict(fetcher.exports[0])["after"] == "priority:20100101"


def test_a_later_search_adds_only_what_is_new(tmp_path):
    site = PatentSite(_rows(50), full_text=True, cap=10)
    first = _numbers(search_exports(_config(tmp_path, cap=10), ExportSite(site)).queries["widget"].file)
    again = search_exports(_config(tmp_path, cap=10), ExportSite(site)).queries["widget"]
    assert (again.results, again.new) == (50, 0) and _numbers(again.file) == first
    grown = PatentSite(_rows(50) + _rows(20, start=50), full_text=True, cap=10)
    later = search_exports(_config(tmp_path, cap=10), ExportSite(grown)).queries["widget"]
    numbers = _numbers(later.file)
    assert (later.results, later.new) == (70, 20) and len(numbers) == len(set(numbers)) == 70
    assert numbers[:50] == first  # the rows it had first, as they were


def test_one_failing_query_does_not_stop_the_others(tmp_path):
    site = PatentSite(_rows(5) + _rows(5, start=5, word="gadget"), full_text=True)

    class OneBlocked(ExportSite):
        def fetch(self, url):
            return Response(200, "<html>unusual traffic</html>") if "gadget" in url else super().fetch(url)

    summary = search_exports(_config(tmp_path, queries=("widget", "gadget")), OneBlocked(site))
    assert list(summary.failed) == ["gadget"] and "not a search export" in summary.failed["gadget"]
    assert summary.saved["widget"].exists() and summary.queries["widget"].results == 5


class Script:
    def __init__(self, *steps):
        self.steps = list(steps)
        self.calls = 0

    def fetch(self, url):
        step = self.steps[min(self.calls, len(self.steps) - 1)]
        self.calls += 1
        if isinstance(step, Exception):
            raise step
        return step


EXPORT = "search URL:,x\nid,title,result link\nUS-1-B2,t,https://patents.example/patent/US1B2/en\n"


def test_fetch_export_retries_what_is_worth_retrying_and_honours_retry_after():
    waits: list[float] = []
    fetcher = Script(FetchError("timeout"), Response(429, "", {"retry-after": "7"}), Response(200, EXPORT))
    export = fetch_export("u", fetcher, RetryPolicy(retries=3, backoff=0.01), RateLimiter(None), waits.append)
    assert [r for r in export.records()][0]["id"] == "US-1-B2" and fetcher.calls == 3
    assert waits[1] >= 7  # Retry-After
    for status in (404, 403):
        with pytest.raises(SliceFailed, match=f"HTTP {status}"):
            fetch_export("u", Script(Response(status, "")), RetryPolicy(retries=3), RateLimiter(None), waits.append)
    with pytest.raises(SliceFailed, match="unexpected fetch error \\(KeyError\\)"):
        fetch_export("u", Script(KeyError("x")), RetryPolicy(retries=3), RateLimiter(None), waits.append)
    with pytest.raises(SliceFailed, match=r"HTTP 503 \(3 attempts\)"):
        fetch_export("u", Script(Response(503, "")), RetryPolicy(retries=2, backoff=0), RateLimiter(None), waits.append)


def test_export_url_and_parsing_mirror_the_real_export():
    url = export_url(search_params("Edge AI", date_filters("priority", date(2020, 1, 1), date(2020, 12, 31))))
    query = parse_qs(urlparse(url).query, keep_blank_values=True)
    assert urlparse(url).path == "/xhr/query" and query["exp"] == [""] and query["download"] == ["true"]
    assert parse_qsl(query["url"][0]) == [
        ("q", "(Edge AI)"),
        ("oq", "Edge AI"),
        ("after", "priority:20200101"),
        ("before", "priority:20201231"),
    ]
    export = parse_export('\ufeffsearch URL:,https://x/?q=a\nID,Title,Result Link\n"US-1-B2","a, b",l\n\n')
    assert export.search_url == "https://x/?q=a" and export.header == ["id", "title", "result link"]
    assert export.rows == [["US-1-B2", "a, b", "l"]] and publication_number(export.records()[0]) == "US1B2"


def test_slice_halves_cover_the_range_once():
    first, second = Slice(date(2020, 1, 1), date(2020, 1, 4)).halves(date(2030, 1, 1))
    assert (first, second) == (Slice(date(2020, 1, 1), date(2020, 1, 2)), Slice(date(2020, 1, 3), date(2020, 1, 4)))
    first, second = Slice(None, date(2020, 1, 2)).halves(date(2030, 1, 1))
    assert first.lo == EARLIEST and second.hi == date(2020, 1, 2)
    assert (second.lo - first.hi).days == 1
    with pytest.raises(ValueError):
        Slice(date(2020, 1, 1), date(2020, 1, 1)).halves(date(2030, 1, 1))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"since": "2020-13-01"}, "--since must be a date"),
        ({"since": "2021-01-01", "until": "2020-01-01"}, "is after --until"),
        ({"date_field": "grant"}, "--date-field must be one of"),
        ({"max_rate": 0}, "--max-rate must be positive"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, kwargs, message):
    with pytest.raises(MisconfiguredError, match=message):
        _config(tmp_path, **kwargs)


def test_queries_that_would_share_a_file_are_refused(tmp_path):
    with pytest.raises(MisconfiguredError, match="share a file"):
        _config(tmp_path, queries=("Edge AI", "edge-ai"))


@pytest.mark.parametrize("plan", ['{"query": "widget"}', "[1]", "null", "{}"])
def test_an_unreadable_saved_plan_starts_the_search_again(tmp_path, plan):
    import json

    site = PatentSite(_rows(30), full_text=True, cap=10)
    search_exports(_config(tmp_path, cap=10), ExportSite(site, fail_after=2))
    saved = tmp_path / "search" / "widget.slices" / "search.json"
    if plan == "{}":  # the same search, but the day it cut an open end at is not a day
        plan = json.dumps({**json.loads(saved.read_text()), "cut_until": "someday"})
    saved.write_text(plan)
    result = search_exports(_config(tmp_path, cap=10), ExportSite(site)).queries["widget"]
    assert result.reused == 0 and result.results == 30 and not result.failed
