#!/usr/bin/env python3
"""Checks that llama.cpp computes on a GGUF from bench/llamacpp_gguf.py what Hugging Face transformers computes.

Converts models/kvpilot-mini (trained, byte-level BPE tokenizer, GQA, tied embeddings, BF16) and runs llama.cpp's
llama-simple (greedy, 32 tokens) on the prompts of its parity fixture, src/test/resources/parity/kvpilot-mini, whose
greedy continuations come from transformers in fp32 and which KVPilot's engine reproduces token for token
(HfParityTest). A wrong Q/K permutation, norm or tensor name gives different text at once; fp32 rounding
differences between the two implementations can at most flip a near-tie late in a continuation, so a sequence
passes when llama.cpp's prompt tokens equal the fixture's and its text agrees with the reference for at least the
first half of the reference text.

Usage: python3 bench/llamacpp_check.py --llama-bin BUILD_DIR/bin [--gguf-py LLAMA_CPP_SRC/gguf-py]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

FIXTURE = Path("src/test/resources/parity/kvpilot-mini/reference.json")
TOKENIZER = Path("models/kvpilot-mini/tokenizer.json")
MODEL = Path("models/kvpilot-mini")
GGUF = Path("bench/out/gguf/kvpilot-mini-f32.gguf")


def byte_level_decoder() -> dict[str, int]:
    """GPT-2's byte-to-unicode table, inverted: the characters of a byte-level BPE token back to bytes."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) \
        + list(range(ord("\u00ae"), ord("\u00ff") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


def prompt_text(ids: list[int]) -> str:
    """The text of the fixture's prompt ids (BOS dropped): the fixture's own prompt_text_prefix_of is a longer text."""
    vocab = {i: s for s, i in json.loads(TOKENIZER.read_text())["model"]["vocab"].items()}
    to_byte = byte_level_decoder()
    return bytes(to_byte[c] for i in ids[1:] for c in vocab[i]).decode("utf-8")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--llama-bin", type=Path, default=os.environ.get("LLAMA_CPP_BIN"),
                   help="directory with llama-simple (default: $LLAMA_CPP_BIN)")
    p.add_argument("--gguf-py", default=os.environ.get("GGUF_PY"), help="llama.cpp's gguf-py (default: $GGUF_PY)")
    a = p.parse_args()
    simple = Path(a.llama_bin).resolve() / "llama-simple" if a.llama_bin else None
    gguf_py = str(Path(a.gguf_py).resolve()) if a.gguf_py else None
    if simple is None or not simple.is_file():
        print("no llama-simple: pass --llama-bin BUILD_DIR/bin (bench/llamacpp_build.sh builds it)", file=sys.stderr)
        return 2
    os.chdir(Path(__file__).resolve().parent.parent)
    convert = [sys.executable, "bench/llamacpp_gguf.py", str(MODEL), str(GGUF)]
    subprocess.run(convert + (["--gguf-py", gguf_py] if gguf_py else []), check=True)

    failed = 0
    for k, seq in enumerate(json.loads(FIXTURE.read_text())["sequences"]):
        prompt, reference = prompt_text(seq["prompt_ids"]), seq["greedy_text"]
        run = subprocess.run([str(simple), "-m", str(GGUF), "-n", "32", prompt], capture_output=True, text=True)
        if run.returncode != 0:
            print(run.stderr[-2000:], file=sys.stderr)
            return 1
        # llama-simple prints the prompt's pieces (BOS as <s>) and then the continuation
        text = run.stdout.rstrip("\n")
        if not text.startswith("<s>" + prompt):
            print(f"seq{k}: unexpected output start {text[:80]!r}", file=sys.stderr)
            return 1
        got = text[len("<s>" + prompt):]
        n_prompt = re.search(r"prompt eval time.*?/\s*(\d+) tokens", run.stderr)
        prompt_tokens = int(n_prompt[1]) if n_prompt else None
        same = next((i for i, (x, y) in enumerate(zip(got, reference)) if x != y), min(len(got), len(reference)))
        ok = (got == reference or same >= len(reference) // 2) and prompt_tokens == len(seq["prompt_ids"])
        verdict = "identical" if got == reference else f"agrees for {same} of {len(reference)} characters"
        print(f"seq{k}: prompt {prompt!r} ({prompt_tokens} tokens in llama.cpp, {len(seq['prompt_ids'])} in the"
              f" fixture): {verdict}\n  llama.cpp:    {got!r}\n  transformers: {reference!r}")
        if not ok:
            failed += 1
    print("llama.cpp agrees with transformers (and so with KVPilot) on kvpilot-mini" if not failed
          else f"{failed} sequence(s) disagree")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
