#!/usr/bin/env bash
# Train (fastai) -> evaluate -> export ONNX + int8 -> push the fp32 repo and its int8 twin, with their cards.
# Called by scripts/publish_{roberta_base,bert_base_uncased,distilroberta_base}.sh, which set NAME, BASE and TRAIN.
# OWNER: your Hub user or organisation (token from HF_TOKEN or `hf auth login`; endpoint HF_ENDPOINT).
# CPC / PYTHON override the commands; DATASET, OUT the paths; EXPORT_ARGS extra `cpc export` options.
# Extra arguments pass through to the training recipe (e.g. --max-train-docs 256 --epochs-unfrozen 1).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${NAME:?}" "${BASE:?}" "${TRAIN:?}" "${OWNER:?set OWNER to your Hub user or organisation}"
CPC=${CPC:-.venv/bin/cpc}
PYTHON=${PYTHON:-.venv/bin/python}
export CPC BASE DATASET="${DATASET:-hub/datasets/patent-cpc-ai}" OUT="${OUT:-hub/models/$NAME}"
if [ ! -d "$BASE" ] && ! "$PYTHON" -c 'import sys; from huggingface_hub import hf_hub_download; hf_hub_download(sys.argv[1], "config.json")' "$BASE" >/dev/null 2>&1; then
  echo "$BASE: the base weights cannot be downloaded from ${HF_ENDPOINT:-https://huggingface.co} (no Hub access?); set BASE to a local checkpoint folder" >&2
  exit 2
fi
bash "$TRAIN" "$@"
$CPC evaluate --model "$OUT" --data "$DATASET"
$CPC export --model "$OUT" --dataset "$DATASET" --quantize int8 ${EXPORT_ARGS:-}
$CPC push model "$OUT" --repo-id "$OWNER/$NAME" --variant fp32
$CPC push model "$OUT" --repo-id "$OWNER/$NAME-int8" --variant int8
