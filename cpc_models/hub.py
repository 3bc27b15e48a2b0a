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
from typing import TYPE_CHECKING

from cpc_dataset.errors import InputError
from cpc_dataset.hub import PushResult, push_folder, resolve_repo
from cpc_models.files import (
    CALIBRATION_FILE,
    CARD_FILE,
    CONFIG_FILE,
    LEARN_PREVIOUS_DIR,
    LEVELS_FILE,
    METRICS_FILE,
    ONNX_DIR,
    ONNX_EXPORT_CONFIG_FILE,
    ONNX_FP32_FILE,
    ONNX_INT8_FILE,
    PREDICTIONS_DIR,
    SCOPE_FILE,
    THRESHOLDS_FILE,
    TRAIN_CONFIG_FILE,
)

if TYPE_CHECKING:
    from cpc_models.registry import Kind

log = logging.getLogger(__name__)

# Training leftovers that a user of the model does not need (and pickles, which are never published).
MODEL_IGNORE = [
    f"{LEARN_PREVIOUS_DIR}/*",  # cpc learn --in-place: the files it changed, kept for --undo
    f"{PREDICTIONS_DIR}/*",
    f"*/{PREDICTIONS_DIR}/*",
    "history.json",
    "*/history.json",
    "report/*",
    "*/report/*",
    "models/*",
    "checkpoints/*",
    "checkpoint-*",
    "*.pth",
    "*.pkl",
    "*.pickle",
    "*.ckpt",
    "*.tmp",
    "*.log",
]
VARIANTS = ("all", "fp32", "int8")
# int8 twin: the quantized ONNX file with what reads it (tokenizer, labels, thresholds), no fp32 weights.
INT8_FILE = f"{ONNX_DIR}/{ONNX_INT8_FILE}"
FP32_FILE = f"{ONNX_DIR}/{ONNX_FP32_FILE}"
INT8_ALLOW = [
    CARD_FILE,
    CONFIG_FILE,
    THRESHOLDS_FILE,
    CALIBRATION_FILE,
    LEVELS_FILE,
    SCOPE_FILE,
    METRICS_FILE,
    TRAIN_CONFIG_FILE,
    INT8_FILE,
    f"{ONNX_DIR}/{ONNX_EXPORT_CONFIG_FILE}",
    "tokenizer*",
    "vocab*",
    "merges.txt",
    "special_tokens_map.json",
    "*.model",
]
INT8_METRICS = {
    "micro_f1": ("f1", "micro-F1"),
    "macro_f1": ("f1", "macro-F1"),
    "precision_at_1": ("precision_at_1", "P@1"),
    "subclass_micro_f1": ("f1", "subclass micro-F1"),
}
USAGE = re.compile(r"(## Usage\s*\n\s*```python\n)(.*?)(\n```)", re.S)


def resolve_model(path_or_repo_id: str | Path, revision: str | None = None) -> Path:
    """A model folder as is, or a Hub model repo id downloaded to (or read from) the local cache."""
    return resolve_repo(path_or_repo_id, "model", revision)


def usage_snippet(
    repo_id: str, kind: Kind, onnx_file: str | None, calibrated: bool = False, torch_weights: bool = True
) -> str:
    """Python that loads the model by ``repo_id`` as published: stock tools first where they work, deciding codes
    as the project does (Platt calibration per code where ``calibration.json`` exists, then ``thresholds.json``)."""
    lines = []
    transformer = kind.stock_pipeline  # the stock tools (pipeline, onnxruntime + AutoTokenizer) read the folder
    if transformer and (torch_weights or onnx_file):
        lines += [
            "import json, math",
            "from huggingface_hub import hf_hub_download",
            f'thresholds = json.load(open(hf_hub_download("{repo_id}", "{THRESHOLDS_FILE}")))',
        ]
        if calibrated:
            lines += [
                f'calibration = json.load(open(hf_hub_download("{repo_id}", "{CALIBRATION_FILE}")))',
                "def calibrate(code, p):  # Platt per code (the thresholds were tuned on calibrated scores)",
                '    a, b = calibration["per_label"].get(code, calibration["global"])',
                "    p = min(max(p, 1e-6), 1 - 1e-6)",
                "    return 1 / (1 + math.exp(-(a * math.log(p / (1 - p)) + b)))",
            ]
        else:
            lines += ["def calibrate(code, p):", "    return p"]
        lines += [
            "def decide(scores):  # {code: score} -> decided codes, best first: over their threshold, plus the best min_codes",
            '    per_label = {} if thresholds["mode"] == "global" else thresholds["per_label"]',
            "    ranked = sorted(scores.items(), key=lambda kv: -kv[1])",
            '    top = ranked[: thresholds.get("min_codes", 1)]',
            '    return [(c, s) for c, s in ranked if s >= per_label.get(c, thresholds["global"]) or (c, s) in top]',
            "",
        ]
    if transformer and torch_weights:
        lines += [
            "from transformers import pipeline",
            f'clf = pipeline("text-classification", model="{repo_id}", top_k=None)  # sigmoid score per CPC code',
            'raw = clf(["A neural network is trained to classify images ..."])[0]',
            'print(decide({s["label"]: calibrate(s["label"], s["score"]) for s in raw}))',
            "",
        ]
    if transformer and onnx_file:
        lines += [
            "import numpy as np, onnxruntime as ort",
            "from transformers import AutoTokenizer",
            f'tok = AutoTokenizer.from_pretrained("{repo_id}")',
            f'session = ort.InferenceSession(hf_hub_download("{repo_id}", "{onnx_file}"))',
            'enc = tok(["A neural network is trained to classify images ..."], return_tensors="np", truncation=True)',
            "names = {i.name for i in session.get_inputs()}",
            "logits = session.run(None, {k: v for k, v in enc.items() if k in names})[0]",
            "probs = 1 / (1 + np.exp(-logits))  # (texts, codes); column j is config.json's id2label[str(j)]",
            f'id2label = json.load(open(hf_hub_download("{repo_id}", "{CONFIG_FILE}")))["id2label"]',
            "print(decide({id2label[str(j)]: calibrate(id2label[str(j)], float(p)) for j, p in enumerate(probs[0])}))",
            "",
        ]
    lines += [
        "from cpc_models import CpcPredictor  # pip install patent-cpc",
        f'predictor = CpcPredictor.from_pretrained("{repo_id}")',
        'predictor.predict(["A neural network is trained to classify images ..."])',
    ]
    return "\n".join(lines)


