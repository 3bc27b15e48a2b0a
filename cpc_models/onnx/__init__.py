"""ONNX export and runtime of transformer model folders, in optimum's layout (file names: ``cpc_models.files``)."""

from cpc_models import files

ONNX_DIR = files.ONNX_DIR
FP32_FILE = files.ONNX_FP32_FILE
INT8_FILE = files.ONNX_INT8_FILE
EXPORT_CONFIG = files.ONNX_EXPORT_CONFIG_FILE
# what the runtime loads, in order of preference
FILES = {"int8": INT8_FILE, "fp32": FP32_FILE}
