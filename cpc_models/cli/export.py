"""``cpc export``: ONNX + int8 for a transformer model folder."""

from __future__ import annotations

import json

import click

from cpc_models.onnx.export import CALIBRATION_DOCS, QUANTIZE_CHOICES


@click.command("export")
@click.option("--model", "model_dir", default=None, help="Transformer model folder (default: the default model).")
@click.option(
    "--quantize",
    type=click.Choice([*QUANTIZE_CHOICES, "none"]),
    default="int8",
    show_default=True,
    help="int8 (= int8-rtn): weight-only int8 feed-forward weights rounded to nearest, fp32 attention, fp16 embeddings; "
    "int8-gptq: the same with GPTQ error compensation calibrated on training abstracts (a minute; same test F1, "
    "a little closer to fp32: benchmarks/results/int8.md); int8-dynamic: onnxruntime dynamic int8 (smaller, lossier).",
)
@click.option(
    "--dataset",
    default=None,
    help="Dataset folder: validation abstracts for parity, test split for fp32 vs int8 F1, training abstracts for int8-gptq. "
    "[default: the default dataset]",
)
@click.option(
    "--calibration-docs",
    type=click.IntRange(min=16),
    default=CALIBRATION_DOCS,
    show_default=True,
    help="Training abstracts int8-gptq calibrates on.",
)
@click.option("--opset", type=int, default=17, show_default=True)
def export_command(model_dir, quantize, dataset, calibration_docs, opset) -> None:
    """Export to onnx/model.onnx and onnx/model_quantized.onnx, check parity with torch, report test F1."""
    from cpc_models.extras import require
    from cpc_models.onnx.export import export_onnx
    from cpc_models.settings import default_dataset_dir, default_model_dir

    require(("torch", "transformers", "onnx", "onnxruntime", "onnxscript"), "export", "cpc export")
    model_dir = model_dir or default_model_dir()
    dataset = dataset or default_dataset_dir()
    report = export_onnx(
        model_dir,
        None if quantize == "none" else quantize,
        dataset_dir=dataset,
        opset=opset,
        calibration_docs=calibration_docs,
    )
    click.echo(json.dumps(report, indent=2))
