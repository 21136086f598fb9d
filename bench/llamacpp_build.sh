#!/usr/bin/env bash
# Builds llama.cpp's CPU benchmark tools from a source tree, for bench/llamacpp_compare.sh (docs/benchmarks.md,
# "Same-run comparison with llama.cpp"): Release, tuned for this CPU (GGML_NATIVE), no libcurl, static libraries so
# the binaries stand alone, everything else at llama.cpp's defaults (OpenMP threads, llamafile's sgemm for F32).
#
#   bench/llamacpp_build.sh LLAMA_CPP_SRC [BUILD_DIR (default: LLAMA_CPP_SRC/../llamacpp-build)] [JOBS (default 2)]
#
# The source's commit goes to BUILD_DIR/llama-cpp-commit.txt (bench/llamacpp_compare.sh prints it): git's HEAD when
# LLAMA_CPP_SRC is a checkout, else $LLAMA_CPP_COMMIT (an exported tree, e.g. from git archive, has no history and
# llama.cpp's own build info then says "unknown").
#
# Binaries land in BUILD_DIR/bin: llama-bench (prefill and decode speed), llama-batched-bench (decode after a
# prompt, which llama-bench of early 2025 cannot measure on its own) and llama-simple (greedy text, to check that a
# converted checkpoint computes what the Hugging Face model does).
set -euo pipefail

if [[ $# -lt 1 || $# -gt 3 ]]; then
    echo "usage: $0 LLAMA_CPP_SRC [BUILD_DIR] [JOBS]" >&2
    exit 2
fi
src=$(cd "$1" && pwd)
build=${2:-$(dirname "$src")/llamacpp-build}
jobs=${3:-2}
if [[ ! -f "$src/CMakeLists.txt" || ! -f "$src/examples/llama-bench/llama-bench.cpp" ]]; then
    echo "$src is not a llama.cpp source tree (no CMakeLists.txt or examples/llama-bench)" >&2
    exit 2
fi

if git -C "$src" rev-parse --show-toplevel 2>/dev/null | grep -qx "$src"; then
    commit=$(git -C "$src" rev-parse HEAD)
else
    commit=${LLAMA_CPP_COMMIT:-unknown}
fi

cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF
cmake --build "$build" --config Release -j "$jobs" --target llama-bench llama-batched-bench llama-simple

for tool in llama-bench llama-batched-bench llama-simple; do
    test -x "$build/bin/$tool" || { echo "missing $build/bin/$tool after the build" >&2; exit 1; }
done
echo "$commit" > "$build/llama-cpp-commit.txt"
echo "built $build/bin/{llama-bench,llama-batched-bench,llama-simple}"
