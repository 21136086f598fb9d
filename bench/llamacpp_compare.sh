#!/usr/bin/env bash
# Same-run comparison of KVPilot's engine with llama.cpp on one checkpoint (docs/benchmarks.md, "Same-run comparison
# with llama.cpp"): prefill of 1,024 tokens and batch-1 decode after 32 and after 1,024 tokens, 2 threads each,
# the two engines alternated (KVPilot first in odd rounds, llama.cpp first in even ones) so that both see the same
# minutes of the machine. Prints per-round figures and the medians over rounds with KVPilot ÷ llama.cpp.
#
#   bench/llamacpp_compare.sh --llama-bin BUILD_DIR/bin --gguf-py LLAMA_CPP_SRC/gguf-py \
#       [--model DIR (bench/out/llama-110m)] [--rounds 3] [--threads 2] [--reps 5] \
#       [--quick] [--out DIR (bench/out/llamacpp-compare-TIME)]
#   bench/llamacpp_compare.sh --report DIR [--llama-bin ...]    # the table again from an earlier run's logs
#
# --llama-bin defaults to $LLAMA_CPP_BIN and --gguf-py to $GGUF_PY. KVPilot's side runs from the bench source set
# (bench/classpath.sh compiles it when needed) and needs the tools of bench/llamacpp_build.sh. The checkpoint is converted once to bench/out/gguf/NAME-f32.gguf by
# bench/llamacpp_gguf.py (again when the checkpoint is newer); the default random 110M checkpoint is written by the
# first KVPilot run if it is missing. --quick: 1 round unless --rounds says otherwise, 1 llama.cpp repetition, and
# EngineBenchmark's --quick (2 timed prefills, 12 decode steps) — to check that everything runs, not to measure.
#
# What each side measures:
# - KVPilot: io.kvpilot.engine.EngineBenchmark --batches 1 --prompts 32,1024 (median of 5 timed 1,024-token
#   prefills after 3 untimed ones; median of 32 decode steps after a 32- and a 1,024-token prompt).
# - llama.cpp prefill: llama-bench -p 1024 (median of --reps runs after a warm-up run, random token ids).
# - llama.cpp decode after N tokens: llama-batched-bench -npp N -ntg 32 -npl 1, three times per N (median):
#   a prompt of N tokens, then 32 single-token decode steps timed together. llama-bench of this vintage has no
#   -d (depth) option and its -pg N,32 reports (N + 32) tokens over prefill + decode time, a mix of the two.
# - llama-bench -n 32 (decode from an empty context, llama.cpp's usual "tg" figure) is printed for reference.
# The load average is logged before each part: on a busy machine llama.cpp's threads, which spin at every barrier,
# lose far more than KVPilot's (at load 17 on 2 cores llama.cpp decoded 0.7 tokens/s, against ≈ 68 measured on
# the quiet machine earlier; KVPilot 4.2 against ≈ 62), so a ratio from a loaded machine says nothing about the
# engines; the summary warns when the load was above the core count + 1.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
here() { realpath -m "$1"; }  # paths given on the command line are relative to where it was typed

llama_bin=${LLAMA_CPP_BIN:-}
gguf_py=${GGUF_PY:-}
model=bench/out/llama-110m
rounds=
threads=2
reps=5
quick=false
out=
report=
while [[ $# -gt 0 ]]; do
    case "$1" in
        --llama-bin) llama_bin=$(here "$2"); shift 2 ;;
        --gguf-py) gguf_py=$(here "$2"); shift 2 ;;
        --model) model=$(here "$2"); shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --reps) reps=$2; shift 2 ;;
        --quick) quick=true; shift ;;
        --out) out=$(here "$2"); shift 2 ;;
        --report) report=$(here "$2"); shift 2 ;;
        -h|--help) sed -n '2,/^set /{/^#/p}' "$0"; exit 0 ;;
        *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
summarize() {  # $1 = output dir, $2 = rounds, $3 = seconds
    local commit
    commit=$(cat "$llama_bin/../llama-cpp-commit.txt" 2>/dev/null || echo "of unrecorded commit")
    python3 - "$1" "$2" "$threads" "$model" "bench/out/gguf/$(basename "$model")-f32.gguf" "$3" "$commit" <<'EOF'
import json, os, re, statistics, sys
from pathlib import Path

out, rounds, threads, model, gguf, seconds, commit = (Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4],
                                                      sys.argv[5], sys.argv[6], sys.argv[7])
med = statistics.median

