#!/usr/bin/env bash
# The quality predictor's training data measured with the trace replay's definition of quality
# (training/policy/data/DATASHEET.md): the first 12 requests of each kind of trace family A, seed 1 (4 minutes), each
# run under every candidate setting of the controller's default grid. Deterministic: the trace comes from a fixed seed,
# decoding is greedy. About 30 minutes on this 2-core machine.
#
#   bash bench/trace_quality_data.sh [OUT_DIR]     # default training/policy/data -> OUT_DIR/trace_quality.csv
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-training/policy/data}
source bench/classpath.sh
mkdir -p "$OUT" bench/out/trace-A-1
python3 bench/trace_replay.py --family A --seed 1 --minutes 4 --trace-only --out bench/out/trace-A-1
OMP_WAIT_POLICY=PASSIVE java -Xmx3g --add-modules jdk.incubator.vector -cp "$KVPILOT_CP" \
    io.kvpilot.eval.TraceQualityDataset --model models/kvpilot-mini --trace bench/out/trace-A-1/trace.json \
    --set trace-A-1 --per-kind "${PER_KIND:-12}" --out "$OUT"
