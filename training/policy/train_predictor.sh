#!/usr/bin/env bash
# Trains the quality predictor and draws its calibration plot: the one command behind policy-models/v1.
#
#   bash training/policy/train_predictor.sh [DATA_CSV] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${1:-training/policy/data/predictor_data.csv}
OUT=${2:-policy-models/v1}
python3 training/policy/train_predictor.py --data "$DATA" --out "$OUT"
[ -f cp.txt ] && [ -d target/classes ] || {
    mvn -B -q -DskipTests compile
    mvn -B -q dependency:build-classpath -Dmdep.outputFile=cp.txt
}
java -cp "target/classes:$(cat cp.txt)" io.kvpilot.eval.CalibrationPlot "$OUT/calibration.csv" "$OUT/calibration.png"
