"""The http fetch layer against the hostile site (``tests/fixtures/hostile_site.py``, in a thread on 127.0.0.1):
every fault a site can throw is a per-page FetchError with its reason, bounded in time and memory."""

from __future__ import annotations

import gzip
import threading
import tracemalloc

import pytest

from cpc_dataset.scrape.decoding import BadEncoding, decode_body
from cpc_dataset.scrape.http import HttpFetcher
from cpc_dataset.scrape.pages import MAX_CODES, PageError, parse_patent_page
from cpc_dataset.scrape.retry import FetchError, RateLimiter, RetryPolicy, parse_retry_after
from cpc_dataset.scrape.run import scrape_page
from tests.fixtures.hostile_site import HOSTILE, HostileSite, good_row, make_server
from tests.fixtures.patent_pages import patent_page

pytest.importorskip("httpx")
pytest.importorskip("selectolax")


@pytest.fixture(scope="module")
def site():
    site = HostileSite(good=3, bomb_mb=64, trickle_s=0.2)
    server = make_server(site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site
    server.shutdown()
    server.server_close()


@pytest.fixture
def fetcher():
    fetcher = HttpFetcher(workers=2, timeout=1.5)
    yield fetcher
    fetcher.close()


def _reason(fetcher, site, number: str) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(site.url(number))
    return caught.value


@pytest.mark.parametrize("number", ["LOOP", "OTHERHOST", "FALSEGZIP", "BROTLIBOMB", "GZIPBOMB"])
def test_hostile_responses_are_failures_with_a_reason_not_retried(site, fetcher, number):
    error = _reason(fetcher, site, number)
    assert (error.reason, error.retryable) == (HOSTILE[number], False)


def test_another_host_is_followed_when_asked(site):
    fetcher = HttpFetcher(workers=1, timeout=5, follow_other_hosts=True)
    try:
        response = fetcher.fetch(site.url("OTHERHOST"))
    finally:
        fetcher.close()
    assert response.status == 200 and response.url.startswith("http://localhost:")


def test_trickled_headers_end_at_the_total_deadline(site, fetcher):
    before = site.hits["TRICKLE"]
    error = _reason(fetcher, site, "TRICKLE")
    assert (error.reason, error.retryable) == ("timeout", True)
    assert site.hits["TRICKLE"] == before + 1


def test_a_bomb_is_stopped_at_the_cap_with_memory_near_the_cap(site):
    fetcher = HttpFetcher(workers=1, timeout=30, max_bytes=2 * 2**20)
    tracemalloc.start()
    try:
        for number in ("BROTLIBOMB", "GZIPBOMB"):
            with pytest.raises(FetchError, match="larger than 2 MB"):
                fetcher.fetch(site.url(number))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        fetcher.close()
    assert peak < 4 * 2 * 2**20, f"{peak / 2**20:.0f} MB allocated to stop a bomb at 2 MB"


def test_good_pages_and_gzip_still_read(site, fetcher):
    number = next(iter(site.rows))
    page = parse_patent_page(fetcher.fetch(site.url(number)).text)
    assert page.publication_number == number


def test_gzip_members_and_layers_decode_and_lies_are_caught():
    html = patent_page(good_row(1)).encode()
    two_members = gzip.compress(html[:100]) + gzip.compress(html[100:])
    assert b"".join(decode_body([two_members[:7], two_members[7:]], ["gzip"])) == html
    assert b"".join(decode_body([gzip.compress(gzip.compress(html))], ["gzip", "gzip"])) == html
    for body, encodings, reason in [
        (html, ["gzip"], "not gzip"),
        (gzip.compress(html)[:-30], ["gzip"], "cut short"),
        (html, ["zstd"], "unsupported"),
    ]:
        with pytest.raises(BadEncoding, match=reason):
            list(decode_body([body], encodings))


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("\u00b2", None),  # str.isdigit() says yes, float() says no
        ("\u0663", None),
        ("1\u00b9", None),
        ("Mon, 99 Foo 2024 99:99:99 GMT", None),
        ("9" * 400, 1e12),  # a number too large for a float is a very long wait (the policy caps it), not inf
    ],
)
def test_unreadable_retry_after_is_ignored_not_a_crash(value, seconds):
    assert parse_retry_after(value) == seconds


