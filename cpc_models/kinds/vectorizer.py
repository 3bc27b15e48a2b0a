"""The TF-IDF vectorizer at prediction time, stored once and shared by every member that uses it.

``Vectorizer.transform`` gives what scikit-learn's ``TfidfVectorizer.transform`` gives for the word analyzer
(lowercase, accents stripped, token pattern, n-grams, sublinear tf, idf, l2 norm), without importing scikit-learn
(whose import alone takes longer than loading a model); other analyzers (char n-grams) fall back to scikit-learn.

Folder (format 2, ``VECTORIZER_DIR``): ``vectorizer.json`` (each block's name, field, weight, parameters),
``vocabulary-<block>.txt`` (one term per line, column order) and ``idf-<block>.npy``. A TF-IDF member points at
its vectorizer folder with ``features.json`` (relative path): an ensemble keeps one vectorizer at its top for all
its members. Format 1 (``vectorizers.json`` + ``idf.npz`` in the member folder) still loads.
"""

from __future__ import annotations

import json
import re
import unicodedata
import weakref
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cpc_dataset.errors import MisconfiguredError
from cpc_models.files import (
    FEATURES_FILE,
    IDF_ARRAY_FILE,
    IDF_FILE,
    VECTORIZER_DIR,
    VECTORIZER_FILE,
    VECTORIZERS_FILE,
    VOCABULARY_FILE,
)

FORMAT = 2
# TfidfVectorizer parameters that decide what transform() returns (everything else is fit-time only)
TRANSFORM_PARAMS = (
    "analyzer",
    "lowercase",
    "strip_accents",
    "token_pattern",
    "ngram_range",
    "norm",
    "use_idf",
    "smooth_idf",
    "sublinear_tf",
)


def title_of(text: str) -> str:
    return text.split(". ", 1)[0]


FIELDS = {"text": lambda t: t, "title": title_of}


def strip_accents_unicode(s: str) -> str:
    """As scikit-learn's: NFKD, combining characters dropped (ASCII text returned as is)."""
    if s.isascii():
        return s
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


@dataclass
class Block:
    """One TF-IDF block: a field of the text, its vocabulary and idf, scaled by ``weight``."""

    name: str
    field: str
    weight: float
    params: dict
    terms: list[str] = field(repr=False)
    idf: np.ndarray = field(repr=False)
    _vocabulary: dict | None = field(default=None, repr=False)
    _sklearn: object = field(default=None, repr=False)

    @property
    def vocabulary(self) -> dict[str, int]:
        if self._vocabulary is None:
            self._vocabulary = dict(zip(self.terms, range(len(self.terms))))
        return self._vocabulary

    def native(self) -> bool:
        p = self.params
        return (
            p.get("analyzer", "word") == "word"
            and p.get("strip_accents") in (None, "unicode")
            and p.get("norm", "l2") in (None, "l2")
        )

    def analyzer(self):
        p = self.params
        pattern = re.compile(p.get("token_pattern") or r"(?u)\b\w\w+\b")
        lower, strip = p.get("lowercase", True), p.get("strip_accents") == "unicode"
        lo, hi = p.get("ngram_range", (1, 1))
        get = FIELDS[self.field]

        def analyze(text: str) -> list[str]:
            doc = get(text)
            if lower:
                doc = doc.lower()
            if strip:
                doc = strip_accents_unicode(doc)
            tokens = pattern.findall(doc)
            out = list(tokens) if lo == 1 else []
            for n in range(max(lo, 2), hi + 1):
                out.extend(map(" ".join, zip(*(tokens[i:] for i in range(n)))))
            return out

        return analyze

    def transform(self, texts: list[str]):
        """The block's TF-IDF as (rows, columns, values) arrays, sorted by row then column."""
        if not self.native():
            x = self._sklearn_transform(texts).tocoo()
            order = np.lexsort((x.col, x.row))
            return x.row[order].astype(np.int64), x.col[order].astype(np.int64), x.data[order].astype(np.float32)
        vocab, analyze = self.vocabulary, self.analyzer()
        cols, counts, lengths = [], [], []
        for text in texts:
            c = Counter(map(vocab.get, analyze(text)))
            c.pop(None, None)
            cols.extend(c)
            counts.extend(c.values())
            lengths.append(len(c))
        rows = np.repeat(np.arange(len(texts)), lengths)
        cols = np.asarray(cols, dtype=np.int64)
        order = np.lexsort((cols, rows))
        rows, cols = rows[order], cols[order]
        data = np.asarray(counts, dtype=np.float32)[order]
        if self.params.get("sublinear_tf"):
            np.log(data, data)
            data += 1.0
        if self.params.get("use_idf", True):
            data *= self.idf[cols]
        if self.params.get("norm") == "l2" and len(data):
            # squares in float32, summed in double, divided in double: as scikit-learn's normalize
            norms = np.sqrt(np.bincount(rows, weights=(data * data).astype(np.float64), minlength=len(texts)))
            data = (data / norms[rows]).astype(np.float32)
        if self.weight != 1.0:
            data *= np.float32(self.weight)
        return rows, cols, data

    def _sklearn_transform(self, texts: list[str]):
        if self._sklearn is None:
            from sklearn.feature_extraction.text import TfidfVectorizer

            params = dict(self.params, ngram_range=tuple(self.params["ngram_range"]))
            v = TfidfVectorizer(**params, vocabulary=self.vocabulary, dtype=np.float32)
            v.idf_ = np.asarray(self.idf, dtype=np.float32)
            self._sklearn = v
        return self._sklearn.transform([FIELDS[self.field](t) for t in texts]) * self.weight


