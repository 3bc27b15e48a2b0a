"""What lets an analyst check a code: similar training patents, the words behind each code, and a plain
out-of-scope flag.

- Neighbours come from the model's own TF-IDF neighbour bank (a ``tfidf-knn`` member, which keeps the
  publication number, title and codes of each training patent), else from a TF-IDF index shipped in the model
  folder under ``neighbour_index/`` (``cpc_models.kinds.neighbour_index``). One search per batch
  serves the similar patents, the voters and the scope flag (``cpc_models.kinds.batch``).
- Terms: for linear members, the input terms with the largest TF-IDF weight x the code's coefficient; for kNN
  members, the voting neighbours that carry the code.
- Out of scope (``scope.json``, tuned on validation): the text's nearest training patent is less similar than
  validation shows reliable, or its most similar training patents mostly carry none of the model's codes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cpc_models.files import CONFIG_FILE, SCOPE_FILE
from cpc_models.files import NEIGHBOUR_INDEX_DIR as INDEX_DIR

log = logging.getLogger(__name__)

PATENT_URL = "https://patents.google.com/patent/{}"
SCOPE_K = 20  # neighbours whose codes decide the labelled share
MIN_FLAG_PRECISION = 0.8  # on validation, this share of flagged texts has none of its codes among the model's labels


@dataclass
class Scope:
    min_similarity: float = 0.0  # nearest training patent's cosine similarity below this: out of scope
    min_labelled_share: float = 0.0  # similarity-weighted share of the SCOPE_K nearest patents carrying a label
    k: int = SCOPE_K
    temperature: float = 10.0
    tuned_on: str = "validation"
    flag_precision: dict | None = None  # per rule, on validation: share of flagged texts that were not answered right

    def flags(self, nearest: np.ndarray, share: np.ndarray) -> list[str]:
        """A sentence per text ('' when in scope)."""
        out = []
        for s, h in zip(nearest, share):
            if s < self.min_similarity:
                out.append(
                    f"This text is unlike the AI/ML patents the model was trained on: its most similar training patent has "
                    f"similarity {s:.2f}, below the {self.min_similarity:.2f} that validation shows reliable. Treat the codes as unreliable."
                )
            elif h < self.min_labelled_share:
                out.append(
                    f"This text looks out of the model's scope: its most similar training patents mostly ({100 * (1 - h):.0f}%) "
                    "carry none of the codes the model knows (it covers AI/ML patents). Treat the codes as unreliable."
                )
            else:
                out.append("")
        return out

    def save(self, model_dir: str | Path) -> None:
        (Path(model_dir) / SCOPE_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, model_dir: str | Path) -> Scope | None:
        path = Path(model_dir) / SCOPE_FILE
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _members(scorer) -> list[tuple[object, float]]:
    if hasattr(scorer, "members"):
        return list(zip(scorer.members, getattr(scorer, "weights", [1.0] * len(scorer.members))))
    return [(scorer, 1.0)]


def find_index(scorer, model_dir: str | Path | None):
    """The model's own neighbour bank (a kNN member with its documents), else ``<model_dir>/neighbour_index``."""
    for member, weight in _members(scorer):
        if hasattr(member, "nearest") and getattr(member, "has_docs", False):
            return member
    if model_dir is not None and (Path(model_dir) / INDEX_DIR / CONFIG_FILE).exists():
        from cpc_models.registry import load_scorer

        return load_scorer(Path(model_dir) / INDEX_DIR)
    return None


class Evidence:
    """Neighbours, explanations and the scope flag for one loaded model (thread-safe: no state changes)."""

    def __init__(self, scorer, model_dir: str | Path | None = None):
        self.scorer = scorer
        self.labels = list(scorer.labels)
        self.index = find_index(scorer, model_dir)
        self.scope = Scope.load(model_dir) if model_dir is not None else None
        self.linear = [m for m, w in _members(scorer) if w and hasattr(m, "explain")]
        self.voters = [m for m, w in _members(scorer) if w and hasattr(m, "voters")]

    @property
    def available(self) -> bool:
        return self.index is not None

    def wanted(self, neighbours: int, explain: bool) -> int:
        """How many most similar rows per text the evidence asks for (similar patents, scope, voters)."""
        if self.index is None:
            return 0
        return max(neighbours, self.scope.k if self.scope else 0, *(m.k for m in self.voters if explain))

    def depth(self, neighbours: int, explain: bool) -> int:
        """How many hits per text one search keeps so that every piece of evidence is served by it."""
        if self.index is None:
            return 0
        return max(self.index.k, 2 * self.wanted(neighbours, explain))

    def nearest(self, texts: list[str], n: int):
        """Rows and cosine similarities of the ``n`` most similar training patents per text."""
        return self.index.nearest(texts, n)

    def neighbours(self, texts: list[str], k: int = 5) -> list[list[dict]]:
        rows, sims = self.nearest(texts, k)
        return [_rows(self.index, r, s) for r, s in zip(rows, sims)]

    def out_of_scope(self, texts: list[str]) -> list[str]:
        if self.scope is None:
            return [""] * len(texts)
        rows, sims = self.nearest(texts, self.scope.k)
        share = self.index.bank.labelled_share(rows, sims, self.scope.temperature)
        return self.scope.flags(sims[:, 0], share)

    def explain(
        self, texts: list[str], codes: list[list[str]], top_terms: int = 5, top_neighbours: int = 3
    ) -> list[dict[str, dict]]:
        """Per text, per code: ``terms`` [(term, weight)] from linear members, ``neighbours`` that voted for it."""
        out = [{c: {"terms": [], "neighbours": []} for c in cs} for cs in codes]
        for member in self.linear:
            mcol = {c: j for j, c in enumerate(member.labels)}
            asked = [[mcol[c] for c in cs if c in mcol] for cs in codes]
            for row, per in enumerate(member.explain(texts, asked, top_terms)):
                for j, terms in per.items():
                    entry = out[row][member.labels[j]]["terms"]
                    entry.extend({"term": t, "weight": w} for t, w in terms)
        for member in self.voters:
            mcol = {c: j for j, c in enumerate(member.labels)}
            asked = [[mcol[c] for c in cs if c in mcol] for cs in codes]
            for row, per in enumerate(member.voters(texts, asked, top_neighbours)):
                for j, rows in per.items():
                    out[row][member.labels[j]]["neighbours"].extend(
                        {
                            "publication_number": r.get("publication_number", ""),
                            "title": r.get("title", ""),
                            "similarity": r["similarity"],
                            "url": PATENT_URL.format(r["publication_number"]) if r.get("publication_number") else "",
                        }
                        for r in rows
                    )
        return out


def _rows(index, rows: np.ndarray, sims: np.ndarray) -> list[dict]:
    out = []
    for i, s in zip(rows.tolist(), sims.tolist()):
        if i < 0:
            continue
        doc = index.doc(i)  # a fresh dict per call: its codes list is this row's own
        number = doc.get("publication_number", "")
        out.append(
            {
                "publication_number": number,
                "title": doc.get("title", ""),
                "codes": doc.get("codes", []),
                "similarity": round(s, 4),
                "url": PATENT_URL.format(number) if number else "",
            }
        )
    return out
