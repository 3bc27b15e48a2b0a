#!/usr/bin/env bash
# Fine-tune minilm-l6 with fastai (head, then all layers) into hub/models/minilm-l6-ft; meant for a GPU.
# Extra options pass through, e.g. a CPU smoke run: scripts/train_minilm.sh --max-train-docs 256 --epochs-unfrozen 1
# CPC overrides the command (e.g. CPC="python3 -m spaces.cli"); BASE, DATASET, OUT the paths.
set -euo pipefail
cd "$(dirname "$0")/.."
exec ${CPC:-.venv/bin/cpc} -v train transformer --base "${BASE:-minilm-l6}" \
  --dataset "${DATASET:-hub/datasets/patent-cpc-ai}" --out "${OUT:-hub/models/minilm-l6-ft}" \
  --max-length 256 --batch-size 64 --epochs-frozen 1 --epochs-unfrozen 14 \
  --lr 2e-3 --lr-unfrozen 3e-4 --lr-mult 10 --fp16-weights "$@"
