"""Parse one Google Patents page (server-rendered HTML with microdata) into a raw-corpus row.

What is read (see ``../shared/data/google-patents-ai/README.md``), all as properties of the page's own
top-level item, so that the rows of the citation tables (which carry ``itemprop=publicationNumber`` too)
are never mistaken for the page's patent:

- ``<dd itemprop="publicationNumber">`` - the publication number;
- ``<meta name="DC.title" content="...">`` (else the item's ``title`` property) - the title;
- ``<section itemprop="abstract">`` - the abstract (its ``itemprop="content"`` part when present);
- every ``<li itemprop="classifications" itemscope>`` node: ``Code``, ``Description``, ``Leaf``, ``IsCPC``.
  The codes kept are the leaves of CPC paths (as the original scraper kept), in page order; IPC paths are
  skipped. Every CPC node's description is kept as the code's title.

Bounded: a page with more than ``MAX_CODES`` CPC leaf codes, or an abstract or title longer than
``MAX_ABSTRACT_CHARS`` / ``MAX_TITLE_CHARS``, is refused with its reason (the largest of the corpus: 225 codes,
10,131 and 478 characters), so every cell of the raw CSV stays far below the ``csv`` module's field limit; and
parsing is linear in the page's size (an item is looked for at most ``MAX_DEPTH`` elements up; at most ``MAX_CLASSIFICATION_NODES`` nodes are read, and at most
``MAX_PROPERTY_NODES`` property nodes inside them, which bounds items nested in one another).

Text is plain: entities decoded, scripts and styles dropped, whitespace collapsed. On machine-translated pages
(CN, KR, JP ...) the original-language text that Google keeps beside each translated sentence
(``<span class="google-src-text">``, hidden in a browser) is dropped, so the abstract is the English one.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

from cpc_dataset.errors import MisconfiguredError

MAX_CODES = 1000  # CPC leaf codes per page
MAX_CLASSIFICATION_NODES = 20 * MAX_CODES  # classification nodes read (a code's path has 5 nodes or so)
MAX_PROPERTY_NODES = 5 * MAX_CLASSIFICATION_NODES  # property nodes looked at inside them (4 each on a real page)
MAX_ABSTRACT_CHARS = 50_000
MAX_TITLE_CHARS = 2_000
MAX_CODE_TITLE_CHARS = 1_000  # a code's description is cut to this
MAX_DEPTH = 256  # elements looked through for a property's item (a real page nests about 30 deep)

_NOT_TEXT = ["script", "style", "noscript", "template"]
_ORIGINAL_TEXT = ".google-src-text"  # the source-language text of a translated page (shown on hover)


class PageError(Exception):
    """The page was fetched but holds no usable row; ``reason`` goes to the failures file. Not retried."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class PatentPage:
    publication_number: str
    title: str
    abstract: str
    cpc_codes: list[str]
    code_titles: dict[str, str] = field(default_factory=dict)  # every CPC node on the page: code -> description


def plain_text(text: str | None) -> str:
    """Whitespace collapsed to single spaces, control characters dropped, stripped."""
    if not text:
        return ""
    text = " ".join(text.split())
    if text.isprintable():  # the usual case, without a Python loop over every character
        return text
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def require_parser() -> None:
    if importlib.util.find_spec("selectolax") is None:
        raise MisconfiguredError("the scraper needs selectolax: pip install 'patent-cpc[scrape]'")


