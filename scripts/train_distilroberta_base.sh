#!/usr/bin/env bash
# Fine-tune distilroberta-base with fastai (head, then all layers) into hub/models/distilroberta-base-ft; meant for a GPU.
# Extra options pass through, e.g. a CPU smoke run: scripts/train_distilroberta_base.sh --max-train-docs 256 --epochs-unfrozen 1
# CPC overrides the command (e.g. CPC="python3 -m spaces.cli"); BASE, DATASET, OUT the paths.
set -euo pipefail
cd "$(dirname "$0")/.."
exec ${CPC:-.venv/bin/cpc} -v train transformer --base "${BASE:-distilroberta-base}" \
  --dataset "${DATASET:-hub/datasets/patent-cpc-ai}" --out "${OUT:-hub/models/distilroberta-base-ft}" \
  --max-length 256 --batch-size 32 --epochs-frozen 1 --epochs-unfrozen 5 \
  --lr 1e-3 --lr-unfrozen 8e-5 --lr-mult 100 --fp16-weights "$@"
