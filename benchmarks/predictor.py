"""The original project's prediction path against ``CpcPredictor``, side by side in one run.

Original path (its Space): a distilroberta-base-sized model (random weights: speed only), exported to ONNX and
quantized with onnxruntime's dynamic int8, called one text per call: tokenizer -> session.run -> torch.sigmoid.
Ours: ``CpcPredictor`` on the default model, and on a transformer folder (``--transformer``) with each backend
(torch fp32, ONNX fp32, ONNX int8). Same test abstracts for all; each contender runs in its own process, so
peak RSS is its own. Prints ratios against the original path. Not part of the test run.

Run: ``.venv/bin/python benchmarks/predictor.py [--n 1000] [--transformer hub/models/minilm-l6-ft]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.timing import folder_mb, peak_rss_mb  # noqa: E402


def build_original(out: Path, texts: list[str], n_labels: int) -> Path:
    """distilroberta-base architecture, random weights, byte-level BPE trained on the fly, int8 dynamic ONNX."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaForSequenceClassification

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=50265, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=512,
    )
    config = RobertaConfig(
        vocab_size=50265,
        num_hidden_layers=6,
        num_labels=n_labels,
        max_position_embeddings=514,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        type_vocab_size=1,
    )
    model = RobertaForSequenceClassification(config).eval()
    model.config.return_dict = False
    out.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(out)
    sample = tok(["a sample text", "another longer sample text here"], padding=True, return_tensors="pt")
    axes = {"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}, "logits": {0: "b"}}
    with torch.no_grad():
        torch.onnx.export(
            model,
            (sample["input_ids"], sample["attention_mask"]),
            str(out / "model.onnx"),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    quantize_dynamic(str(out / "model.onnx"), str(out / "model_quantized.onnx"), weight_type=QuantType.QInt8)
    (out / "model.onnx").unlink()
    return out


def median_per_s(call, texts: list[str], repeat: int) -> float:
    """Abstracts per second of ``call(texts)``: the median of ``repeat`` timed calls after one untimed call."""
    call(texts)
    times = []
    for _ in range(repeat):
        s = time.perf_counter()
        call(texts)
        times.append(time.perf_counter() - s)
    return round(len(texts) / float(np.median(times)), 1)


def floor_per_s(predictor, texts: list[str], repeat: int) -> float | None:
    """The floor of a TF-IDF model: its transform and one linear scoring (the linear member's), abstracts/s, timed
    as the batch is (``median_per_s``)."""
    members = getattr(predictor.scorer, "members", [predictor.scorer])
    linear = next((m for m in members if hasattr(m, "coef") and hasattr(m, "vectorizer")), None)
    if linear is None:
        return None
    from cpc_models.kinds.sparse import matmul_dense

    return median_per_s(lambda ts: matmul_dense(linear.vectorizer.transform(ts), linear.coef), texts, repeat)


def run_contender(spec: dict) -> dict:
    """In this (child) process: load, then time single texts and batches."""
    texts = json.loads(Path(spec["texts"]).read_text())
    t0 = time.perf_counter()
    if spec["kind"] == "original":
        import onnxruntime as ort
        import torch
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(spec["path"])
        session = ort.InferenceSession(
            str(Path(spec["path"]) / "model_quantized.onnx"), providers=["CPUExecutionProvider"]
        )

        def one(text):  # the original app: one text per call, torch sigmoid
            enc = tok(text, truncation=True, max_length=512, return_tensors="np")
            logits = session.run(None, {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]})[0]
            return torch.sigmoid(torch.from_numpy(logits))

        batch = lambda ts: [one(t) for t in ts]  # noqa: E731  (it had no batch path)
        size = folder_mb(Path(spec["path"]))
    else:
        from cpc_models.predict.predictor import CpcPredictor

        predictor = CpcPredictor.from_pretrained(spec["path"], backend=spec["backend"])
        if spec["kind"] == "onnx-fp32":
            from cpc_models.onnx.runtime import OnnxScorer

            predictor.scorer = OnnxScorer.from_folder(Path(spec["path"]), Path(spec["path"]) / "onnx" / "model.onnx")
        one = lambda t: predictor.predict([t])  # noqa: E731
        batch = predictor.predict
        size = spec["size_mb"]
    load_s = time.perf_counter() - t0
    per_s = median_per_s(batch, texts, spec["repeat"])  # its untimed first call warms the model (mapped pages)
    one(texts[0])
    single = []
    for t in texts[: spec["n_single"]]:
        s = time.perf_counter()
        one(t)
        single.append(1000 * (time.perf_counter() - s))
    floor = floor_per_s(predictor, texts, spec["repeat"]) if spec.get("floor") else None
    return {
        "name": spec["name"],
        "floor_per_s": floor,
        "load_s": round(load_s, 2),
        "abstracts_per_s": round(per_s, 1),
        "p50_ms": round(float(np.percentile(single, 50)), 2),
        "p95_ms": round(float(np.percentile(single, 95)), 2),
        "peak_rss_mb": peak_rss_mb(),
        "size_mb": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="Test abstracts for the batch throughput.")
    parser.add_argument("--n-single", type=int, default=200, help="Of those, how many for single-abstract latency.")
    parser.add_argument("--repeat", type=int, default=3, help="Timed batch calls (and floor calls); their median.")
    parser.add_argument("--default", default=str(REPO / "hub/models/cpc-default"))
    parser.add_argument(
        "--transformer",
        default=str(REPO / "hub/models/minilm-l6-ft"),
        help="A transformer folder for the backend rows (skipped if absent).",
    )
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/predictor.md"))
    parser.add_argument("--no-original", action="store_true", help="Leave out the original path (no torch needed).")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_contender(json.loads(args.child))))
        return

    from cpc_models.data import load_split
    from cpc_models.onnx.export import export_onnx
    from cpc_models.scoring.report import markdown_table
    from cpc_models.settings import DATASET_DIR

    dataset = REPO / DATASET_DIR
    test = load_split(dataset, "test")
    texts = test.texts[: args.n]
    work = Path(tempfile.mkdtemp(prefix="cpc-bench-"))
    (work / "texts.json").write_text(json.dumps(texts))
    train_texts = [] if args.no_original else load_split(dataset, "train").texts[:5000]
    specs = (
        []
        if args.no_original
        else [
            {
                "name": "original path (distilroberta int8 ONNX, 1 text/call)",
                "kind": "original",
                "path": str(build_original(work / "original", train_texts, len(test.vocabulary))),
            }
        ]
    )
    default = Path(args.default)
    specs.append(
        {
            "name": f"CpcPredictor {default.name} (native)",
            "kind": "ours",
            "path": str(default),
            "backend": "native",
            "size_mb": folder_mb(default),
            "floor": True,
        }
    )
    tf = Path(args.transformer)
    if (tf / "config.json").exists():
        if not (tf / "onnx" / "model.onnx").exists():
            export_onnx(tf, "int8", dataset_dir=dataset)
        weights = [tf / "model.safetensors", tf / "tokenizer.json"]
        specs += [
            {
                "name": f"CpcPredictor {tf.name} torch fp32",
                "kind": "ours",
                "path": str(tf),
                "backend": "torch",
                "size_mb": folder_mb(*weights),
            },
            {
                "name": f"CpcPredictor {tf.name} ONNX fp32",
                "kind": "onnx-fp32",
                "path": str(tf),
                "backend": "onnx",
                "size_mb": folder_mb(tf / "onnx/model.onnx", tf / "tokenizer.json"),
            },
            {
                "name": f"CpcPredictor {tf.name} ONNX int8",
                "kind": "ours",
                "path": str(tf),
                "backend": "onnx",
                "size_mb": folder_mb(tf / "onnx/model_quantized.onnx", tf / "tokenizer.json"),
            },
        ]
    rows = []
    for spec in specs:
        spec.update(texts=str(work / "texts.json"), n_single=args.n_single, repeat=args.repeat)
        done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True)
        if done.returncode:
            print(f"{spec['name']}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    base = rows[0]  # the original path, or with --no-original the first of ours
    header = [
        "contender",
        "abstracts/s (batch)",
        "× original",
        "p50 ms (1 abstract)",
        "p95 ms",
        "× faster p50",
        "floor abstracts/s",
        "% of floor",
        "peak RSS MB",
        "load s",
        "size MB",
    ]
    table = [
        [
            str(c)
            for c in [
                r["name"],
                r["abstracts_per_s"],
                f"{r['abstracts_per_s'] / base['abstracts_per_s']:.1f}×",
                r["p50_ms"],
                r["p95_ms"],
                f"{base['p50_ms'] / r['p50_ms']:.1f}×",
                r["floor_per_s"] or "",
                f"{100 * r['abstracts_per_s'] / r['floor_per_s']:.0f} %" if r["floor_per_s"] else "",
                r["peak_rss_mb"],
                r["load_s"],
                r["size_mb"],
            ]
        ]
        for r in rows
    ]
    text = (
        markdown_table(header, table)
        + f"\n\n{len(texts)} test abstracts for throughput (the median of {args.repeat} batch calls after an untimed one;"
        f" the floor timed the same way, after them), {args.n_single} for latency (one abstract a call, after the batch"
        " calls: a warm model; `benchmarks/start.py` times a cold one); one run, one machine.\n"
    )
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
