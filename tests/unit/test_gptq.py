"""GPTQ int8: codes on the block grid, outputs closer to fp32 than round-to-nearest, MatMulNBits computes them."""

from __future__ import annotations

import numpy as np
import pytest

from cpc_models.onnx.gptq import dequantize, quantize_weight, replace_matmuls

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def _activations(rng, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Two independent samples of correlated inputs with a few outlier channels, like a transformer's hidden states."""
    mixing = rng.normal(size=(k, k)) / np.sqrt(k) + np.eye(k)
    mixing[:, rng.choice(k, 3, replace=False)] *= 8.0
    return rng.normal(size=(n, k)) @ mixing, rng.normal(size=(n, k)) @ mixing


@pytest.fixture(scope="module")
def layer():
    rng = np.random.default_rng(0)
    k, n = 64, 48
    weight = rng.normal(scale=0.05, size=(k, n)).astype(np.float32)
    calibration, held_out = _activations(rng, 2000, k)
    return weight, calibration, held_out


def test_codes_stay_close_to_the_weights(layer):
    weight, calibration, _ = layer
    codes, scales, zeros = quantize_weight(weight, calibration.T @ calibration, block_size=16)
    assert codes.shape == (48, 64) and scales.shape == zeros.shape == (48, 4)
    assert np.all(scales > 0)
    restored = dequantize(codes, scales, zeros)
    assert restored.shape == weight.shape
    # GPTQ moves single weights by a few grid steps to cancel its neighbours' rounding, never far
    step = np.repeat(scales, 16, axis=1).T
    assert np.all(np.abs(restored - weight) <= 8 * step)
    assert np.linalg.norm(restored - weight) < 0.02 * np.linalg.norm(weight)


def test_gptq_output_error_is_smaller_than_round_to_nearest_on_unseen_inputs(layer):
    weight, calibration, held_out = layer
    rtn = dequantize(*quantize_weight(weight, None, block_size=16))
    gptq = dequantize(*quantize_weight(weight, calibration.T @ calibration, block_size=16))
    error = lambda w: np.mean((held_out @ (w.astype(np.float64) - weight)) ** 2)  # noqa: E731
    assert error(gptq) < 0.8 * error(rtn), (error(gptq), error(rtn))


def test_without_a_hessian_it_rounds_to_nearest(layer):
    weight = layer[0]
    codes, scales, zeros = quantize_weight(weight, None, block_size=16)
    blocks = weight.T.reshape(48, 4, 16).astype(np.float64)
    expected = np.clip(np.round(blocks / scales[..., None].astype(np.float64)) + zeros[..., None], 0, 255)
    assert (codes.reshape(48, 4, 16) == expected).mean() > 0.999


def test_matmulnbits_node_computes_the_dequantized_product(layer):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    weight, calibration, held_out = layer
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="dense/MatMul")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 48])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    hessian = calibration.T @ calibration
    replace_matmuls(model, ["dense/MatMul"], {"x": hessian}, block_size=16)
    assert [n.op_type for n in model.graph.node] == ["MatMulNBits"] and "w" not in {
        t.name for t in model.graph.initializer
    }
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = held_out[:32].astype(np.float32)
    expected = x @ dequantize(*quantize_weight(weight, hessian, block_size=16))
    np.testing.assert_allclose(session.run(["y"], {"x": x})[0], expected, rtol=1e-4, atol=1e-4)


def test_k_must_split_into_blocks():
    with pytest.raises(ValueError, match="multiples of block_size"):
        quantize_weight(np.zeros((40, 8), dtype=np.float32), None, block_size=16)
