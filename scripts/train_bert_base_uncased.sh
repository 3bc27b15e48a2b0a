#!/usr/bin/env bash
# Fine-tune bert-base-uncased with fastai (head, then all layers) into hub/models/bert-base-uncased-ft; meant for a GPU.
# Extra options pass through, e.g. a CPU smoke run: scripts/train_bert_base_uncased.sh --max-train-docs 256 --epochs-unfrozen 1
# CPC overrides the command (e.g. CPC="python3 -m spaces.cli"); BASE, DATASET, OUT the paths.
set -euo pipefail
cd "$(dirname "$0")/.."
exec ${CPC:-.venv/bin/cpc} -v train transformer --base "${BASE:-bert-base-uncased}" \
  --dataset "${DATASET:-hub/datasets/patent-cpc-ai}" --out "${OUT:-hub/models/bert-base-uncased-ft}" \
  --max-length 256 --batch-size 32 --epochs-frozen 1 --epochs-unfrozen 4 \
  --lr 1e-3 --lr-unfrozen 5e-5 --lr-mult 100 --fp16-weights "$@"