def kvpilot(r):
    text = (out / f"round{r}-kvpilot.txt").read_text()
    prefill = re.search(r"prefill\s+1024 tokens:\s+([\d.]+) tokens/s", text)
    d32 = re.search(r"decode after\s+32 tokens, batch\s+1:\s+([\d.]+) tokens/s", text)
    d1024 = re.search(r"decode after\s+1024 tokens, batch\s+1:\s+([\d.]+) tokens/s", text)
    if not (prefill and d32 and d1024):
        sys.exit(f"round {r}: EngineBenchmark's output lacks a figure; see {out}/round{r}-kvpilot.txt")
    return {"prefill": float(prefill[1]), "decode32": float(d32[1]), "decode1024": float(d1024[1])}

def llamacpp(r):
    rows = [json.loads(l) for l in (out / f"round{r}-llama-bench.jsonl").read_text().splitlines() if l.startswith("{")]
    pp = [x for x in rows if x["n_prompt"] == 1024 and x["n_gen"] == 0]
    tg = [x for x in rows if x["n_prompt"] == 0 and x["n_gen"] == 32]
    batched = [json.loads(l) for l in (out / f"round{r}-batched-bench.txt").read_text().splitlines()
               if l.startswith('{"n_kv_max"')]
    after = {n: [x["speed_tg"] for x in batched if x["pp"] == n and x["pl"] == 1] for n in (32, 1024)}
    if not (pp and tg and after[32] and after[1024]):
        sys.exit(f"round {r}: llama.cpp's output lacks a figure; see {out}/round{r}-llama-bench.jsonl, -batched-bench.txt")
    return {"prefill": med(pp[0]["samples_ts"]), "decode32": med(after[32]), "decode1024": med(after[1024]),
            "tg32": med(tg[0]["samples_ts"]), "prefill_batched": med(x["speed_pp"] for x in batched if x["pp"] == 1024),
            "cpu": pp[0].get("cpu_info")}

def load(path):  # the 1-minute load average logged before a part
    first = path.read_text().splitlines()[0] if path.exists() else ""
    return float(first.split()[1]) if first.startswith("load ") else float("nan")

k = [kvpilot(r) for r in range(1, rounds + 1)]
loads = [(load(out / f"round{r}-kvpilot.txt"), load(out / f"round{r}-llama-load.txt")) for r in range(1, rounds + 1)]
l = [llamacpp(r) for r in range(1, rounds + 1)]
rows = [("prefill, 1,024 tokens", "prefill", 1.5), ("decode, batch 1, after 32 tokens", "decode32", 1.0),
        ("decode, batch 1, after 1,024 tokens", "decode1024", 1.0)]
print(f"\nKVPilot vs llama.cpp {commit}, same checkpoint ({model}; {gguf}), {threads} threads, "
      f"{rounds} round(s), {seconds} s, CPU {l[0]['cpu']}")
print("\nper round, tokens/s (KVPilot / llama.cpp = ratio):")
for r in range(rounds):
    cells = [f"{k[r][key]:.1f} / {l[r][key]:.1f} = {k[r][key] / l[r][key]:.2f}x" for _, key, _ in rows]
    print(f"  round {r + 1}: prefill {cells[0]}; decode after 32 {cells[1]}; after 1,024 {cells[2]};"
          f" llama-bench tg32 {l[r]['tg32']:.1f}, batched-bench prefill {l[r]['prefill_batched']:.1f};"
          f" load before KVPilot {loads[r][0]:.1f}, before llama.cpp {loads[r][1]:.1f}")
busiest = max(max(x) for x in loads)
if busiest > (os.cpu_count() or 2) + 1:  # the benchmarks' own threads account for up to one load per core
    print(f"\nWARNING: load average up to {busiest:.1f} on {os.cpu_count()} cores: other work shared the CPUs, and"
          " llama.cpp's spinning threads suffer far more from that than KVPilot's; these ratios do not compare the"
          " engines. Run again on a quiet machine.")
print(f"\n| medians over {rounds} round(s), tokens/s | KVPilot | llama.cpp | KVPilot ÷ llama.cpp | target | met? |")
print("|---|---|---|---|---|---|")
summary = {"loads": loads, "rounds": rounds, "threads": int(threads), "model": model, "llama_cpp_commit": commit, "rows": {}}
for label, key, target in rows:
    kv, ll = med(x[key] for x in k), med(x[key] for x in l)
    ratio = kv / ll
    per_round = [x[key] / y[key] for x, y in zip(k, l)]
    print(f"| {label} | {kv:.1f} | {ll:.1f} | **{ratio:.2f}x** (rounds {min(per_round):.2f}-{max(per_round):.2f}) |"
          f" >= {target}x | {'yes' if ratio >= target else 'no'} |")
    summary["rows"][key] = {"kvpilot": kv, "llama_cpp": ll, "ratio": ratio, "per_round": per_round, "target": target}
