"""ONNX export (``torch.onnx``) and int8 weight quantization (round-to-nearest by default; GPTQ or onnxruntime's dynamic as options), in optimum's layout.

``onnx/model.onnx`` (fp32) and ``onnx/model_quantized.onnx`` (int8 feed-forward weights), with
``onnx/export_config.json`` saying how they were made and how closely they agree with torch.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from cpc_dataset.errors import MisconfiguredError
from cpc_models.files import TORCH_WEIGHTS_FILES
from cpc_models.onnx import EXPORT_CONFIG, FP32_FILE, INT8_FILE, ONNX_DIR

log = logging.getLogger(__name__)

OPSET = 17
PARITY_DOCS = 500  # validation abstracts on which ONNX files are compared with torch


def _require_transformer(model_dir: Path) -> dict:
    from cpc_models.registry import KINDS, folder_kind, read_model_config

    config = read_model_config(model_dir)
    kind = folder_kind(model_dir, config)
    if not kind.exports_onnx:
        exporting = " or ".join(k.name for k in KINDS.values() if k.exports_onnx)
        raise MisconfiguredError(f"{model_dir}: only {exporting} models export to ONNX (this is a {kind.name!r} model)")
    if not any((model_dir / f).exists() for f in TORCH_WEIGHTS_FILES):
        raise MisconfiguredError(f"{model_dir}: no weights ({TORCH_WEIGHTS_FILES[0]}) to export")
    return config


def export_fp32(model_dir: Path, opset: int = OPSET) -> Path:
    """Export logits with dynamic batch and sequence axes."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32).eval()
    model.config.return_dict = False
    sample = tokenizer(["a neural network", "a longer sample text for the export"], padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["logits"] = {0: "batch"}
    out = model_dir / ONNX_DIR / FP32_FILE
    out.parent.mkdir(exist_ok=True)

    class Logits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            return self.inner(**dict(zip(names, args)))[0]

    with torch.no_grad():
        torch.onnx.export(
            Logits(model),
            tuple(sample[n] for n in names),
            str(out),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
    return out


CALIBRATION_DOCS = 1024  # training abstracts whose activations GPTQ balances its rounding errors on
CALIBRATION_SEED = 0
_WEIGHT_ONLY = {
    "type": "weight-only",
    "bits": 8,
    "block_size": 16,
    "symmetric": False,
    "embeddings": "fp16",
    "kept_fp32": "attention projections (MatMuls named *attention*/*attn*)",
}
QUANTIZATIONS = {
    # the default: weight-only int8 (block 16, asymmetric) for the feed-forward MatMuls, rounded to nearest
    # (onnxruntime's MatMulNBitsQuantizer), attention projections in fp32, embedding tables in fp16; needs no
    # calibration text. Fine-tuned MiniLM-L6 (benchmarks/results/int8.md): code sets agree with fp32 on 97.7 % of
    # validation and 96.6 % of the labelled test abstracts; test micro-F1 0.4308 (fp32 0.4304); 46 vs 87 MB.
    "int8-rtn": {**_WEIGHT_ONLY, "algorithm": "round-to-nearest"},
    # the same layout with the rounding errors compensated by GPTQ on training abstracts (a minute of calibration,
    # needs the dataset): agreement 98.0 / 97.3 %, test micro-F1 0.4306 — no gain in F1, so an option, not the default.
    "int8-gptq": {**_WEIGHT_ONLY, "algorithm": "gptq", "damp": 0.01},
    # onnxruntime's dynamic quantization (int8 weights and activations): smaller, but measured max |Δp| 0.1-0.35
    "int8-dynamic": {
        "type": "dynamic",
        "weight_type": "QInt8",
        "per_channel": True,
        "ops": ["MatMul", "Gemm", "Gather"],
    },
}
# names accepted for the ones above: "int8" is the default int8 scheme
ALIASES = {"int8": "int8-rtn"}
QUANTIZE_CHOICES = (*ALIASES, *QUANTIZATIONS)


def quantization_name(method: str) -> str:
    name = ALIASES.get(method, method)
    if name not in QUANTIZATIONS:
        raise MisconfiguredError(f"unknown quantization {method!r}; choose one of {', '.join(QUANTIZE_CHOICES)}")
    return name


def attention_matmuls(model) -> list[str]:
    """Names of the MatMul nodes inside attention blocks (their names follow the torch module path)."""
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and ("attention" in n.name or "attn" in n.name)]


def weight_matmuls(model, block_size: int) -> list:
    """MatMul nodes outside attention with a constant 2-D weight whose input size is a multiple of ``block_size``."""
    tables = {t.name: t for t in model.graph.initializer}
    skip = set(attention_matmuls(model))
    nodes = []
    for node in model.graph.node:
        if node.op_type != "MatMul" or node.name in skip or node.input[1] not in tables:
            continue
        dims = list(tables[node.input[1]].dims)
        if len(dims) == 2 and dims[0] % block_size == 0:
            nodes.append(node)
    return nodes


def calibration_sample(dataset_dir: str | Path, n: int = CALIBRATION_DOCS, seed: int = CALIBRATION_SEED) -> list[str]:
    """``n`` abstracts drawn at random (fixed seed) from the training split: never validation or test text."""
    from cpc_models.data import load_split

    texts = [t for t in load_split(dataset_dir, "train").texts if isinstance(t, str) and t.strip()]
    pick = np.random.default_rng(seed).choice(len(texts), size=min(n, len(texts)), replace=False)
    return [texts[i] for i in sorted(pick)]


def quantize_int8(
    fp32_path: Path, method: str = "int8-rtn", calibration_texts: list[str] | None = None, out: Path | None = None
) -> tuple[Path, dict]:
    """Write ``out`` (default ``model_quantized.onnx`` beside ``fp32_path``, which must sit in its model folder's
    ``onnx/``) with one of ``QUANTIZATIONS``; return its path and settings."""
    out = out or fp32_path.with_name(INT8_FILE)
    method = quantization_name(method)
    spec = {"method": method, **QUANTIZATIONS[method]}
    if method == "int8-dynamic":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(
            str(fp32_path),
            str(out),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Gemm", "Gather"],
        )
        return out, spec
    import onnx

    fp32 = onnx.load(str(fp32_path))
    if method == "int8-gptq":
        if not calibration_texts:
            raise MisconfiguredError("int8-gptq needs calibration abstracts: give a dataset folder, or choose int8-rtn")
        model, spec["calibration"] = _gptq(fp32, fp32_path, calibration_texts, spec)
    else:
        model = _round_to_nearest(fp32, spec)
    _embeddings_to_fp16(model)
    onnx.save_model(model, str(out))
    return out, spec


def _gptq(model, fp32_path: Path, texts: list[str], spec: dict):
    from tqdm.auto import tqdm

    from cpc_models.onnx import gptq
    from cpc_models.onnx.runtime import OnnxScorer

    nodes = weight_matmuls(model, spec["block_size"])
    scorer = OnnxScorer.from_folder(fp32_path.parent.parent, fp32_path)
    ordered = sorted(texts, key=len)  # similar lengths per batch: little padding
    batches = (scorer.encode(ordered[i : i + 16]) for i in range(0, len(ordered), 16))
    batches = tqdm(batches, total=-(-len(ordered) // 16), desc="calibrating", unit="batch", leave=False)
    activations = sorted({n.input[0] for n in nodes})
    sums, tokens = gptq.hessians(model, activations, batches)
    gptq.replace_matmuls(model, [n.name for n in nodes], sums, spec["block_size"], spec["damp"])
    return model, {"docs": len(texts), "tokens": tokens}


def _round_to_nearest(model, spec: dict):
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

    config = DefaultWeightOnlyQuantConfig(
        block_size=spec["block_size"], is_symmetric=spec["symmetric"], bits=8, op_types_to_quantize=("MatMul",)
    )
    quantizer = MatMulNBitsQuantizer(model, algo_config=config, nodes_to_exclude=attention_matmuls(model))
    quiet = logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # it logs one INFO line per graph node
    try:
        quantizer.process()
    finally:
        quiet.setLevel(level)
    return quantizer.model.model


def _embeddings_to_fp16(model) -> None:
    """Store each Gather table (token, position, type embeddings) in fp16, cast back to fp32 after the lookup."""
    import onnx
    from onnx import helper, numpy_helper

    tables = {t.name: t for t in model.graph.initializer}
    nodes = list(model.graph.node)
    for node in nodes:
        if node.op_type != "Gather" or node.input[0] not in tables:
            continue
        table = tables[node.input[0]]
        if table.data_type != onnx.TensorProto.FLOAT or len(table.dims) != 2:
            continue
        table.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(table).astype(np.float16), table.name))
        lookup = node.output[0] + "_fp16"
        cast = helper.make_node(
            "Cast", [lookup], [node.output[0]], to=onnx.TensorProto.FLOAT, name=node.name + "_to_fp32"
        )
        node.output[0] = lookup
        model.graph.node.insert(list(model.graph.node).index(node) + 1, cast)


def code_set_agreement(decided: np.ndarray, reference: np.ndarray) -> float:
    """Share of documents (rows) whose decided code set is identical in both 0/1 matrices."""
    return float((decided == reference).all(axis=1).mean())


def parity(model_dir: Path, texts: list[str]) -> dict:
    """Max |Δprobability| of each ONNX file against torch on ``texts``, and how often the decided code sets agree."""
    from cpc_models.kinds.transformer.train import load_transformer
    from cpc_models.onnx.runtime import OnnxScorer
    from cpc_models.scoring.calibration import Calibration, calibrated_scores
    from cpc_models.scoring.thresholds import Thresholds

    torch_scorer = load_transformer(model_dir, backend="torch")
    labels, calibration = torch_scorer.labels, Calibration.load(model_dir)
    reference = torch_scorer.predict_proba(texts)
    thresholds = Thresholds.load(model_dir)
    decided = thresholds.apply(calibrated_scores(calibration, reference, labels), labels)
    report = {"n_texts": len(texts)}
    for name in (FP32_FILE, INT8_FILE):
        path = model_dir / ONNX_DIR / name
        if not path.exists():
            continue
        scores = OnnxScorer.from_folder(model_dir, path).predict_proba(texts)
        key = "fp32" if name == FP32_FILE else "int8"
        report[f"{key}_max_abs_diff"] = float(np.abs(scores - reference).max())
        report[f"{key}_code_set_agreement"] = code_set_agreement(
            thresholds.apply(calibrated_scores(calibration, scores, labels), labels), decided
        )
    return report


def export_onnx(
    model_dir: str | Path,
    quantize: str | None = "int8-rtn",
    parity_texts: list[str] | None = None,
    dataset_dir: str | Path | None = None,
    opset: int = OPSET,
    calibration_texts: list[str] | None = None,
    calibration_docs: int = CALIBRATION_DOCS,
) -> dict:
    """Export, quantize, check parity, and (with ``dataset_dir``) score fp32 and int8 on the test split.

    ``quantize``: a key of ``QUANTIZATIONS`` or ``ALIASES`` ("int8" is round-to-nearest), or None for fp32 only.
    ``int8-gptq`` calibrates on ``calibration_texts``, or else on ``calibration_docs`` training abstracts of
    ``dataset_dir``.
    """
    model_dir = Path(model_dir)
    _require_transformer(model_dir)
    if quantize is not None:
        quantize = quantization_name(quantize)
    source = {"split": "given by the caller"} if calibration_texts else {"split": "train", "seed": CALIBRATION_SEED}
    if quantize == "int8-gptq" and calibration_texts is None:
        if dataset_dir is None:
            raise MisconfiguredError("int8-gptq needs calibration abstracts: give a dataset folder, or choose int8-rtn")
        calibration_texts = calibration_sample(dataset_dir, calibration_docs)
    t0 = time.perf_counter()
    fp32 = export_fp32(model_dir, opset)
    files = {"fp32": str(fp32.relative_to(model_dir))}
    spec = None
    if quantize:
        int8, spec = quantize_int8(fp32, quantize, calibration_texts)
        if "calibration" in spec:
            spec["calibration"].update(source)
        files["int8"] = str(int8.relative_to(model_dir))
    report: dict = {
        "exporter": "torch.onnx (TorchScript)",
        "opset": opset,
        "quantization": spec,
        "files": files,
        "sizes_mb": {k: round((model_dir / v).stat().st_size / 2**20, 2) for k, v in files.items()},
        "export_seconds": round(time.perf_counter() - t0, 1),
    }
    if dataset_dir is not None or parity_texts is not None:
        from cpc_models.data import load_split

        if parity_texts is None:
            parity_texts = load_split(dataset_dir, "validation").texts[:PARITY_DOCS]
        report["parity"] = parity(model_dir, parity_texts)
    if dataset_dir is not None:
        report["test_metrics"] = test_metrics_by_file(model_dir, dataset_dir, files)
    (model_dir / ONNX_DIR / EXPORT_CONFIG).write_text(json.dumps(report, indent=2) + "\n")
    from cpc_models.endpoint import write_endpoint_files

    write_endpoint_files(model_dir)  # the Endpoint now loads it with onnxruntime: [onnx] instead of torch
    return report


def test_metrics_by_file(model_dir: Path, dataset_dir: str | Path, files: dict) -> dict:
    """Test-split micro/macro F1 of each ONNX file (thresholds tuned on validation), and how often int8 decides as fp32
    does: whole code sets per document, and single (document, code) decisions."""
    from cpc_models.data import load_split
    from cpc_models.onnx.runtime import OnnxScorer
    from cpc_models.scoring.calibration import Calibration, calibrated_scores
    from cpc_models.scoring.metrics import compute_metrics
    from cpc_models.scoring.thresholds import Thresholds

    thresholds, calibration = Thresholds.load(model_dir), Calibration.load(model_dir)
    test = load_split(dataset_dir, "test")
    keep = test.y.sum(axis=1) > 0
    texts = [t for t, k in zip(test.texts, keep) if k]
    out, decided = {}, {}
    for key, rel in files.items():
        scorer = OnnxScorer.from_folder(model_dir, model_dir / rel)
        scores = calibrated_scores(calibration, scorer.predict_proba(texts), scorer.labels)
        decided[key] = thresholds.apply(scores, scorer.labels)
        m = compute_metrics(test.y[keep], scores, decided[key], scorer.labels)
        out[key] = {k: round(m[k], 4) for k in ("micro_f1", "macro_f1", "precision_at_1", "subclass_micro_f1")}
    if "int8" in decided and "fp32" in decided:
        out["n_docs"] = len(texts)
        out["int8_vs_fp32_code_set_agreement"] = round(code_set_agreement(decided["int8"], decided["fp32"]), 4)
        out["int8_vs_fp32_decision_agreement"] = round(
            float((decided["int8"] == decided["fp32"]).mean()), 6
        )  # per (doc, code)
    return out
