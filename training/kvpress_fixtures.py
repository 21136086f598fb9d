#!/usr/bin/env python3
"""Reference fixtures for KVPilot's eviction methods, computed by NVIDIA kvpress on the default model.

For a few prompts (KVPilot's own token ids) and each press x ratio, records which cache entries kvpress keeps, per
layer and KV head, as hex bitmasks. `KvpressParityTest` prefills the same ids in KVPilot and asserts that its method
of the same name keeps the same entries.

Run on a machine with torch + transformers (the GPU machine), with kvpress v0.5.4's package on PYTHONPATH (kvpress is
Apache-2.0 upstream code used as a reference here, never copied into KVPilot; `git archive v0.5.4 kvpress` of
NVIDIA/kvpress gives the package). kvpress imports `cachetools`, `datasets` and `fire` at package load without the
presses calling them; empty stand-in modules on PYTHONPATH are enough where they are not installed.

    PYTHONPATH=.gpu:.gpu/stubs python3 training/kvpress_fixtures.py --model models/kvpilot-mini \\
        --out src/test/resources/kvpress/kept.json

Pairs, KVPilot name -> kvpress press (window 32 where a press has one: KVPilot's observation window, see
docs/compression-methods.md):
  snapkv          SnapKVPress(window_size=32)
  adakv_snapkv    AdaKVPress(SnapKVPress(window_size=32))
  pyramidkv       PyramidKVPress(window_size=32)
  streaming_llm   StreamingLLMPress()            (4 sink tokens)
  knorm           KnormPress()
  keydiff         KeyDiffPress()
  tova            TOVAPress()
  h2o             ObservedAttentionPress()       (eager attention: every prefill query's attention, averaged)
"""
import argparse
import json
import os
import sys

import torch

THIS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(THIS)


def prompts(tokenizer):
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import trace_replay as tr  # the retrieval prompt builders, character for character as RetrievalPrompts
    import random

    rng = random.Random(7)
    out = []
    passkey, _ = tr.passkey_prompt(rng, 420)
    out.append(("passkey_420", passkey))
    with open(os.path.join(ROOT, "eval/heldout/heldout_children.txt"), encoding="utf-8") as f:
        out.append(("children_text", f.read()[2000:4200]))
    with open(os.path.join(ROOT, "eval/heldout/heldout_docs.txt"), encoding="utf-8") as f:
        out.append(("docs_text", f.read()[10000:12400]))
    return [(name, tokenizer(text)["input_ids"]) for name, text in out]


def patch_forward_hook():
    """transformers 5 no longer passes cache_position to attention hooks: derive it from the layer cache."""
    from kvpress.presses.base_press import BasePress

    original = BasePress.forward_hook

    def forward_hook(self, module, input, kwargs, output):
        if kwargs.get("cache_position") is None:
            n = kwargs["past_key_values"].layers[module.layer_idx].keys.shape[-2]
            q = kwargs["hidden_states"].shape[1]
            kwargs = dict(kwargs, cache_position=torch.arange(n - q, n, device=kwargs["hidden_states"].device))
        return original(self, module, input, kwargs, output)

    BasePress.forward_hook = forward_hook


def presses(ratio):
    from kvpress import (AdaKVPress, KeyDiffPress, KnormPress, ObservedAttentionPress, PyramidKVPress,
                         SnapKVPress, StreamingLLMPress, TOVAPress)

    return {
        "snapkv": (SnapKVPress(compression_ratio=ratio, window_size=32), "sdpa"),
        "adakv_snapkv": (AdaKVPress(SnapKVPress(compression_ratio=ratio, window_size=32)), "sdpa"),
        "pyramidkv": (PyramidKVPress(compression_ratio=ratio, window_size=32), "sdpa"),
        "streaming_llm": (StreamingLLMPress(compression_ratio=ratio), "sdpa"),
        "knorm": (KnormPress(compression_ratio=ratio), "sdpa"),
        "keydiff": (KeyDiffPress(compression_ratio=ratio), "sdpa"),
        "tova": (TOVAPress(compression_ratio=ratio), "sdpa"),
        "h2o": (ObservedAttentionPress(compression_ratio=ratio), "eager"),
    }


def kept_masks(model, press, ids, full_keys):
    """Runs the prompt under the press; returns per layer, per KV head, the kept positions as a hex bitmask."""
    from transformers import DynamicCache

    cache = DynamicCache()
    with torch.no_grad(), press(model):
        model(input_ids=ids, past_key_values=cache)
    layers = []
    for l, layer in enumerate(model.model.layers):
        full = full_keys[l][0]  # [H, T, D]
        kept_keys = cache.layers[l].keys[0]  # [H, n, D]
        masked = getattr(layer.self_attn, "masked_key_indices", None)
        heads = []
        for h in range(full.shape[0]):
            t = full.shape[1]
            if masked is not None:  # AdaKV keeps the cache whole and masks per head
                keep = torch.ones(t, dtype=torch.bool, device=full.device)
                _, hs, ss = masked
                keep[ss[hs == h]] = False
            else:
                eq = (kept_keys[h][:, None, :] == full[h][None, :, :]).all(-1)  # [n, T]
                if not bool(eq.any(-1).all()):
                    raise SystemExit("layer %d head %d: a kept key matches no original key" % (l, h))
                keep = eq.any(0)
            bits = "".join("1" if b else "0" for b in keep.tolist())
            heads.append("%x:%d" % (int(bits[::-1], 2) if "1" in bits else 0, int(keep.sum())))
        if masked is not None:
            del layer.self_attn.masked_key_indices
        layers.append(heads)
    return layers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "models/kvpilot-mini"))
    ap.add_argument("--out", default=os.path.join(ROOT, "src/test/resources/kvpress/kept.json"))
    ap.add_argument("--ratios", default="0.25,0.5,0.75")
    args = ap.parse_args()

    import kvpress
    from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

    patch_forward_hook()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    models = {impl: AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation=impl)
              .to(device).eval() for impl in ("sdpa", "eager")}
    cases, prompt_list = [], []
    for p, (name, ids) in enumerate(prompts(tokenizer)):
        prompt_list.append({"name": name, "ids": ids})
        x = torch.tensor([ids], device=device)
        full = {}
        for impl, model in models.items():
            cache = DynamicCache()
            with torch.no_grad():
                model(input_ids=x, past_key_values=cache)
            full[impl] = [cache.layers[l].keys for l in range(len(model.model.layers))]
        for ratio in [float(r) for r in args.ratios.split(",")]:
            for method, (press, impl) in presses(ratio).items():
                layers = kept_masks(models[impl], press, x, full[impl])
                cases.append({"method": method, "ratio": ratio, "prompt": p, "kept": layers})
                print(method, ratio, name, [int(h.split(":")[1]) for h in layers[0]], flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"model": os.path.basename(os.path.normpath(args.model)), "kvpress": "0.5.4",
                   "torch": torch.__version__, "format": "per layer, per KV head: '<hex bitmask, bit i = entry i kept>"
                   ":<kept count>'", "prompts": prompt_list, "cases": cases}, f, separators=(",", ":"))
    print("wrote", args.out, "version", getattr(kvpress, "__version__", "0.5.4"))


if __name__ == "__main__":
    main()
