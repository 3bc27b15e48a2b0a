"""What lets an analyst check a code: similar training patents, the words behind each code, and a plain
out-of-scope flag.

- Neighbours come from the model's own TF-IDF neighbour index (a ``tfidf-knn`` member, which keeps the
  publication number, title and codes of each training patent in ``knn_docs.json``), else from a TF-IDF index
  shipped in the model folder under ``neighbour_index/`` (``build_neighbour_index``).
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

from cpc_models.files import KNN_BANK_FILE, SCOPE_FILE
from cpc_models.files import NEIGHBOUR_INDEX_DIR as INDEX_DIR
from cpc_models.kinds.common import neighbour_vote, top_indices

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
    """The model's own neighbour index (a kNN member with its documents), else ``<model_dir>/neighbour_index``."""
    for member, weight in _members(scorer):
        if hasattr(member, "similarities") and getattr(member, "docs", None):
            return member
    if model_dir is not None and (Path(model_dir) / INDEX_DIR / KNN_BANK_FILE).exists():
        from cpc_models.kinds.tfidf_knn import load

        return load(Path(model_dir) / INDEX_DIR)
    return None


def _rows(index, sim_row: np.ndarray, idx) -> list[dict]:
    out = []
    for i in idx:
        doc = index.doc(int(i))
        number = doc.get("publication_number", "")
        out.append(
            {
                "publication_number": number,
                "title": doc.get("title", ""),
                "codes": list(doc.get("codes", [])),
                "similarity": round(float(sim_row[i]), 4),
                "url": PATENT_URL.format(number) if number else "",
            }
        )
    return out


class Evidence:
    """Neighbours, explanations and the scope flag for one loaded model (thread-safe: no state changes)."""

    def __init__(self, scorer, model_dir: str | Path | None = None):
        self.scorer = scorer
        self.labels = list(scorer.labels)
        self.index = find_index(scorer, model_dir)
        # which bank rows carry any label: fixed per index, so computed once here, not per request
        self.bank_labelled = None if self.index is None else bank_labelled(self.index)
        self.scope = Scope.load(model_dir) if model_dir is not None else None
        self.linear = [m for m, w in _members(scorer) if w and hasattr(m, "explain")]
        self.voters = [m for m, w in _members(scorer) if w and hasattr(m, "voters")]

    @property
    def available(self) -> bool:
        return self.index is not None

    def similarities(self, texts: list[str]) -> np.ndarray | None:
        return None if self.index is None else self.index.similarities(texts)

    def neighbours(self, sim: np.ndarray, k: int = 5) -> list[list[dict]]:
        k = min(k, sim.shape[1])
        return [_rows(self.index, row, top_indices(row, k)) for row in sim]

    def labelled_share(self, sim: np.ndarray, k: int = SCOPE_K, temperature: float = 10.0) -> np.ndarray:
        return labelled_share(sim, self.bank_labelled, k, temperature)

    def out_of_scope(self, sim: np.ndarray) -> list[str]:
        if self.scope is None:
            return [""] * len(sim)
        return self.scope.flags(sim.max(axis=1), self.labelled_share(sim, self.scope.k, self.scope.temperature))

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


def bank_labelled(index) -> np.ndarray:
    """(bank rows, 1): 1 where the neighbour index's training patent carries any of the model's labels."""
    return index.bank_labels.any(axis=1).astype(np.uint8)[:, None]


def labelled_share(sim: np.ndarray, labelled: np.ndarray, k: int = SCOPE_K, temperature: float = 10.0) -> np.ndarray:
    """Similarity-weighted share of each text's ``k`` nearest bank rows that carry a label."""
    return neighbour_vote(sim, labelled, k, temperature)[:, 0]


def fit_scope(index, texts: list[str], unlabelled: np.ndarray, model_dir: str | Path | None = None) -> Scope:
    """Thresholds on validation: for each signal, the largest cut whose flagged texts (at least 10) have none of
    their codes among the model's labels at least ``MIN_FLAG_PRECISION`` of the time; 0 (never flags) if no cut does."""
    sim = index.similarities(texts)
    nearest, share = sim.max(axis=1), labelled_share(sim, bank_labelled(index))
    scope = Scope(flag_precision={})
    for name, signal in (("min_similarity", nearest), ("min_labelled_share", share)):
        best = 0.0
        for cut in np.unique(np.round(np.quantile(signal, np.linspace(0.005, 0.3, 60)), 3)):
            flagged = signal < cut
            if flagged.sum() >= 10 and unlabelled[flagged].mean() >= MIN_FLAG_PRECISION:
                best = float(cut)
                scope.flag_precision[name] = {
                    "flagged": int(flagged.sum()),
                    "of": len(signal),
                    "without_a_model_code": round(float(unlabelled[flagged].mean()), 3),
                }
        setattr(scope, name, best)
    if model_dir is not None:
        scope.save(model_dir)
    return scope


def build_neighbour_index(model_dir: str | Path, dataset_dir: str | Path) -> Path:
    """A TF-IDF neighbour index of the training split in ``<model_dir>/neighbour_index`` (for models without one)."""
    from cpc_models.data import load_split
    from cpc_models.kinds.tfidf import fit_features, make_blocks
    from cpc_models.kinds.tfidf_knn import KIND, Config, TfidfKnnScorer, bank_docs
    from cpc_models.registry import write_model_config

    train = load_split(dataset_dir, "train")
    blocks = make_blocks(Config())
    x = fit_features(blocks, train.texts)
    x.data = x.data.astype(np.float16).astype(np.float32)
    index = TfidfKnnScorer(train.vocabulary, blocks, x, train.y)
    index.docs = bank_docs(dataset_dir, train)
    out = Path(model_dir) / INDEX_DIR
    index.save(out)
    write_model_config(out, KIND, train.vocabulary, purpose="neighbour index")
    return out