def card_for_repo(
    card: str, repo_id: str, kind: Kind, onnx_file: str | None, calibrated: bool = False, torch_weights: bool = True
) -> str:
    """The model card with its usage snippet written for ``repo_id`` (cards are written before a repo id is known)."""
    snippet = usage_snippet(repo_id, kind, onnx_file, calibrated, torch_weights)
    if USAGE.search(card):
        return USAGE.sub(lambda m: m.group(1) + snippet + m.group(3), card, count=1)
    return card.rstrip("\n") + f"\n\n## Usage\n\n```python\n{snippet}\n```\n"


def int8_card(card: str, export_config: dict) -> str:
    """The card of the int8 twin: model-index metrics of the int8 file (test split, from ``onnx/export_config.json``)."""
    import yaml

    header, body = card[4:].split("\n---\n", 1)
    meta = yaml.safe_load(header)
    int8 = (export_config.get("test_metrics") or {}).get("int8", {})
    for entry in meta.get("model-index", []):
        entry["name"] = f"{entry['name']}-int8"
        for result in entry.get("results", []):
            result["metrics"] = [
                {"type": t, "name": f"{label} (int8 ONNX)", "value": float(int8[k])}
                for k, (t, label) in INT8_METRICS.items()
                if k in int8
            ]
    meta["library_name"] = "onnx"
    meta["tags"] = [*meta.get("tags", []), "onnx", "int8"]
    note = (
        "\n> **int8 twin**: `onnx/model_quantized.onnx` only (8-bit weights, "
        f"{(export_config.get('quantization') or {}).get('method', 'weight-only int8')}); the metrics above are the int8 file's on the "
        "test split. The fp32 weights are in the fp32 repo.\n"
    )
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n" + note + body


def push_model(
    folder: str | Path,
    repo_id: str,
    private: bool = False,
    revision: str | None = None,
    what: str | None = None,
    variant: str = "all",
) -> PushResult:
    """Push a model folder (weights, tokenizer, ONNX files, thresholds, metrics, card), not its training leftovers,
    with the Inference Endpoints files (``handler.py``, ``requirements.txt``) written for it now.

    ``variant``: "all" (everything), "fp32" (without the int8 file) or "int8" (the int8 ONNX file and what reads it,
    with the int8 file's test metrics in the card): the fp32 model and its quantized twin as two repos.
    """
    folder = Path(folder)
    if variant not in VARIANTS:
        raise InputError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    from cpc_models.registry import folder_kind, read_model_config

    config = read_model_config(folder)  # one-line errors: no folder, no config.json, invalid JSON
    if not config.get("id2label"):
        raise InputError(f"{folder / CONFIG_FILE} has no id2label: not a CPC model folder")
    kind = folder_kind(folder, config)
    replace, allow, ignore = {}, None, list(MODEL_IGNORE)
    has_int8 = (folder / INT8_FILE).exists()
    if variant == "int8":
        if not has_int8:
            raise InputError(f"{folder} has no {INT8_FILE}: run `cpc export --model {folder}` first")
        allow = INT8_ALLOW
    elif variant == "fp32":
        ignore.append(INT8_FILE)
    onnx_file = INT8_FILE if has_int8 and variant != "fp32" else FP32_FILE
    onnx_file = onnx_file if (folder / onnx_file).exists() else None
    if (folder / CARD_FILE).exists():
        card = (folder / CARD_FILE).read_text(encoding="utf-8")
        if variant == "int8":
            export_path = folder / ONNX_DIR / ONNX_EXPORT_CONFIG_FILE
            card = int8_card(card, json.loads(export_path.read_text()) if export_path.exists() else {})
        card = card_for_repo(
            card, repo_id, kind, onnx_file, (folder / CALIBRATION_FILE).exists(), torch_weights=variant != "int8"
        )
        replace[CARD_FILE] = card.encode("utf-8")
    from cpc_models.endpoint import endpoint_files

    replace.update({name: text.encode("utf-8") for name, text in endpoint_files(folder).items()})  # always current
    label = {"all": "", "fp32": " fp32", "int8": " int8 ONNX"}[variant]
    what = (
        what
        or f"{kind.name}{label} model ({len(config['id2label'])} CPC codes{', ONNX' if onnx_file else ''}) with thresholds, metrics and card"
    )
    return push_folder(
        folder,
        repo_id,
        "model",
        what=what,
        private=private,
        revision=revision,
        allow_patterns=allow,
        ignore_patterns=ignore,
        replace=replace,
    )
