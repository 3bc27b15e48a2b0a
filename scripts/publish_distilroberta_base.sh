#!/usr/bin/env bash
# distilroberta-base fine-tuned for CPC codes, pushed as OWNER/distilroberta-base-cpc (fp32) and OWNER/distilroberta-base-cpc-int8 (int8 ONNX):
# OWNER=you scripts/publish_distilroberta_base.sh [training options]. Meant for a GPU; BASE may be a local checkpoint folder.
exec env NAME="${NAME:-distilroberta-base-cpc}" BASE="${BASE:-distilroberta-base}" TRAIN=scripts/train_distilroberta_base.sh bash "$(dirname "$0")/publish_model.sh" "$@"
