"""Kind ``transformer``: a fine-tuned Hugging Face sequence classifier (``train.py``, ``glue.py``).

Served by torch, or by onnxruntime once ``cpc export`` wrote ``onnx/`` (``cpc_models.onnx.runtime``).
"""

from __future__ import annotations

from pathlib import Path

from cpc_models.kinds.transformer.train import TransformerTrainConfig as Config

__all__ = ["Config", "train", "load", "auto_backend"]


def train(config: Config) -> dict:
    from cpc_models.kinds.transformer.train import train_transformer

    return train_transformer(config)["metrics"]


def auto_backend(model_dir: Path) -> str:
    """ONNX where the folder has an ONNX file, else torch."""
    from cpc_models.onnx.runtime import onnx_file

    return "onnx" if onnx_file(model_dir) is not None else "torch"


def load(model_dir: Path, backend: str):
    if backend == "onnx":
        from cpc_models.onnx.runtime import OnnxScorer

        return OnnxScorer.from_folder(model_dir)
    from cpc_models.kinds.transformer.train import load_transformer

    return load_transformer(model_dir, backend="torch")
