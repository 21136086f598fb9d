#!/usr/bin/env bash
# The compression quality grid of docs/compression-results.md on the default model: four CompressionEval runs with
# the same prompts (same trials and seeds), merged into one raw.csv, then the report, CSV of cells and plots rebuilt.
#
#   bash bench/eval_grid.sh            # all four runs (about 2.5 h on 2 cores), merge, report
#   bash bench/eval_grid.sh keydiff    # one run (base | keydiff | lowrank | hybrids) into bench/out/eval-grid/<run>
#   bash bench/eval_grid.sh merge      # merge the runs present and rebuild docs/compression-results*
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out/eval-grid
EVICTION=snapkv,streaming_llm,knorm,tova,h2o,pyramidkv,adakv_snapkv
COMMON=(--trials 3 --mk-trials 6 --ppl-lengths 1024 --ppl-windows 1)

classpath() {
    source bench/classpath.sh >&2
    echo "$KVPILOT_CP"
}

eval_run() {
    local name=$1
    shift
    mkdir -p "$OUT/$name"
    OMP_WAIT_POLICY=PASSIVE java -Xmx4g -cp "$(classpath)" io.kvpilot.eval.CompressionEval "${COMMON[@]}" \
        --out "$OUT/$name" --md "$OUT/$name/report.md" "$@"
}

run() {
    case "$1" in
        # the evaluation protocol's eviction methods at 16 and 4 bits, quantization alone at 8/4/2, the uncompressed baseline
        base) eval_run base --methods "$EVICTION" --hybrid-bits 16,4 ;;
        # the query-agnostic novelty scorer, alone, head-wise and chunked, at every bit width
        keydiff) eval_run keydiff --bits 16 --methods keydiff,chunkkv_keydiff,adakv_keydiff --hybrid-bits 16,8,4,2 ;;
        # attention compression: low-rank keys (fp32 values, so 16 bits only)
        lowrank) eval_run lowrank --bits 16 --methods lowrank_keys --hybrid-bits 16 ;;
        # the remaining hybrids: the evaluation protocol's eviction methods at 8 and 2 bits
        hybrids) eval_run hybrids --bits 16 --methods "$EVICTION" --ratios 0.25,0.5,0.75,0.9 --hybrid-bits 8,2 ;;
        merge) merge ;;
        *) echo "unknown run '$1' (base | keydiff | lowrank | hybrids | merge)" >&2; exit 2 ;;
    esac
}

# base keeps its uncompressed and quantization-only rows; the other runs repeat the uncompressed baseline (identical
# rows: same prompts, deterministic greedy decoding), which the merge drops so every cell is counted once.
merge() {
    local dest=docs/compression-results
    local first=1
    {
        echo "# bash bench/eval_grid.sh  # four runs merged: base, keydiff, lowrank, hybrids (flags in the script)"
        for name in base keydiff lowrank hybrids; do
            local f="$OUT/$name/raw.csv"
            [ -f "$f" ] || { echo "skipping $name: no $f" >&2; continue; }
            if [ $first = 1 ]; then
                grep -v '^#' "$f"
                first=0
            else
                grep -v '^#' "$f" | tail -n +2 | awk -F, '$6 != "none"'
            fi
        done
    } > "$dest/raw.csv"
    # exactness checks of all runs: counts add up, the largest batched |delta log p| is kept
    cat "$OUT"/*/checks.properties | awk -F= '
        $1 == "batched" { b += $2 } $1 == "solo" { s += $2 } $1 == "batchedMax" && $2 + 0 > m { m = $2 + 0 }
        END { printf "batched=%d\nbatchedMax=%s\nsolo=%d\n", b, m + 0, s }' > "$dest/checks.properties"
    OMP_WAIT_POLICY=PASSIVE java -Xmx2g -cp "$(classpath)" io.kvpilot.eval.CompressionEval --report-only true \
        --out "$dest" --md docs/compression-results.md
}

if [ $# -eq 0 ]; then
    for r in base keydiff lowrank hybrids merge; do run $r; done
else
    run "$1"
fi
