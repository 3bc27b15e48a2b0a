#!/usr/bin/env bash
# bert-base-uncased fine-tuned for CPC codes, pushed as OWNER/bert-base-uncased-cpc (fp32) and OWNER/bert-base-uncased-cpc-int8 (int8 ONNX):
# OWNER=you scripts/publish_bert_base_uncased.sh [training options]. Meant for a GPU; BASE may be a local checkpoint folder.
exec env NAME="${NAME:-bert-base-uncased-cpc}" BASE="${BASE:-bert-base-uncased}" TRAIN=scripts/train_bert_base_uncased.sh bash "$(dirname "$0")/publish_model.sh" "$@"
