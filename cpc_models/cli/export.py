"""``cpc export``: ONNX + int8 for a transformer model folder."""

from __future__ import annotations

import json

import click

from cpc_models.onnx.export import CALIBRATION_DOCS


@click.command("export")
@click.option("--model", "model_dir", default=None, help="Transformer model folder (default: the default model).")
@click.option("--quantize", type=click.Choice(["int8", "int8-rtn", "int8-dynamic", "none"]), default="int8", show_default=True,
              help="int8: weight-only int8 feed-forward weights with GPTQ error compensation (calibrated on training abstracts), "
                   "fp32 attention, fp16 embeddings (closest to torch); int8-rtn: the same, rounded to nearest (no calibration); "
                   "int8-dynamic: onnxruntime dynamic int8 (smaller, lossier).")
@click.option("--dataset", default="hub/datasets/patent-cpc-ai", show_default=True,
              help="Dataset folder: training abstracts to calibrate int8 on, validation abstracts for parity, test split for fp32 vs int8 F1.")
@click.option("--calibration-docs", type=click.IntRange(min=16), default=CALIBRATION_DOCS, show_default=True, help="Training abstracts GPTQ calibrates on.")
@click.option("--opset", type=int, default=17, show_default=True)
def export_command(model_dir, quantize, dataset, calibration_docs, opset) -> None:
    """Export to onnx/model.onnx and onnx/model_quantized.onnx, check parity with torch, report test F1."""
    from cpc_models.onnx.export import export_onnx
    from cpc_models.settings import default_model_dir

    model_dir = model_dir or default_model_dir()
    report = export_onnx(model_dir, None if quantize == "none" else quantize, dataset_dir=dataset, opset=opset,
                         calibration_docs=calibration_docs)
    click.echo(json.dumps(report, indent=2))
