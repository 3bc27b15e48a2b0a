#!/usr/bin/env bash
# roberta-base fine-tuned for CPC codes, pushed as OWNER/roberta-base-cpc (fp32) and OWNER/roberta-base-cpc-int8 (int8 ONNX):
# OWNER=you scripts/publish_roberta_base.sh [training options]. Meant for a GPU; BASE may be a local checkpoint folder.
exec env NAME="${NAME:-roberta-base-cpc}" BASE="${BASE:-roberta-base}" TRAIN=scripts/train_roberta_base.sh bash "$(dirname "$0")/publish_model.sh" "$@"
