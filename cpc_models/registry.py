"""Model kinds, each registered once, and what every model folder shares.

A model folder (``hub/models/<name>/``) is laid out like a Hub model repo; its file names are
``cpc_models.files``. The weights are in a format with no pickle (safetensors, .npz/.npy arrays, ONNX).

A kind is one module defining ``Config`` (a ``cpc_models.kinds.config.KindConfig``), ``train(config) -> test
metrics`` and ``load(model_dir, backend) -> Scorer`` (and, for kinds with several backends, ``auto_backend``),
plus one line in ``KINDS`` saying which backends it serves, which optional libraries (and extra) each needs, and
its capabilities (what other modules ask of a kind instead of testing its name). ``cpc train <kind>`` is generated
from it (``cpc_models.cli.train``). DEVELOPERS.md's checklist, ``tests/unit/test_kind_checklist.py``, checks it.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cpc_dataset.errors import InputError, MisconfiguredError
from cpc_models.extras import require
from cpc_models.files import BANK_DIR, CONFIG_FILE, ENCODER_FILE, KNN_BANK_FILE

if TYPE_CHECKING:
    import numpy as np

BACKENDS = ("auto", "onnx", "torch", "native")  # what a caller may ask for; "auto" lets the kind choose


@runtime_checkable
class Scorer(Protocol):
    labels: list[str]
    backend: str  # the backend it runs on: "native", "torch" or "onnx"

    def predict_proba(self, texts: list[str]) -> np.ndarray: ...  # (n, n_labels) scores in [0, 1]

    def truncated(self, texts: list[str]) -> list[bool]: ...  # per text: was it cut to the model's maximum length


@dataclass(frozen=True)
class Needs:
    """Optional libraries (import names) and the extra that installs them."""

    extra: str
    modules: tuple[str, ...] = ()


NATIVE_SKLEARN = Needs("space", ("sklearn", "scipy"))
ENCODER = Needs("train", ("torch", "transformers"))
TRAIN_SKLEARN = Needs("train", ("sklearn", "scipy"))
TRAIN_ENCODER = Needs("train", ("torch", "transformers", "sklearn"))


@dataclass(frozen=True)
class Kind:
    name: str
    module: str  # defines Config, train, load (and auto_backend when auto_choice)
    summary: str  # one line: the help of `cpc train <name>`
    backends: dict[str, Needs]  # backend -> what it needs to load; "auto" takes the first unless auto_choice
    train_needs: Needs = field(default_factory=lambda: Needs("train"))
    auto_choice: bool = False  # the module's auto_backend(model_dir) picks the backend for "auto"
    # capabilities: what other modules ask of a kind instead of testing its name
    stock_pipeline: bool = False  # a transformer folder in the stock Hub layout: `transformers.pipeline` loads it
    neighbour_bank: bool = False  # its loaded scorer (or one of its members) may hold a neighbour bank with documents
    learnable_bank: bool = False  # it owns a neighbour bank that `cpc learn` adds rows to (cpc_models.learn.banks)

    @property
    def exports_onnx(self) -> bool:
        """``cpc export`` writes ONNX files for it (it has an ``onnx`` backend to read them)."""
        return "onnx" in self.backends

    def needs_torch(self, backend: str) -> bool:
        """Whether loading it with ``backend`` (one of its own, not "auto") imports torch."""
        return "torch" in self.backends[backend].modules

    @property
    def library_name(self) -> str:
        """The model card's ``library_name``: what loads the folder."""
        return "transformers" if self.stock_pipeline else "patent-cpc"

    def code(self):
        return importlib.import_module(self.module)

    def config_class(self):
        return self.code().Config

    def train(self, config) -> dict:
        require(self.train_needs.modules, self.train_needs.extra, f"training a {self.name!r} model")
        return self.code().train(config)

    def load(self, model_dir: Path, backend: str = "auto") -> Scorer:
        if backend == "auto":
            backend = self.code().auto_backend(model_dir) if self.auto_choice else next(iter(self.backends))
        if backend not in self.backends:
            raise MisconfiguredError(
                f"{model_dir}: a {self.name!r} model has no {backend!r} backend; use {' or '.join(self.backends)}"
            )
        needs = self.backends[backend]
        require(needs.modules, needs.extra, f"a {self.name!r} model ({backend})")
        return self.code().load(Path(model_dir), backend)


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "tfidf-svm",
            "cpc_models.kinds.tfidf_svm",
            "TF-IDF (words, title, optional chars) with one linear SVM "
            "(or logistic regression) per code; saved without pickle.",
            {"native": NATIVE_SKLEARN},
            TRAIN_SKLEARN,
        ),
        Kind(
            "tfidf-knn",
            "cpc_models.kinds.tfidf_knn",
            "TF-IDF with a similarity-weighted vote of the most similar training patents; saved without pickle.",
            {"native": NATIVE_SKLEARN},
            TRAIN_SKLEARN,
            neighbour_bank=True,
            learnable_bank=True,
        ),
        Kind(
            "minilm-knn",
            "cpc_models.kinds.minilm_knn",
            "Frozen MiniLM embeddings (cached): similarity-weighted vote of the nearest training patents.",
            {"native": ENCODER},
            TRAIN_ENCODER,
            learnable_bank=True,
        ),
        Kind(
            "minilm-logreg",
            "cpc_models.kinds.minilm_logreg",
            "Frozen MiniLM embeddings (cached) with one logistic regression per code.",
            {"native": ENCODER},
            TRAIN_ENCODER,
        ),
        Kind(
            "transformer",
            "cpc_models.kinds.transformer",
            "Fine-tune a transformer with fastai: head first, then all layers; best epoch by validation micro-F1.",
            {
                "onnx": Needs("onnx", ("onnxruntime", "transformers", "tokenizers")),
                "torch": Needs("train", ("torch", "transformers")),
            },
            Needs("train", ("torch", "transformers", "fastai", "sklearn")),
            auto_choice=True,
            stock_pipeline=True,
        ),
        Kind(
            "ensemble",
            "cpc_models.kinds.ensemble",
            "Weighted mean of model folders; weights and thresholds tuned on validation.",
            {"native": Needs("space")},
            Needs("space"),
            neighbour_bank=True,
        ),
    )
}