class Vectorizer:
    """The TF-IDF blocks of a model, side by side (``transform`` returns their ``hstack``)."""

    def __init__(self, blocks: list[Block]):
        self.blocks = blocks
        self.n_features = sum(len(b.terms) for b in blocks)

    def transform(self, texts: list[str]):
        """(texts, features) ``Csr`` float32, sorted indices: the blocks side by side."""
        from cpc_models.kinds.sparse import Csr

        texts = list(texts)
        rows, cols, data, offset = [], [], [], 0
        for b in self.blocks:
            r, c, d = b.transform(texts)
            rows.append(r)
            cols.append(c + offset)
            data.append(d)
            offset += len(b.terms)
        rows, cols, data = np.concatenate(rows), np.concatenate(cols), np.concatenate(data)
        order = np.lexsort((cols, rows)) if len(self.blocks) > 1 else slice(None)
        indptr = np.zeros(len(texts) + 1, dtype=np.int32)
        np.cumsum(np.bincount(rows, minlength=len(texts)), out=indptr[1:])
        return Csr(data[order], cols[order].astype(np.int32), indptr, (len(texts), self.n_features))

    def feature_names(self) -> list[str]:
        """The term of each column (a title-block column has the same term as its text one)."""
        return [t for b in self.blocks for t in b.terms]

    def describe(self) -> str:
        return ", ".join(b.name for b in self.blocks)

    @classmethod
    def from_sklearn(cls, blocks) -> Vectorizer:
        """From fitted ``cpc_models.kinds.tfidf.FeatureBlock`` s."""
        out = []
        for b in blocks:
            v = b.vectorizer
            params = {k: v.get_params()[k] for k in TRANSFORM_PARAMS}
            params["ngram_range"] = list(params["ngram_range"])
            terms = sorted(v.vocabulary_, key=v.vocabulary_.get)
            out.append(Block(b.name, b.field, float(b.weight), params, terms, v.idf_.astype(np.float32)))
        return cls(out)

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        specs = []
        for b in self.blocks:
            if any("\n" in t for t in b.terms):
                raise ValueError(f"block {b.name}: a term holds a line break")
            (folder / VOCABULARY_FILE.format(block=b.name)).write_text("\n".join(b.terms), encoding="utf-8")
            np.save(folder / IDF_ARRAY_FILE.format(block=b.name), np.asarray(b.idf, dtype=np.float32))
            specs.append(
                {"name": b.name, "field": b.field, "weight": b.weight, "params": b.params, "terms": len(b.terms)}
            )
        (folder / VECTORIZER_FILE).write_text(json.dumps({"format": FORMAT, "blocks": specs}, indent=2) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Vectorizer:
        folder = Path(folder)
        spec = json.loads((folder / VECTORIZER_FILE).read_text())
        blocks = []
        for s in spec["blocks"]:
            text = (folder / VOCABULARY_FILE.format(block=s["name"])).read_text(encoding="utf-8")
            terms = text.split("\n") if text else []
            idf = np.load(folder / IDF_ARRAY_FILE.format(block=s["name"]), mmap_mode="r")
            if len(terms) != s["terms"] or len(idf) != len(terms):
                raise MisconfiguredError(f"{folder}: block {s['name']} has {len(terms)} terms, expected {s['terms']}")
            blocks.append(Block(s["name"], s["field"], float(s["weight"]), s["params"], terms, idf))
        return cls(blocks)

    @classmethod
    def load_v1(cls, model_dir: str | Path) -> Vectorizer:
        """A format-1 member folder's ``vectorizers.json`` + ``idf.npz``."""
        model_dir = Path(model_dir)
        specs = json.loads((model_dir / VECTORIZERS_FILE).read_text())
        idfs = np.load(model_dir / IDF_FILE)
        return cls(
            [
                Block(s["name"], s["field"], float(s["weight"]), s["params"], s["vocabulary"], idfs[s["name"]])
                for s in specs
            ]
        )


_LOADED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def vectorizer_folder(model_dir: str | Path) -> Path | None:
    """The vectorizer folder a TF-IDF member uses (``features.json``), or None for a format-1 member."""
    model_dir = Path(model_dir)
    link = model_dir / FEATURES_FILE
    if not link.exists():
        return None
    return (model_dir / json.loads(link.read_text())["vectorizer"]).resolve()


def load_vectorizer(model_dir: str | Path) -> Vectorizer:
    """The member's vectorizer; members that point at the same folder get the same object (vectorized once)."""
    model_dir = Path(model_dir)
    folder = vectorizer_folder(model_dir)
    if folder is None:
        if not (model_dir / VECTORIZERS_FILE).exists():
            raise MisconfiguredError(f"{model_dir}: no {FEATURES_FILE} and no {VECTORIZERS_FILE}")
        return Vectorizer.load_v1(model_dir)
    key = (str(folder), (folder / VECTORIZER_FILE).stat().st_mtime_ns)
    vectorizer = _LOADED.get(key)
    if vectorizer is None:
        vectorizer = Vectorizer.load(folder)
        _LOADED[key] = vectorizer
    return vectorizer


def link_vectorizer(model_dir: str | Path, folder: str | Path) -> None:
    """Point the member ``model_dir`` at the vectorizer saved in ``folder``."""
    import os

    rel = Path(os.path.relpath(Path(folder).resolve(), Path(model_dir).resolve())).as_posix()
    (Path(model_dir) / FEATURES_FILE).write_text(json.dumps({"vectorizer": rel}) + "\n")


def save_member_vectorizer(model_dir: str | Path, vectorizer: Vectorizer) -> None:
    """A standalone member: its vectorizer in ``<model_dir>/vectorizer/``, linked."""
    folder = vectorizer.save(Path(model_dir) / VECTORIZER_DIR)
    link_vectorizer(model_dir, folder)
