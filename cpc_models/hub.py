"""Model repos on the Hub: ``push_model`` (``cpc push model``) and ``resolve_model`` (every consumer's way in).

``resolve_model("hub/models/cpc-default")`` returns the folder; ``resolve_model("owner/name", revision)`` downloads
the repo with ``snapshot_download`` (cache, ``revision``, ``HF_HUB_OFFLINE=1`` as the Hub client does them).
``CpcPredictor.from_pretrained``, ``cpc predict|evaluate|serve|space`` and the Space all go through it.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from cpc_dataset.errors import InputError
from cpc_dataset.hub import PushResult, push_folder, resolve_repo

log = logging.getLogger(__name__)

# Training leftovers that a user of the model does not need (and pickles, which are never published).
MODEL_IGNORE = [
    "predictions/*", "*/predictions/*", "history.json", "*/history.json", "report/*", "*/report/*",
    "models/*", "checkpoints/*", "checkpoint-*", "*.pth", "*.pkl", "*.pickle", "*.ckpt", "*.tmp", "*.log",
]
USAGE = re.compile(r"(## Usage\s*\n\s*```python\n)(.*?)(\n```)", re.S)


def resolve_model(path_or_repo_id: str | Path, revision: str | None = None) -> Path:
    """A model folder as is, or a Hub model repo id downloaded to (or read from) the local cache."""
    return resolve_repo(path_or_repo_id, "model", revision)


def usage_snippet(repo_id: str, config: dict, has_onnx: bool, threshold: float = 0.5) -> str:
    """Python that loads the model by ``repo_id`` as published: stock tools first where they work."""
    lines = []
    if config.get("cpc_model_type", "transformer") == "transformer":
        lines += [
            "from transformers import pipeline",
            f'clf = pipeline("text-classification", model="{repo_id}", top_k=None)  # sigmoid score per CPC code',
            'scores = clf("A neural network is trained to classify images ...")[0]',
            f"codes = [s for s in scores if s['score'] >= {threshold:.2f}]  # tuned global threshold; per-code ones in thresholds.json",
            "",
        ]
        if has_onnx:
            lines += [
                "import numpy as np, onnxruntime as ort",
                "from huggingface_hub import hf_hub_download",
                "from transformers import AutoTokenizer",
                f'tok = AutoTokenizer.from_pretrained("{repo_id}")',
                f'session = ort.InferenceSession(hf_hub_download("{repo_id}", "onnx/model_quantized.onnx"))',
                'enc = tok(["A neural network ..."], return_tensors="np", truncation=True)',
                "names = {i.name for i in session.get_inputs()}",
                "logits = session.run(None, {k: v for k, v in enc.items() if k in names})[0]",
                "probs = 1 / (1 + np.exp(-logits))",
                "",
            ]
    lines += [
        "from cpc_models import CpcPredictor  # pip install patent-cpc",
        f'predictor = CpcPredictor.from_pretrained("{repo_id}")',
        'predictor.predict(["A neural network is trained to classify images ..."])',
    ]
    return "\n".join(lines)


def card_for_repo(card: str, repo_id: str, config: dict, has_onnx: bool, threshold: float = 0.5) -> str:
    """The model card with its usage snippet written for ``repo_id`` (cards are written before a repo id is known)."""
    snippet = usage_snippet(repo_id, config, has_onnx, threshold)
    if USAGE.search(card):
        return USAGE.sub(lambda m: m.group(1) + snippet + m.group(3), card, count=1)
    return card.rstrip("\n") + f"\n\n## Usage\n\n```python\n{snippet}\n```\n"


def push_model(folder: str | Path, repo_id: str, private: bool = False, revision: str | None = None,
               what: str | None = None) -> PushResult:
    """Push a model folder (weights, tokenizer, ONNX files, thresholds, metrics, card), not its training leftovers."""
    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.exists():
        raise InputError(f"{folder} is not a model folder (no config.json)")
    config = json.loads(config_path.read_text())
    if not config.get("id2label"):
        raise InputError(f"{config_path} has no id2label: not a CPC model folder")
    replace = {}
    has_onnx = (folder / "onnx" / "model_quantized.onnx").exists() or (folder / "onnx" / "model.onnx").exists()
    if (folder / "README.md").exists():
        threshold = json.loads((folder / "thresholds.json").read_text()).get("global", 0.5) if (folder / "thresholds.json").exists() else 0.5
        card = card_for_repo((folder / "README.md").read_text(encoding="utf-8"), repo_id, config, has_onnx, threshold)
        replace["README.md"] = card.encode("utf-8")
    kind = config.get("cpc_model_type", "transformer")
    what = what or f"{kind} model ({len(config['id2label'])} CPC codes{', ONNX' if has_onnx else ''}) with thresholds, metrics and card"
    return push_folder(folder, repo_id, "model", what=what, private=private, revision=revision,
                       ignore_patterns=MODEL_IGNORE, replace=replace)
