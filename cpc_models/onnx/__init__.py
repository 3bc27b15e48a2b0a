"""ONNX export and runtime of transformer model folders; the file names both use, in optimum's layout."""

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model_quantized.onnx"
EXPORT_CONFIG = "export_config.json"
# what the runtime loads, in order of preference
FILES = {"int8": INT8_FILE, "fp32": FP32_FILE}
