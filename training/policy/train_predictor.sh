#!/usr/bin/env bash
# Trains the quality predictor and draws its calibration plot: the one command behind policy-models/<version>.
#
#   bash training/policy/train_predictor.sh            # v2, the service's default: trace-quality rows + the
#                                                      # evaluation's retrieval rows (its teacher-forced ppl rows out)
#   bash training/policy/train_predictor.sh v1         # v1 as published: the evaluation's rows only
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=${1:-v2}
OUT=policy-models/$VERSION
case "$VERSION" in
    v1) python3 training/policy/train_predictor.py --data training/policy/data/predictor_data.csv --version v1 \
            --out "$OUT" ;;
    v2) python3 training/policy/train_predictor.py --data training/policy/data/trace_quality.csv \
            training/policy/data/predictor_data.csv --exclude-tasks ppl --version v2 --out "$OUT" ;;
    *) echo "unknown version $VERSION (v1 or v2)" >&2; exit 2 ;;
esac
source bench/classpath.sh
java -cp "$KVPILOT_CP" io.kvpilot.eval.CalibrationPlot "$OUT/calibration.csv" "$OUT/calibration.png"
