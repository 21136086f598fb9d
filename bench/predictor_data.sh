#!/usr/bin/env bash
# The quality predictor's training data (training/policy/data/DATASHEET.md): the per-prompt compression grid over the
# methods the controller chooses among, with each prompt's kept score mass per method and ratio. Deterministic: the
# prompts come from fixed seeds (RetrievalPrompts: trial index), the held-out windows from fixed offsets, decoding is
# greedy. About 33 minutes on this 2-core machine; --deadline-min cuts it short with whole prompts only.
#
#   bash bench/predictor_data.sh [OUT_DIR]     # default training/policy/data -> OUT_DIR/predictor_data.csv
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-training/policy/data}
source bench/classpath.sh
mkdir -p "$OUT"
OMP_WAIT_POLICY=PASSIVE java -Xmx3g --add-modules jdk.incubator.vector -cp "$KVPILOT_CP" \
    io.kvpilot.eval.PredictorDataset \
    --methods keydiff,snapkv,streaming_llm,knorm,adakv_keydiff --ratios 0.25,0.5,0.75,0.9 \
    --bits 16,8,4 --hybrid-bits 16,8,4 \
    --tasks ppl,passkey,multikey --lengths 512,1024,2048 --depths 10,30,50,70,90 --trials 4 --mk-trials 12 \
    --ppl-lengths 512,1024,1536 --ppl-windows 1 --ppl-tokens 64 \
    --deadline-min "${DEADLINE_MIN:-36}" --out "$OUT"