def test_retry_after_squared_is_retried_then_a_failure(site, fetcher):
    outcome = scrape_page(
        site.url("RETRYAFTER"), fetcher, RetryPolicy(retries=2, backoff=0), RateLimiter(None), sleep=lambda s: None
    )
    assert (outcome.reason, outcome.attempts) == ("HTTP 429", 3)


def test_an_unforeseen_exception_is_a_failure_of_that_page_only():
    class Broken:
        def fetch(self, url):
            raise KeyError("surprise")

    outcome = scrape_page("https://x/patent/US1B2/en", Broken(), RetryPolicy(retries=3), RateLimiter(None))
    assert (outcome.reason, outcome.attempts) == ("unexpected fetch error (KeyError)", 1)


def test_many_codes_are_refused_and_parsing_stops_at_the_cap(monkeypatch):
    from cpc_dataset.scrape import pages

    reads = []
    monkeypatch.setattr(pages, "_value", lambda node, real=pages._value: reads.append(1) or real(node))
    sizes = {}
    for n in (2 * MAX_CODES, 8 * MAX_CODES):
        codes = [f"G06N{3 + i // 900}/{i % 900 + 1:02d}" for i in range(n)]
        reads.clear()
        with pytest.raises(PageError, match=f"more than {MAX_CODES:,} CPC codes"):
            parse_patent_page(patent_page(good_row(1, codes)))
        sizes[n] = len(reads)
    assert sizes[2 * MAX_CODES] == sizes[8 * MAX_CODES]  # bounded: the same work however many codes follow


def test_nested_classification_items_are_refused_not_parsed_in_quadratic_time():
    """Each item's properties are looked up in its whole subtree: items nested 3,000 deep would be read 4.5 million
    times (minutes); the budget of property nodes ends the page with its reason instead."""
    from cpc_dataset.scrape.pages import MAX_PROPERTY_NODES

    nested = "".join(
        f'<div itemprop="classifications" itemscope><span itemprop="Code">G06N3/{i}</span>'
        '<meta itemprop="IsCPC" content="true">'
        for i in range(3000)
    )
    html = patent_page(good_row(1)).replace("</body>", nested + "</div>" * 3000 + "</body>")
    with pytest.raises(PageError, match=f"more than {MAX_PROPERTY_NODES:,} properties"):
        parse_patent_page(html)
    codes = [f"G06N{3 + i // 900}/{i % 900 + 1:02d}" for i in range(MAX_CODES)]  # a flat page at the cap still reads
    assert len(parse_patent_page(patent_page(good_row(1, codes))).cpc_codes) == MAX_CODES


def test_a_property_nested_deeper_than_the_bound_is_not_the_pages():
    """Finding a property's item walks up the tree: without a bound, 8,000 nested elements took 19 s to parse."""
    from cpc_dataset.scrape.pages import MAX_DEPTH

    row = good_row(1)
    deep = '<div itemprop="publicationNumber">' * (MAX_DEPTH + 50) + "</div>" * (MAX_DEPTH + 50)
    html = patent_page(row).replace("<body>", "<body>" + deep, 1)
    assert parse_patent_page(html).publication_number == row["publication_number"]  # the page's own, further down
    hidden = "<div>" * (MAX_DEPTH + 50) + '<dd itemprop="publicationNumber">US1B2</dd>' + "</div>" * (MAX_DEPTH + 50)
    without = patent_page(row).replace('itemprop="publicationNumber"', 'itemprop="x"', 1)
    with pytest.raises(PageError, match="no publication number"):
        parse_patent_page(without.replace("<body>", "<body>" + hidden, 1))


def test_deflate_reads_whatever_the_network_chunks():
    """Whether deflate is zlib-wrapped is told from its first two bytes, which may come in two chunks."""
    import zlib

    html = patent_page(good_row(1)).encode()
    wrapped = zlib.compress(html)
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw = raw.compress(html) + raw.flush()
    for body in (wrapped, raw):
        assert b"".join(decode_body([body[:1], body[1:2], body[2:]], ["deflate"])) == html
    with pytest.raises(BadEncoding, match="cut short"):
        list(decode_body([wrapped[:1]], ["deflate"]))
