"""8-bit weight-only quantization with GPTQ error compensation, written as onnxruntime ``MatMulNBits`` nodes.

Round-to-nearest rounds every weight on its own. GPTQ (Frantar et al., 2022) rounds the input channels of a
weight one at a time and pushes each rounding error onto the channels not yet rounded, weighted by the
inverse Hessian ``H = Σ xᵀx`` of the layer's inputs on calibration text, so the layer's *outputs* stay close to
fp32. The result is stored exactly as onnxruntime's own 8-bit quantizer stores it (block-wise asymmetric codes,
fp32 scales, uint8 zero points), so the runtime kernel and file size are the same as round-to-nearest.

Why this is written here rather than taken from a library (checked on onnxruntime 1.32, onnx-neural-compressor
1.x, nncf 3.4):
- onnxruntime's GPTQ (``quantization.neural_compressor.weight_only.gptq``, the same code as
  onnx-neural-compressor's) packs only 4-bit weights into ``MatMulNBits``; 8-bit results stay fp32 ``MatMul``.
  Its update also reads columns of an upper-triangular factor (zero below the diagonal), so no error is carried
  forward: on the fine-tuned MiniLM it left the layer output error at 1.000x round-to-nearest's;
- nncf switches data-aware methods (GPTQ, AWQ) off for its INT8 modes.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

BITS = 8
MAXQ = 2**BITS - 1


def hessians(model, activations: list[str], batches: Iterable[dict]) -> tuple[dict[str, np.ndarray], int]:
    """``Σ xᵀx`` over the real tokens (``attention_mask`` = 1) of each named activation, and the token count."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    for name in activations:
        probe.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep the named tensors
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    sums: dict[str, np.ndarray] = {}
    tokens = 0
    for feed in batches:
        real = feed["attention_mask"].astype(bool)
        tokens += int(real.sum())
        for name, x in zip(activations, session.run(activations, feed)):
            x = x[real].astype(np.float64)
            sums[name] = sums.get(name, 0) + x.T @ x
    return sums, tokens


def _grid(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Asymmetric min/max grid of each row of ``block`` (range includes 0, as onnxruntime's quantizer does)."""
    low = np.minimum(block.min(axis=1), 0)
    high = np.maximum(block.max(axis=1), 0)
    scale = ((high - low) / MAXQ).astype(np.float32).astype(np.float64)
    scale[scale == 0] = 1.0
    zero = np.clip(np.round(-low / scale), 0, MAXQ)
    return scale, zero


def quantize_weight(
    weight: np.ndarray, hessian: np.ndarray | None, block_size: int = 16, damp: float = 0.01, lazy: int = 128
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantize ``weight`` (K inputs x N outputs, as a MatMul holds it) in blocks of ``block_size`` along K.

    With ``hessian`` (K x K) the rounding errors are compensated (GPTQ); without it this is round-to-nearest.
    Returns codes (N, K) uint8, scales (N, K / block_size) float32 and zero points (N, K / block_size) uint8.
    """
    w = weight.astype(np.float64).T.copy()  # (N, K): one row per output, inputs along the columns
    n, k = w.shape
    if k % block_size or lazy % block_size:
        raise ValueError(f"K={k} and lazy={lazy} must be multiples of block_size={block_size}")
    if hessian is None:
        inverse = np.eye(k)
    else:
        h = hessian.astype(np.float64).copy()
        dead = np.diag(h) == 0
        h[dead, dead] = 1.0
        w[:, dead] = 0.0
        h[np.diag_indices(k)] += damp * np.mean(np.diag(h))
        # upper Cholesky factor of H⁻¹: row i holds how the error of input i spreads to inputs i+1..K
        inverse = np.linalg.cholesky(np.linalg.inv(h)).T
    codes = np.zeros((n, k), dtype=np.uint8)
    scales = np.zeros((n, k // block_size), dtype=np.float32)
    zeros = np.zeros((n, k // block_size), dtype=np.uint8)
    for start in range(0, k, lazy):
        stop = min(start + lazy, k)
        errors = np.zeros((n, stop - start))
        for i in range(start, stop):
            if i % block_size == 0:
                scale, zero = _grid(w[:, i : i + block_size])
                scales[:, i // block_size], zeros[:, i // block_size] = scale, zero
            q = np.clip(np.round(w[:, i] / scale) + zero, 0, MAXQ)
            codes[:, i] = q
            err = (w[:, i] - (q - zero) * scale) / inverse[i, i]
            w[:, i:stop] -= np.outer(err, inverse[i, i:stop])
            errors[:, i - start] = err
        w[:, stop:] -= errors @ inverse[start:stop, stop:]
    return codes, scales, zeros


def dequantize(codes: np.ndarray, scales: np.ndarray, zeros: np.ndarray) -> np.ndarray:
    """The K x N weight that ``MatMulNBits`` computes with."""
    block = codes.shape[1] // scales.shape[1]
    expand = lambda a: np.repeat(a.astype(np.float64), block, axis=1)  # noqa: E731
    return ((codes - expand(zeros)) * expand(scales)).T.astype(np.float32)


def replace_matmuls(
    model, nodes: list[str], hessians_by_input: dict[str, np.ndarray] | None, block_size: int = 16, damp: float = 0.01
) -> None:
    """Swap each named MatMul (constant 2-D weight) for a ``com.microsoft.MatMulNBits`` node, in place."""
    from onnx import helper, numpy_helper

    tables = {t.name: t for t in model.graph.initializer}
    wanted = set(nodes)
    for node in [n for n in model.graph.node if n.name in wanted]:
        weight = numpy_helper.to_array(tables[node.input[1]])
        k, n = weight.shape
        hessian = None if hessians_by_input is None else hessians_by_input[node.input[0]]
        codes, scales, zeros = quantize_weight(weight, hessian, block_size, damp)
        base = node.input[1]
        new = [
            numpy_helper.from_array(codes.reshape(n, k // block_size, block_size), f"{base}_Q{BITS}"),
            numpy_helper.from_array(scales, f"{base}_scales"),
            numpy_helper.from_array(zeros, f"{base}_zero_points"),
        ]
        model.graph.initializer.extend(new)
        replacement = helper.make_node(
            "MatMulNBits",
            [node.input[0]] + [t.name for t in new],
            list(node.output),
            name=f"{node.name}_Q{BITS}",
            domain="com.microsoft",
            K=k,
            N=n,
            bits=BITS,
            block_size=block_size,
        )
        position = list(model.graph.node).index(node)
        model.graph.node.remove(node)
        model.graph.node.insert(position, replacement)
        if sum(base in other.input for other in model.graph.node) == 0:
            model.graph.initializer.remove(tables[base])
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
