"""``CpcPredictor``: one loaded model, batch-first predictions with CPC roll-ups. Thread-safe to share."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cpc_dataset.errors import InputError
from cpc_models.registry import BACKENDS
from cpc_models.scoring.thresholds import Thresholds

log = logging.getLogger(__name__)
CHUNK = 256  # texts per model call in predict(): each chunk is vectorized and searched once (kinds.batch.TextBatch)
NO_KNOWN_WORDS = "no known words"  # reason of a text with no word in the model's vocabulary (empty TF-IDF row)


@dataclass
class CodeScore:
    code: str
    score: float


@dataclass
class Prediction:
    codes: list[CodeScore] = field(default_factory=list)  # decided codes, best first
    subclasses: list[CodeScore] = field(default_factory=list)  # roll-up of the decided codes (max score)
    sections: list[CodeScore] = field(default_factory=list)
    truncated: bool = False  # the text was cut to the model's maximum length
    reason: str = ""  # why there is no prediction (e.g. empty text)
    calibrated: bool = False  # scores are calibrated probabilities (calibration.json)
    titles: dict[str, str] = field(default_factory=dict)  # CPC title of each symbol shown, where known
    # each CPC level's own decisions (subgroup, main_group, subclass, section), score = P(some code under it)
    levels: dict[str, list[CodeScore]] = field(default_factory=dict)
    backoff: str = ""  # set when no subgroup clears its threshold: which broader level does
    neighbours: list[dict] = field(
        default_factory=list
    )  # most similar training patents: number, title, codes, similarity, url
    out_of_scope: bool = False
    scope_note: str = ""  # why the text looks out of the model's scope
    explanations: dict[str, dict] = field(default_factory=dict)  # explain=True: code -> {"terms", "neighbours"}

    def to_dict(self) -> dict:
        return asdict(self)


class CpcPredictor:
    """Wraps a scorer (see ``cpc_models.registry``) with its thresholds and label vocabulary."""

    def __init__(self, scorer, thresholds: Thresholds, model_dir: Path | None = None, backend: str = "native"):
        from cpc_models.predict.evidence import Evidence
        from cpc_models.predict.levels import LevelRule
        from cpc_models.predict.titles import load_code_titles
        from cpc_models.scoring.calibration import Calibration

        self.scorer = scorer
        self.labels: list[str] = list(scorer.labels)
        self.thresholds = thresholds
        self.model_dir = model_dir
        self.backend = backend
        self.calibration = Calibration.load(model_dir) if model_dir is not None else None
        self.level_rule = LevelRule.load(model_dir) if model_dir is not None else None
        self.code_titles = load_code_titles(model_dir)
        self.evidence = Evidence(scorer, model_dir)
        self._vectors: dict = {}  # per-label arrays of the thresholds and calibration, made once (_per_label)

    def _per_label(self, name: str, owner):
        """``owner``'s per-label array over ``self.labels`` (threshold vector, calibration parameters), kept while
        ``owner`` is the one this predictor holds."""
        kept = self._vectors.get(name)
        if kept is None or kept[0] is not owner:
            value = owner.vector(self.labels) if name == "thresholds" else owner.params(self.labels)
            kept = self._vectors[name] = (owner, value)
        return kept[1]

    @classmethod
    def from_pretrained(cls, path: str | Path, backend: str = "auto", revision: str | None = None) -> CpcPredictor:
        """Load a model folder, or a Hub model repo id (``owner/name``, downloaded to the local cache; ``revision`` is a
        branch, tag or commit; ``HF_HUB_OFFLINE=1`` reads the cache only). ``backend``: "onnx" (the int8 file if
        present, else fp32), "torch", "native" (non-transformer models), or "auto": ONNX where the folder has an ONNX
        file, else torch or native."""
        from cpc_models.hub import resolve_model
        from cpc_models.registry import load_scorer, read_model_config

        if backend not in BACKENDS:
            raise InputError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        path = resolve_model(path, revision)
        config = read_model_config(path)
        if not config.get("id2label"):
            raise InputError(f"{path}/config.json has no id2label: not a CPC model folder")
        scorer = load_scorer(path, backend=backend)
        return cls(scorer, Thresholds.load(path), path, scorer.backend)

    def scores(self, texts: list[str]) -> np.ndarray:
        """Calibrated scores where the folder has ``calibration.json``, else the model's own."""
        scores = np.asarray(self.scorer.predict_proba(texts), dtype=np.float32)
        if self.calibration is None or not len(scores):
            return scores
        return self.calibration.apply(scores, self.labels, self._per_label("calibration", self.calibration))

    def predict(
        self,
        texts: list[str] | str,
        top_k: int | None = None,
        threshold: float | None = None,
        explain: bool = False,
        neighbours: int = 5,
    ) -> list[Prediction]:
        """Codes per text: those over the tuned thresholds (or ``threshold`` for all), best first, at most ``top_k``.

        Every text with a word the model knows gets at least the model's ``min_codes`` codes. Empty texts, and
        texts with no word the model knows (an empty TF-IDF row), get no codes and a reason. Each prediction also has every CPC level with back-off, the ``neighbours`` most similar
        training patents, the out-of-scope flag and, with ``explain``, the terms and neighbours behind each code.
        """
        if isinstance(texts, str):
            texts = [texts]
        return self._predict(texts, top_k, threshold, explain, neighbours)[0]

    def predict_ranked(
        self, texts: list[str], top_k: int | None = 5, neighbours: int = 5
    ) -> tuple[list[list[CodeScore] | None], list[Prediction]]:
        """``ranked(texts, top_k)`` and ``predict(texts, top_k)`` (what a ``details`` request answers) from one scoring
        of the texts; a text ``predict`` gives no codes (empty, no known word) has None for its ranked list."""
        if isinstance(texts, str):
            texts = [texts]
        predictions, ranked = self._predict(texts, top_k, None, False, neighbours, rank=True)
        return ranked, predictions

    def _predict(self, texts, top_k, threshold, explain, neighbours, rank: bool = False):
        """(predictions, ranked lists: with ``rank``, each text's ``ranked(texts, top_k)`` list, else None)."""
        if top_k is not None and top_k < 0:
            raise InputError(f"top_k {top_k}: a number of codes, 1 or more (0 or None: all decided codes)")
        if len(texts) > CHUNK:  # in chunks, so that scoring and the similar-patents lookup share one product
            parts = [
                self._predict(texts[start : start + CHUNK], top_k, threshold, explain, neighbours, rank)
                for start in range(0, len(texts), CHUNK)
            ]
            return [p for part in parts for p in part[0]], [r for part in parts for r in part[1]]
        from cpc_models.kinds.batch import TextBatch

        # a TextBatch keeps its TF-IDF rows (cpc serve's known-words check made them)
        given = texts if isinstance(texts, TextBatch) else None
        texts = [t if isinstance(t, str) else "" for t in texts]
        results = [Prediction(reason="empty text") for _ in texts]
        ranked = [None] * len(texts)
        keep = [i for i, t in enumerate(texts) if t.strip()]
        if not keep:
            return results, ranked
        evidence = self.evidence
        depth, near = evidence.depth(neighbours, explain), evidence.wanted(neighbours, explain)
        if given is not None:
            batch = given.take(keep)
            batch.depth, batch.near = depth, near
        else:
            batch = TextBatch([texts[i] for i in keep], depth, near)
        known = getattr(self.scorer, "known", None)
        if known is not None:
            has = np.asarray(known(batch), dtype=bool)
            for row in np.flatnonzero(~has):
                results[keep[row]] = Prediction(reason=NO_KNOWN_WORDS)
            if not has.all():
                keep = [i for i, h in zip(keep, has) if h]
                batch = batch.take(np.flatnonzero(has))
            if not keep:
                return results, ranked
        scores = self.scores(batch)
        if rank:
            for row, codes in zip(keep, self._ranked(scores, top_k)):
                ranked[row] = codes
        rule = (
            self.thresholds
            if threshold is None
            else Thresholds(float(threshold), mode="global", min_codes=self.thresholds.min_codes)
        )
        vector = self._per_label("thresholds", rule) if rule is self.thresholds else rule.vector(self.labels)
        decided = rule.apply(scores, self.labels, vector=vector)
        truncated = self.scorer.truncated(batch)
        calibrated = self.calibration is not None
        from cpc_models.predict.levels import best_first

        codes, limit = [[] for _ in keep], top_k or len(self.labels)
        for row, col, score in best_first(scores, decided):
            if len(codes[row]) < limit:
                codes[row].append(CodeScore(self.labels[col], round(score, 4)))
        for row, i in enumerate(keep):
            results[i] = Prediction(
                codes[row], _roll(codes[row], 4), _roll(codes[row], 1), bool(truncated[row]), calibrated=calibrated
            )
        self._add_evidence([results[i] for i in keep], batch, scores, vector, explain, neighbours)
        return results, ranked

    def _add_evidence(
        self,
        predictions: list[Prediction],
        texts: list[str],
        scores: np.ndarray,
        code_thresholds: np.ndarray,
        explain: bool,
        neighbours: int,
    ) -> None:
        from cpc_models.predict.levels import LEVEL_NAMES, LEVELS

        if self.level_rule is not None:
            for p, levels in zip(predictions, self.level_rule.decide(scores, self.labels, code_thresholds)):
                p.levels = {name: [CodeScore(c, round(s, 4)) for c, s in levels[name]] for name in LEVELS}
                if not p.levels["subgroup"]:
                    broader = next((name for name in LEVELS[1:] if p.levels[name]), None)
                    if broader is None:
                        p.backoff = "No CPC level is above its threshold: the codes listed are the model's best guesses, not decisions."
                    else:
                        best = p.levels[broader][0]
                        p.backoff = (
                            f"No subgroup is above its threshold; the most specific level that is: {LEVEL_NAMES[broader]} "
                            f"{best.code} ({best.score:.2f}). The subgroups listed are below their thresholds."
                        )
        if self.evidence.available:
            for p, rows, note in zip(
                predictions,
                self.evidence.neighbours(texts, neighbours) if neighbours else [[]] * len(texts),
                self.evidence.out_of_scope(texts),
            ):
                p.neighbours, p.out_of_scope, p.scope_note = rows, bool(note), note
        if explain:
            for p, per_code in zip(
                predictions, self.evidence.explain(texts, [[c.code for c in p.codes] for p in predictions])
            ):
                p.explanations = per_code
        for p in predictions:
            shown = {c.code for c in p.codes} | {c.code for cs in p.levels.values() for c in cs}
            shown |= {c for n in p.neighbours for c in n.get("codes", [])}
            p.titles = {c: self.code_titles[c] for c in sorted(shown) if c in self.code_titles}

    def ranked(self, texts: list[str], top_k: int = 5) -> list[list[CodeScore]]:
        """The ``top_k`` highest-scored codes per text, with no threshold (what the Inference API returns)."""
        return self._ranked(self.scores(texts), top_k)

    def _ranked(self, scores: np.ndarray, top_k: int) -> list[list[CodeScore]]:
        order = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]
        return [
            [CodeScore(self.labels[j], round(float(scores[r, j]), 4)) for j in order[r]] for r in range(len(scores))
        ]


def _roll(codes: list[CodeScore], prefix: int) -> list[CodeScore]:
    best: dict[str, float] = {}
    for c in codes:
        key = c.code[:prefix]
        best[key] = max(best.get(key, 0.0), c.score)
    return [CodeScore(k, v) for k, v in sorted(best.items(), key=lambda kv: -kv[1])]
