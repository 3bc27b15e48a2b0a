"""The patent page parser, on saved pages in the shape of Google Patents (tests/fixtures/pages)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cpc_dataset.scrape.pages import PageError, parse_patent_page, plain_text
from tests.fixtures.patent_pages import IPC_PATH, code_title

pytest.importorskip("selectolax")

PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "pages"


def _page(name: str) -> str:
    return (PAGES / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("number", ["US11532378B2", "US12254170B2", "CN110543639B"])
def test_saved_page_gives_the_corpus_row(number):
    expected = json.loads(_page(f"{number}.expected.json"))
    page = parse_patent_page(_page(f"{number}.html"))
    assert [page.publication_number, page.title, page.abstract, page.cpc_codes] == [
        expected["publication_number"],
        expected["title"],
        expected["abstract"],
        expected["cpc_codes"],
    ]


def test_page_number_is_the_pages_own_not_a_citations():
    html = _page("US11532378B2.html")  # saved with the citations table before the page's own number
    assert html.index('<span itemprop="publicationNumber">') < html.index('<dd itemprop="publicationNumber">')
    assert parse_patent_page(html).publication_number == "US11532378B2"


def test_leaves_of_cpc_paths_only_and_every_cpc_title():
    page = parse_patent_page(_page("US11532378B2.html"))
    assert "G06N3/00" not in page.cpc_codes and "G06N" not in page.cpc_codes  # ancestors are not codes
    assert IPC_PATH[0] not in page.cpc_codes and IPC_PATH[0] not in page.code_titles  # the IPC path is not CPC
    assert page.code_titles["G06N3/084"] == "Backpropagation, e.g. using gradient descent"
    assert page.code_titles["G"] == "PHYSICS"
    assert (
        page.code_titles["G06F16/2255"] == 'Subject matter of G06F16/2255 & its "variants" <e.g. systems>'
    )  # entities decoded
    assert set(page.cpc_codes) <= set(page.code_titles)
    assert all(page.code_titles[c] == code_title(c) for c in page.code_titles)


def test_scripts_and_numeric_entities_are_not_text():
    html = _page("US12254170B2.html")
    assert "&#8212;" in html and "<script>" in html
    page = parse_patent_page(html)
    assert "\u2014" in page.abstract + page.title
    assert "script" not in page.abstract and "__abstractSeen" not in page.abstract and "  " not in page.abstract


def test_translated_page_gives_the_english_abstract_only():
    html = _page("CN110543639B.html")
    assert 'class="google-src-text"' in html
    abstract = parse_patent_page(html).abstract
    assert abstract.startswith("The invention discloses") and not any("\u4e00" <= ch <= "\u9fff" for ch in abstract)


def test_missing_abstract_and_changed_layout_say_why():
    with pytest.raises(PageError, match="no abstract"):
        parse_patent_page(_page("no_abstract.html"))
    with pytest.raises(PageError, match="layout changed"):
        parse_patent_page(_page("changed_layout.html"))


def test_abstract_without_content_part_and_spaced_codes():
    html = """<html><head><meta name="DC.title" content="A  title &amp; more"></head><body>
    <article itemscope><dd itemprop="publicationNumber">EP 1234567 A1</dd>
    <section itemprop="abstract" itemscope><h2>Abstract</h2><p>First&nbsp;line,
       <b>bold</b>&#x20AC; end.</p></section>
    <ul itemprop="cpcs" itemscope><li itemprop="classifications" itemscope>
      <span itemprop="Code">G06N 3/08</span><span itemprop="Description">Learning methods</span>
      <meta itemprop="IsCPC" content="true"><meta itemprop="Leaf" content="true"></li>
    <li itemprop="classifications" itemscope><span itemprop="Code">H04L9/40</span>
      <meta itemprop="IsCPC" content="TRUE"><meta itemprop="Leaf" content="false"></li></ul>
    </article></body></html>"""
    page = parse_patent_page(html)
    assert page.publication_number == "EP1234567A1"
    assert page.title == "A title & more"
    assert page.abstract == "First line, bold\u20ac end."
    assert page.cpc_codes == ["G06N3/08"]
    assert page.code_titles == {"G06N3/08": "Learning methods"}


def test_plain_text_collapses_whitespace_and_drops_control_characters():
    assert plain_text(" a\n\t b\u00a0c\x00d \r\n") == "a b c d"
    assert plain_text(None) == ""