# folder types written before the kinds had their own names: (model_dir, config) -> kind
LEGACY_TYPES = {
    "linear": lambda d, c: "tfidf-knn" if (d / KNN_BANK_FILE).exists() or (d / BANK_DIR).is_dir() else "tfidf-svm",
    "embedding": lambda d, c: "minilm-knn" if _embedding_head(d, c) == "knn" else "minilm-logreg",
}

# `cpc train` commands from before the kinds had their own names -> the kind each runs now
LEGACY_COMMANDS = {
    "linear": "tfidf-svm",
    "linear --classifier knn": "tfidf-knn",
    "embedding": "minilm-logreg",
    "knn": "minilm-knn",
}


def _embedding_head(model_dir: Path, config: dict) -> str:
    if "head" in config:
        return config["head"]
    path = model_dir / ENCODER_FILE
    return json.loads(path.read_text()).get("head", "knn") if path.exists() else "knn"


def kind_of(model_dir: str | Path, config: dict | None = None) -> str:
    """The kind of a model folder. The one place where a config with no ``cpc_model_type`` (a stock Hugging Face
    folder) means ``transformer``, and where old type names are mapped to kinds."""
    model_dir = Path(model_dir)
    config = read_model_config(model_dir) if config is None else config
    name = config.get("cpc_model_type")
    if name is None:
        return "transformer"
    if isinstance(name, str) and name in LEGACY_TYPES:
        return LEGACY_TYPES[name](model_dir, config)
    if not isinstance(name, str) or name not in KINDS:
        raise MisconfiguredError(f"{model_dir}: unknown model kind {name!r}; known: {', '.join(KINDS)}")
    return name


def folder_kind(model_dir: str | Path, config: dict | None = None) -> Kind:
    """The ``Kind`` of a model folder (``kind_of``), to ask it for its capabilities."""
    return KINDS[kind_of(model_dir, config)]


def get_kind(name: str) -> Kind:
    if name not in KINDS:
        raise InputError(f"unknown model kind {name!r}; known: {', '.join(KINDS)}")
    return KINDS[name]


def read_model_config(model_dir: str | Path) -> dict:
    model_dir = Path(model_dir)
    path = model_dir / CONFIG_FILE
    if not model_dir.is_dir():
        raise InputError(f"model folder {model_dir} does not exist")
    if not path.exists():
        raise InputError(f"{model_dir} is not a model folder (no {CONFIG_FILE})")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise InputError(f"{path} is not a JSON object: not a model folder")
    return config


def label_config(labels: list[str]) -> dict:
    return {
        "id2label": {str(i): code for i, code in enumerate(labels)},
        "label2id": {code: i for i, code in enumerate(labels)},
        "problem_type": "multi_label_classification",
    }


def labels_from_config(config: dict) -> list[str]:
    id2label = config.get("id2label") or {}
    return [id2label[str(i)] for i in range(len(id2label))]


def folder_labels(model_dir: str | Path) -> list[str]:
    return labels_from_config(read_model_config(model_dir))


def write_model_config(model_dir: str | Path, kind: str, labels: list[str], **extra) -> dict:
    config = {"cpc_model_type": kind, **label_config(labels), **extra}
    Path(model_dir).mkdir(parents=True, exist_ok=True)
    (Path(model_dir) / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return config


def load_scorer(model_dir: str | Path, backend: str = "auto") -> Scorer:
    """Load any model folder by its kind. ``backend``: one of ``BACKENDS``; a kind refuses one it does not serve."""
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    model_dir = Path(model_dir)
    name = kind_of(model_dir)
    try:
        return KINDS[name].load(model_dir, backend)
    except FileNotFoundError as exc:  # a folder missing one of its kind's files: one line, not a traceback
        raise InputError(f"{model_dir} is an incomplete {name} model folder: {exc.filename} is missing") from None
