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

# TF-IDF kinds, storage format 2: memory-mapped .npy arrays (cpc_models.kinds.vectorizer, linear_store, bank).
# Folders in format 1 (VECTORIZERS_FILE, IDF_FILE, LINEAR_WEIGHTS_FILE, KNN_BANK_FILE, KNN_DOCS_FILE) still load.
VECTORIZER_DIR = "vectorizer"  # the TF-IDF vectorizer; an ensemble keeps one, at its top, for all its members
VECTORIZER_FILE = "vectorizer.json"  # under VECTORIZER_DIR: each block's name, field, weight and parameters
VOCABULARY_FILE = "vocabulary-{block}.txt"  # under VECTORIZER_DIR: one term per line, in column order
IDF_ARRAY_FILE = "idf-{block}.npy"  # under VECTORIZER_DIR
FEATURES_FILE = "features.json"  # in a TF-IDF member: {"vectorizer": path of its VECTORIZER_DIR, relative}
LINEAR_DIR = "linear"  # tfidf-svm: coef_{data,indices,indptr}.npy (features x labels CSR), intercept.npy, linear.json
LINEAR_FILE = "linear.json"  # under LINEAR_DIR: shape and sigmoid
LINEAR_COEF_FILE = "coef_{part}.npy"  # under LINEAR_DIR: part = data, indices, indptr
LINEAR_INTERCEPT_FILE = "intercept.npy"  # under LINEAR_DIR
BANK_DIR = "bank"  # tfidf-knn: the neighbour bank (cpc_models.kinds.bank)
BANK_FILE = "bank.json"  # under BANK_DIR: rows, features, k, temperature
BANK_DOCS_FILE = "docs.jsonl"  # under BANK_DIR: publication number, title and codes of each row, one JSON per line
BANK_ARRAY_FILE = "{name}.npy"  # under BANK_DIR: postings_{data,indices,indptr}, norms, labels_{indices,indptr},
# docs_offsets, short_rows, short_{data,indices,indptr} (cpc_models.kinds.bank)

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
