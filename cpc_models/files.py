"""The file names of a model folder: the one place that spells them (every module imports them from here).

A model folder (``hub/models/<name>/``) is laid out like a Hub model repo. Files every kind writes:

- ``config.json``: ``cpc_model_type`` (the kind's name), ``id2label``, ``label2id``, ``problem_type``
- ``thresholds.json``, ``calibration.json`` (where calibration helped), ``levels.json``, ``scope.json``
- ``metrics.json`` (test metrics), ``train_config.json`` (the kind's config and what the run recorded),
  ``README.md`` (model card)

Files of one kind or another are listed below, by the kind that writes them. No module other than this one
writes a literal model-folder file name.
"""

from __future__ import annotations

# every kind
CONFIG_FILE = "config.json"
THRESHOLDS_FILE = "thresholds.json"
CALIBRATION_FILE = "calibration.json"
LEVELS_FILE = "levels.json"
SCOPE_FILE = "scope.json"
METRICS_FILE = "metrics.json"
TRAIN_CONFIG_FILE = "train_config.json"
CARD_FILE = "README.md"

# cpc learn (cpc_models.learn): what was learned, and (--in-place) the files the last learn changed, for --undo
LEARNED_FILE = "learned.json"
LEARN_PREVIOUS_DIR = "learn_previous"
LEARN_PREVIOUS_INDEX = "files.json"  # under LEARN_PREVIOUS_DIR: the paths kept (a path absent there did not exist)

# validation/test scores kept for ensembles (a training leftover, not published)
PREDICTIONS_DIR = "predictions"
PREDICTIONS_INDEX_FILE = "index.json"  # under PREDICTIONS_DIR: labels and publication numbers per split

# TF-IDF kinds (tfidf-svm, tfidf-knn)
VECTORIZERS_FILE = "vectorizers.json"
IDF_FILE = "idf.npz"
LINEAR_WEIGHTS_FILE = "linear.npz"  # tfidf-svm
KNN_BANK_FILE = "knn_bank.npz"  # tfidf-knn: the training patents' TF-IDF rows and labels
KNN_DOCS_FILE = "knn_docs.json"  # tfidf-knn: publication number, title and codes of each bank row
NEIGHBOUR_INDEX_DIR = "neighbour_index"  # a tfidf-knn folder shipped for evidence by models without one

# MiniLM kinds (minilm-knn, minilm-logreg)
ENCODER_FILE = "encoder.json"
KNN_EMBEDDINGS_FILE = "train_embeddings.npy"  # minilm-knn
KNN_LABELS_FILE = "train_labels.npy"  # minilm-knn
HEAD_FILE = "head.npz"  # minilm-logreg

# ensemble
ENSEMBLE_FILE = "ensemble.json"
MEMBERS_DIR = "members"

# transformer (stock Hub layout) and its ONNX export (optimum's layout)
TORCH_WEIGHTS_FILES = ("model.safetensors", "pytorch_model.bin")
TRAIN_HISTORY_FILE = "train_history.json"
ONNX_DIR = "onnx"
ONNX_FP32_FILE = "model.onnx"
ONNX_INT8_FILE = "model_quantized.onnx"
ONNX_EXPORT_CONFIG_FILE = "export_config.json"

# Hugging Face Inference Endpoints (cpc_models/endpoint.py writes both)
HANDLER_FILE = "handler.py"
REQUIREMENTS_FILE = "requirements.txt"