tg32 = med(x["tg32"] for x in l)
print(f"| llama-bench tg32 (decode from an empty context), for reference | | {tg32:.1f} | | | |")
summary["llama_bench_tg32"] = tg32
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(f"\nlogs and summary.json in {out}")
EOF
}
cd "$repo"
[[ "$model" == "$repo/bench/out/llama-110m" ]] && model=bench/out/llama-110m
if [[ -n "$report" ]]; then
    summarize "$report" "$(find "$report" -name 'round*-kvpilot.txt' | wc -l)" "?"
    exit 0
fi

if $quick; then
    rounds=${rounds:-1}
    reps=1
else
    rounds=${rounds:-3}
fi
for tool in llama-bench llama-batched-bench; do
    if [[ -z "$llama_bin" || ! -x "$llama_bin/$tool" ]]; then
        echo "no $tool in '${llama_bin}': pass --llama-bin BUILD_DIR/bin (bench/llamacpp_build.sh builds it)" >&2
        exit 2
    fi
done
if [[ -z "$gguf_py" || ! -f "$gguf_py/gguf/gguf_writer.py" ]]; then
    echo "no gguf-py in '${gguf_py}': pass --gguf-py LLAMA_CPP_SRC/gguf-py" >&2
    exit 2
fi
source bench/classpath.sh  # sets KVPILOT_CP (EngineBenchmark is not in the service jar)
if [[ "$model" != bench/out/llama-110m && ! -f "$model/config.json" ]]; then
    echo "no checkpoint at $model (config.json missing)" >&2
    exit 2
fi
out=${out:-bench/out/llamacpp-compare-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
gguf=bench/out/gguf/$(basename "$model")-f32.gguf
start=$(date +%s)

run_kvpilot() {  # $1 = round
    local args=(--threads "$threads" --batches 1 --prompts 32,1024)
    $quick && args+=(--quick)
    if [[ "$model" != bench/out/llama-110m || -f "$model/model.safetensors" ]]; then
        args+=(--model "$model")  # without it EngineBenchmark writes the random 110M checkpoint there first
    fi
    echo "round $1: KVPilot EngineBenchmark (load $(cut -d' ' -f1-3 /proc/loadavg))"
    echo "load $(cut -d' ' -f1-3 /proc/loadavg)" > "$out/round$1-kvpilot.txt"
    OMP_WAIT_POLICY=PASSIVE java --add-modules jdk.incubator.vector -cp "$KVPILOT_CP" \
        io.kvpilot.engine.EngineBenchmark "${args[@]}" \
        >> "$out/round$1-kvpilot.txt" 2> "$out/round$1-kvpilot.err" \
        || { echo "EngineBenchmark failed; see $out/round$1-kvpilot.{txt,err}" >&2; tail -5 "$out/round$1-kvpilot.err" >&2; exit 1; }
}

convert_if_needed() {
    if [[ ! -f "$gguf" || "$model/config.json" -nt "$gguf" || -n "$(find "$model" -name '*.safetensors' -newer "$gguf")" ]]; then
        python3 bench/llamacpp_gguf.py "$model" "$gguf" --gguf-py "$gguf_py" | tee "$out/convert.txt"
    fi
}

run_llamacpp() {  # $1 = round
    convert_if_needed
    local npp=32,32,32,1024,1024,1024
    $quick && npp=32,1024
    echo "round $1: llama.cpp llama-bench, llama-batched-bench (load $(cut -d' ' -f1-3 /proc/loadavg))"
    echo "load $(cut -d' ' -f1-3 /proc/loadavg)" > "$out/round$1-llama-load.txt"
    "$llama_bin/llama-bench" -m "$gguf" -t "$threads" -p 1024 -n 32 -r "$reps" -o jsonl \
        > "$out/round$1-llama-bench.jsonl" 2> "$out/round$1-llama-bench.err" \
        || { echo "llama-bench failed; see $out/round$1-llama-bench.err" >&2; tail -5 "$out/round$1-llama-bench.err" >&2; exit 1; }
    "$llama_bin/llama-batched-bench" -m "$gguf" -t "$threads" -c 2048 -b 2048 -ub 512 -npp "$npp" -ntg 32 -npl 1 \
        --output-format jsonl > "$out/round$1-batched-bench.txt" 2>&1 \
        || { echo "llama-batched-bench failed; see $out/round$1-batched-bench.txt" >&2; tail -5 "$out/round$1-batched-bench.txt" >&2; exit 1; }
}

for ((r = 1; r <= rounds; r++)); do
    if ((r % 2 == 1)); then
        run_kvpilot "$r"
        run_llamacpp "$r"
    else
        run_llamacpp "$r"
        run_kvpilot "$r"
    fi
done

summarize "$out" "$rounds" "$(( $(date +%s) - start ))"