def parse_patent_page(html: str) -> PatentPage:
    """The page's row; raises PageError("no abstract") or PageError("layout changed: ...")."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    tree.strip_tags(_NOT_TEXT)
    for original in tree.css(_ORIGINAL_TEXT):  # machine-translated pages keep the original beside the English
        original.decompose()
    number = _own_property_text(tree, "publicationNumber").replace(" ", "")
    if not number:
        raise PageError("layout changed: no publication number (itemprop=publicationNumber)")
    if len(number) > 40:
        raise PageError("layout changed: a publication number of more than 40 characters")
    abstract = _abstract(tree)
    if not abstract:
        raise PageError("no abstract")
    if len(abstract) > MAX_ABSTRACT_CHARS:
        raise PageError(f"abstract longer than {MAX_ABSTRACT_CHARS:,} characters")
    title_meta = tree.css_first('meta[name="DC.title"]')
    title = plain_text(title_meta.attributes.get("content")) if title_meta is not None else ""
    title = title or _own_property_text(tree, "title")
    if len(title) > MAX_TITLE_CHARS:
        raise PageError(f"title longer than {MAX_TITLE_CHARS:,} characters")
    codes, titles = _classifications(tree)
    return PatentPage(number, title, abstract, codes, titles)


class _TooDeep:
    """The owner of a node nested deeper than ``MAX_DEPTH``: no item's (walking further made parsing quadratic)."""

    mem_id = None


_TOO_DEEP = _TooDeep()


def _owner(node):
    """The item a property node belongs to: its nearest ancestor with ``itemscope`` (None: the document)."""
    parent = node.parent
    for _ in range(MAX_DEPTH):
        if parent is None or parent.tag == "-undef":
            return None
        if "itemscope" in (parent.attributes or {}):
            return parent
        parent = parent.parent
    return _TOO_DEEP


def _is_page_item(item) -> bool:
    """True for the document itself or an item that is not nested in another item (the page's patent)."""
    return item is None or (item is not _TOO_DEEP and _owner(item) is None)


def _own_properties(tree, name: str) -> list:
    return [node for node in tree.css(f'[itemprop="{name}"]') if _is_page_item(_owner(node))]


def _own_property_text(tree, name: str) -> str:
    for node in _own_properties(tree, name):
        value = node.attributes.get("content") if node.tag == "meta" else node.text(deep=True)
        if plain_text(value):
            return plain_text(value)
    return ""


def _abstract(tree) -> str:
    for section in _own_properties(tree, "abstract"):
        content = section.css_first('[itemprop="content"]')
        if content is None:
            for heading in section.css("h1, h2, h3"):
                heading.decompose()
            content = section
        text = plain_text(content.text(deep=True))
        if text:
            return text
    return ""


def _classifications(tree) -> tuple[list[str], dict[str, str]]:
    codes: dict[str, None] = {}  # an ordered set: membership in O(1) (a list made 20,000 codes quadratic)
    titles: dict[str, str] = {}
    looked_at = 0
    for n, item in enumerate(tree.css('[itemprop="classifications"]')):
        if n >= MAX_CLASSIFICATION_NODES:
            raise PageError(f"more than {MAX_CLASSIFICATION_NODES:,} classification nodes on the page")
        if "itemscope" not in (item.attributes or {}):
            continue
        props = {}
        nodes = item.css("[itemprop]")  # nested items are looked at again inside each item that holds them
        looked_at += len(nodes)
        if looked_at > MAX_PROPERTY_NODES:
            raise PageError(f"more than {MAX_PROPERTY_NODES:,} properties in classification nodes (nested items?)")
        for node in nodes:
            owner = _owner(node)
            if owner is not None and owner.mem_id == item.mem_id:
                props.setdefault(node.attributes.get("itemprop"), node)
        code = _value(props.get("Code")).replace(" ", "")
        if not code or _value(props.get("IsCPC")).lower() != "true":
            continue
        description = _value(props.get("Description"))
        if description:
            titles.setdefault(code, description[:MAX_CODE_TITLE_CHARS])
        if _value(props.get("Leaf")).lower() == "true":
            codes[code] = None
            if len(codes) > MAX_CODES:
                raise PageError(f"more than {MAX_CODES:,} CPC codes on the page")
    return list(codes), titles


def _value(node) -> str:
    if node is None:
        return ""
    if node.tag == "meta":
        return plain_text(node.attributes.get("content"))
    return plain_text(node.text(deep=True))
