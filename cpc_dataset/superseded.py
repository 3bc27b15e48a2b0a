"""Superseded CPC symbols, found from the data: kept in ``cpc_codes``, kept out of the label vocabulary.

The corpus mixes CPC versions. When a symbol is deleted in a CPC revision, patents classified before it keep the
old symbol and receive the new one on reclassification, so the old symbol sits beside its replacement on nearly
every document that carries it (G06N3/0454 is on 852 documents, 851 of which also carry G06N3/045). A model
cannot tell from the text which revision a patent was classified under, and a deleted symbol is a wrong answer
today.

Rule: a symbol is superseded when at least ``min_share`` of the training documents that carry it also carry one
more frequent symbol of the same CPC class (G06K9/6256 -> G06F18/214 crosses subclasses), one that is on at most
half of all documents (``MIN_LIFT``). CPC indexing codes
(main group 2000 and above, e.g. G10L2015/223) are attached beside their breakdown code by design and are never
candidates. Each finding says whether it matches a deletion known from the CPC concordance (``KNOWN_DELETIONS``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass

MIN_SHARE = 0.98
MIN_DOCUMENTS = 20
MIN_LIFT = (
    2.0  # the pair must be far more common together than by base rate (a code on most documents replaces nothing)
)

# Deleted symbols and their replacement, from the CPC 2023.01 revision concordance (G06N3, G06N5, G06N7 and the
# transfer of G06K9/62 to G06F18). Used only to annotate what the data finds, never to decide.
KNOWN_DELETIONS = {
    "G06N3/0454": "G06N3/045",
    "G06N3/0445": "G06N3/044",
    "G06N3/0427": "G06N3/042",
    "G06N3/0472": "G06N3/047",
    "G06N3/0481": "G06N3/048",
    "G06N5/003": "G06N5/01",
    "G06N7/005": "G06N7/01",
    "G06K9/6256": "G06F18/214",
}
_KNOWN_TRANSFERRED = re.compile(r"^G06K9/62\d*$")  # G06K9/62 and its subgroups: transferred to G06F18 in 2023.01

_GROUP = re.compile(r"^[A-HY]\d{2}[A-Z](\d+)/")


@dataclass(frozen=True)
class Superseded:
    code: str
    replaced_by: str
    documents: int  # training documents carrying ``code``
    shared: int  # of those, how many also carry ``replaced_by``
    known: bool  # listed as deleted in the CPC concordance we know of

    @property
    def share(self) -> float:
        return self.shared / max(self.documents, 1)

    @property
    def reason(self) -> str:
        text = f"on {self.shared} of its {self.documents} training documents beside {self.replaced_by} ({100 * self.share:.1f}%)"
        return text + ("; deleted in CPC 2023.01" if self.known else "; not in the known CPC 2023.01 deletions")

    def to_dict(self) -> dict:
        return {**asdict(self), "share": round(self.share, 4), "reason": self.reason}


def is_indexing_code(code: str) -> bool:
    match = _GROUP.match(code)
    return bool(match) and int(match.group(1)) >= 2000


def is_known_deletion(code: str, replaced_by: str) -> bool:
    if code in KNOWN_DELETIONS:
        return KNOWN_DELETIONS[code] == replaced_by
    return bool(_KNOWN_TRANSFERRED.match(code)) and replaced_by.startswith(("G06F18/", "G06V10/"))


def find_superseded(
    code_lists: list[list[str]], min_share: float = MIN_SHARE, min_documents: int = MIN_DOCUMENTS
) -> dict[str, Superseded]:
    """Symbols (carried by at least ``min_documents`` documents) that almost always come with a more frequent one."""
    counts = Counter(c for codes in code_lists for c in set(codes))
    candidates = superseded_candidates(counts, min_documents)
    together: dict[str, Counter] = {c: Counter() for c in candidates}
    for codes in code_lists:
        unique = set(codes)
        for a in unique & candidates:
            together[a].update(b for b in unique if b != a and b[:3] == a[:3] and counts[b] > counts[a])
    return decide_superseded(counts, together, len(code_lists), min_share)


def superseded_candidates(counts: dict[str, int], min_documents: int = MIN_DOCUMENTS) -> set[str]:
    """The symbols that may be superseded: frequent enough, not indexing codes."""
    return {c for c, n in counts.items() if n >= min_documents and not is_indexing_code(c)}


def decide_superseded(
    counts: dict[str, int], together: dict[str, dict[str, int]], n_docs: int, min_share: float = MIN_SHARE
) -> dict[str, Superseded]:
    """The rule, from counts: ``counts[code]`` documents per symbol; ``together[a][b]`` documents carrying both
    candidate ``a`` and a more frequent symbol ``b`` of the same class (the build counts these out of core)."""
    n_docs = max(n_docs, 1)
    found = {}
    for a in sorted(together):
        if not together[a]:
            continue
        specific = {b: n for b, n in together[a].items() if counts[b] / n_docs * MIN_LIFT <= 1.0}
        if not specific:
            continue
        b, shared = max(specific.items(), key=lambda kv: (kv[1], counts[kv[0]], kv[0]))  # ties: by symbol
        if shared >= min_share * counts[a]:
            found[a] = Superseded(a, b, counts[a], shared, is_known_deletion(a, b))
    return found
