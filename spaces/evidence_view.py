"""HTML for the evidence behind a prediction (the Space's result panel): scope and back-off notes, codes with
titles and calibrated probabilities, the input with each code's terms highlighted, the CPC levels as a tree and
the similar training patents linked to Google Patents. Every value from the input, the model or the dataset is
HTML-escaped; nothing here runs script."""

from __future__ import annotations

import re
from html import escape

LEVEL_ORDER = ("section", "subclass", "main_group", "subgroup")
STYLE = """<style>
.cpc-ev { font-size: .95rem; line-height: 1.45; }
.cpc-ev .scope { background: #fef3c7; border: 1px solid #f59e0b; color: #78350f; padding: .5rem .7rem; border-radius: .3rem; }
.cpc-ev .backoff { background: #eff6ff; border: 1px solid #93c5fd; color: #1e3a8a; padding: .5rem .7rem; border-radius: .3rem; }
.cpc-ev mark { background: #fde68a; padding: 0 .1rem; border-radius: .15rem; }
.cpc-ev table { border-collapse: collapse; width: 100%; }
.cpc-ev td, .cpc-ev th { padding: .2rem .4rem; text-align: left; vertical-align: top; border-bottom: 1px solid #e5e7eb; }
.cpc-ev code { white-space: nowrap; }
.cpc-ev .tree ul { margin: 0; padding-left: 1.2rem; }
.cpc-ev .below { color: #6b7280; }
</style>"""


def _terms(prediction) -> dict[str, list[str]]:
    """term -> codes it supports, over every decided code's explanation."""
    out: dict[str, list[str]] = {}
    for code, why in (prediction.explanations or {}).items():
        for t in why.get("terms", []):
            out.setdefault(t["term"], []).append(code)
    return out


def term_pattern(term: str) -> re.Pattern:
    """A TF-IDF term (one or two lower-cased words) as it may appear in the text: any case, any separator."""
    words = [re.escape(w) for w in term.split()]
    return re.compile(r"(?<!\w)" + r"[\W_]+".join(words) + r"(?!\w)", re.IGNORECASE)


def highlight(text: str, terms: dict[str, list[str]]) -> str:
    """The text, escaped, with every occurrence of the terms in <mark> (longest match wins where they overlap)."""
    spans = []
    for term, codes in terms.items():
        for m in term_pattern(term).finditer(text):
            spans.append((m.start(), m.end(), term, codes))
    spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
    out, pos = [], 0
    for start, end, term, codes in spans:
        if start < pos:
            continue
        out.append(escape(text[pos:start]))
        tip = f"{term}: {', '.join(codes)}"
        out.append(f'<mark title="{escape(tip, quote=True)}">{escape(text[start:end])}</mark>')
        pos = end
    out.append(escape(text[pos:]))
    return "".join(out)


def _title(titles: dict, code: str) -> str:
    return f" {escape(titles[code])}" if code in titles else ""


def level_tree(prediction) -> str:
    """Nested lists: section > subclass > main group > subgroup, each with its own score (decided ones only)."""
    levels = prediction.levels or {}
    titles = prediction.titles or {}
    nodes: dict[str, dict] = {}
    for level in LEVEL_ORDER:
        for c in levels.get(level, []):
            nodes[c.code] = {"level": level, "score": c.score, "children": []}
    parents = {
        "subgroup": ("main_group", lambda c: c.split("/")[0] + "/00"),
        "main_group": ("subclass", lambda c: c[:4]),
        "subclass": ("section", lambda c: c[:1]),
    }
    roots = []
    for code, node in nodes.items():
        parent = None
        if node["level"] in parents:
            candidate = parents[node["level"]][1](code)
            parent = candidate if candidate in nodes and candidate != code else None
        (nodes[parent]["children"] if parent else roots).append(code)

    def render(code: str) -> str:
        node = nodes[code]
        name = node["level"].replace("_", " ")
        kids = "".join(render(k) for k in sorted(nodes[code]["children"], key=lambda k: -nodes[k]["score"]))
        return (
            f'<li data-level="{escape(node["level"])}"><code>{escape(code)}</code> {name} {node["score"]:.2f}{_title(titles, code)}'
            + (f"<ul>{kids}</ul>" if kids else "")
            + "</li>"
        )

    if not roots:
        return "<p>No CPC level is above its threshold.</p>"
    return (
        '<div class="tree" id="level-tree"><ul>'
        + "".join(render(r) for r in sorted(roots, key=lambda r: -nodes[r]["score"]))
        + "</ul></div>"
    )


def neighbour_table(prediction) -> str:
    if not prediction.neighbours:
        return ""
    rows = []
    for n in prediction.neighbours:
        number = escape(n.get("publication_number", ""))
        link = (
            f'<a href="{escape(n.get("url", ""), quote=True)}" target="_blank" rel="noopener noreferrer">{number}</a>'
            if n.get("url")
            else number
        )
        codes = ", ".join(escape(c) for c in n.get("codes", [])[:8]) + (", …" if len(n.get("codes", [])) > 8 else "")
        rows.append(
            f"<tr><td>{link}</td><td>{escape(n.get('title', ''))}</td><td>{codes}</td><td>{float(n.get('similarity', 0)):.2f}</td></tr>"
        )
    return (
        '<table id="neighbours"><thead><tr><th>publication</th><th>title</th><th>CPC codes</th><th>similarity</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table>"
    )


def code_rows(prediction) -> str:
    titles = prediction.titles or {}
    with_titles = any(c.code in titles for c in prediction.codes)  # no empty column where no title is known
    kind = "probability" if prediction.calibrated else "score"
    rows = []
    for c in prediction.codes:
        why = (prediction.explanations or {}).get(c.code, {})
        terms = ", ".join(escape(t["term"]) for t in why.get("terms", []))
        voters = ", ".join(escape(n["publication_number"]) for n in why.get("neighbours", []))
        title = f"<td>{escape(titles.get(c.code, ''))}</td>" if with_titles else ""
        rows.append(
            f"<tr><td><code>{escape(c.code)}</code></td>{title}<td>{c.score:.2f}</td><td>{terms}</td><td>{voters}</td></tr>"
        )
    head = "<th>title</th>" if with_titles else ""
    return (
        f'<table id="explained-codes"><thead><tr><th>code</th>{head}<th>{kind}</th><th>terms in the text</th>'
        "<th>similar patents that voted</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def evidence_html(text: str, prediction) -> str:
    parts = [STYLE, '<div class="cpc-ev">']
    if prediction.out_of_scope:
        parts.append(f'<p class="scope" id="out-of-scope" role="alert">{escape(prediction.scope_note)}</p>')
    if prediction.backoff:
        parts.append(f'<p class="backoff" id="backoff">{escape(prediction.backoff)}</p>')
    parts.append("<h3>Why these codes</h3>" + code_rows(prediction))
    parts.append(
        '<h3>The text, with the terms behind the codes marked</h3><p id="highlighted">'
        + highlight(text, _terms(prediction))
        + "</p>"
    )
    if prediction.neighbours:
        parts.append("<h3>Most similar training patents</h3>" + neighbour_table(prediction))
    parts.append("<h3>CPC levels (each with its own threshold)</h3>" + level_tree(prediction))
    parts.append("</div>")
    return "".join(parts)
