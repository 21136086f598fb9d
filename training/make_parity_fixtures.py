#!/usr/bin/env python3
"""Engine-correctness fixtures (docs/architecture.md section 5): small random HF checkpoints + transformers reference outputs.

    python3 training/make_parity_fixtures.py --out src/test/resources/parity            # the 4 random fixtures
    python3 training/make_parity_fixtures.py --out src/test/resources/parity \
        --default-model models/kvpilot-mini                                            # + kvpilot-mini reference

Random fixtures (seeded, built with transformers' config classes, saved with save_pretrained(safe_serialization)):
  llama-f32            LlamaForCausalLM, F32, untied, GQA
  llama3-bf16          LlamaForCausalLM, BF16, llama3 rope scaling, rope_theta 500000, tied embeddings
  mistral-f16-sharded  MistralForCausalLM, F16, >= 2 safetensors shards + model.safetensors.index.json
  qwen2-f32            Qwen2ForCausalLM (q/k/v biases), F32, tied embeddings
Each fixture dir holds the checkpoint plus reference.json and reference.safetensors (F32):
  seq{k}.prefill_logits [T_k, V]: logits at every prompt position
  seq{k}.decode_logits  [32, V]:  row i = logits at position T_k + i after feeding greedy_tokens[i]
  greedy_tokens[0] = argmax(prefill_logits[-1]); greedy_tokens[i+1] = argmax(decode_logits[i]).
References are computed on the CPU in fp32 (weights stored in bf16/f16 are upcast), eager attention,
deterministic algorithms, each sequence alone (no padding), decode steps through the KV cache (past_key_values).
EOS has no special meaning here: all 32 decode steps are always taken.
"""
import argparse
import json
import os
import shutil
import sys

import torch

DECODE_STEPS = 32


def log(*a):
    print(*a, flush=True)


def tiny_common(vocab=512):
    return dict(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, initializer_range=0.1,
                rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2)


def rope_kw(theta, scaling=None):
    """transformers >= 5 takes rope_parameters; 4.x takes rope_theta + rope_scaling."""
    import transformers
    if int(transformers.__version__.split(".")[0]) >= 5:
        return {"rope_parameters": dict(scaling or {"rope_type": "default"}, rope_theta=theta)}
    return {"rope_theta": theta, "rope_scaling": scaling}


def perturb(model, seed):
    """Non-trivial norm weights and biases so that loading them wrongly shows up in the logits."""
    g = torch.Generator().manual_seed(seed + 7)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "norm" in n:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif n.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


def patch_config(path, extra):
    """Add HF-4.x style keys (rope_theta / rope_scaling / torch_dtype) next to what transformers 5 wrote."""
    cfg = json.load(open(path))
    cfg.update(extra)
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)


@torch.no_grad()
def reference(model, prompts, steps=DECODE_STEPS):
    seqs, tensors = [], {}
    for k, ids in enumerate(prompts):
        inp = torch.tensor([ids], dtype=torch.long)
        out = model(input_ids=inp, use_cache=True)
        pre = out.logits[0].float()
        past = out.past_key_values
        toks, dec = [], []
        nxt = int(pre[-1].argmax())
        for i in range(steps):
            toks.append(nxt)
            out = model(input_ids=torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
            past = out.past_key_values
            row = out.logits[0, -1].float()
            dec.append(row)
            nxt = int(row.argmax())
        tensors[f"seq{k}.prefill_logits"] = pre.contiguous()
        tensors[f"seq{k}.decode_logits"] = torch.stack(dec).contiguous()
        seqs.append({"prompt_ids": list(map(int, ids)), "greedy_tokens": toks})
    return seqs, tensors


@torch.no_grad()
def check_full_forward(model, seqs, tensors):
    """The cached decode must agree with one full forward over prompt + generated tokens."""
    worst = 0.0
    for k, s in enumerate(seqs):
        ids = s["prompt_ids"] + s["greedy_tokens"]
        lg = model(input_ids=torch.tensor([ids])).logits[0].float()
        t = len(s["prompt_ids"])
        ref = torch.cat([tensors[f"seq{k}.prefill_logits"], tensors[f"seq{k}.decode_logits"]])
        worst = max(worst, float((lg - ref[: len(ids)]).abs().max()))
    return worst


def write_reference(dirname, arch, seqs, tensors, checkpoint=".", extra=None):
    from safetensors.torch import save_file
    ref = {"architecture": arch, "checkpoint": checkpoint, "decode_steps": DECODE_STEPS, "dtype_compute": "float32",
           "sequences": seqs}
    if extra:
        ref.update(extra)
    with open(os.path.join(dirname, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
    save_file(tensors, os.path.join(dirname, "reference.safetensors"), metadata={"format": "pt"})


def load_fp32(dirname, cls):
    m = cls.from_pretrained(dirname, dtype=torch.float32, attn_implementation="eager")
    return m.eval()


def make_random(out, name, seed, build, save_dtype, arch, config_extra, shard=None, prompt_lens=(7, 19, 33)):
    import transformers
    d = os.path.join(out, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    torch.manual_seed(seed)
    model, cls = build()
    perturb(model, seed)
    model = model.to(save_dtype)
    kw = {"safe_serialization": True}
    if shard:
        kw["max_shard_size"] = shard
    model.save_pretrained(d, **kw)
    patch_config(os.path.join(d, "config.json"), config_extra)
    m = load_fp32(d, cls)
    g = torch.Generator().manual_seed(seed + 1)
    V = m.config.vocab_size
    prompts = [torch.randint(3, V, (n,), generator=g).tolist() for n in prompt_lens]
    seqs, tensors = reference(m, prompts)
    worst = check_full_forward(m, seqs, tensors)
    write_reference(d, arch, seqs, tensors, extra={"seed": seed, "transformers_version": transformers.__version__,
                                                   "torch_version": torch.__version__})
    files = sorted(os.listdir(d))
    log(f"{name}: files {files}; cached-vs-full max|d| {worst:.2e}; "
        f"tokens {[s['greedy_tokens'][:6] for s in seqs]}")
    if shard:
        assert any(f.startswith("model-0000") for f in files) and "model.safetensors.index.json" in files, files
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="src/test/resources/parity")
    ap.add_argument("--skip-random", action="store_true")
    ap.add_argument("--default-model", default="", help="HF dir of kvpilot-mini: also write <out>/kvpilot-mini")
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(4)
    from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM, Qwen2Config,
                              Qwen2ForCausalLM)
    os.makedirs(args.out, exist_ok=True)

    if not args.skip_random:
        def llama_f32():
            c = LlamaConfig(**tiny_common(), tie_word_embeddings=False, **rope_kw(10000.0))
            return LlamaForCausalLM(c), LlamaForCausalLM

        make_random(args.out, "llama-f32", 11, llama_f32, torch.float32, "LlamaForCausalLM",
                    {"rope_theta": 10000.0, "rope_scaling": None, "torch_dtype": "float32"})

        rs = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
              "original_max_position_embeddings": 32}

        def llama3_bf16():
            c = LlamaConfig(**tiny_common(), tie_word_embeddings=True, **rope_kw(500000.0, rs))
            return LlamaForCausalLM(c), LlamaForCausalLM

        d = make_random(args.out, "llama3-bf16", 22, llama3_bf16, torch.bfloat16, "LlamaForCausalLM",
                        {"rope_theta": 500000.0, "rope_scaling": rs, "torch_dtype": "bfloat16"})
        rp = LlamaConfig.from_pretrained(d)
        log("llama3-bf16 loaded rope:", getattr(rp, "rope_parameters", None), getattr(rp, "rope_scaling", None))

        def mistral_f16():
            c = MistralConfig(**tiny_common(), tie_word_embeddings=False, sliding_window=None,
                              **rope_kw(10000.0))
            return MistralForCausalLM(c), MistralForCausalLM

        make_random(args.out, "mistral-f16-sharded", 33, mistral_f16, torch.float16, "MistralForCausalLM",
                    {"rope_theta": 10000.0, "rope_scaling": None, "torch_dtype": "float16", "sliding_window": None},
                    shard="100KB")

        def qwen2_f32():
            c = Qwen2Config(**tiny_common(), tie_word_embeddings=True, use_sliding_window=False,
                            **rope_kw(1000000.0))
            return Qwen2ForCausalLM(c), Qwen2ForCausalLM

        make_random(args.out, "qwen2-f32", 44, qwen2_f32, torch.float32, "Qwen2ForCausalLM",
                    {"rope_theta": 1000000.0, "rope_scaling": None, "torch_dtype": "float32"})

    if args.default_model:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        d = os.path.join(args.out, "kvpilot-mini")
        os.makedirs(d, exist_ok=True)
        tok = AutoTokenizer.from_pretrained(args.default_model)
        m = AutoModelForCausalLM.from_pretrained(args.default_model, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
        texts = ["Once upon a time there",
                 "The little rabbit ran into the forest, and the old",
                 "PostgreSQL stores each table as a file. When a row is updated, the database writes a new"]
        want = (6, 12, 20)
        prompts = []
        for t, n in zip(texts, want):
            ids = tok(t).input_ids
            assert ids[0] == 1, ids
            prompts.append(ids[:n])
        seqs, tensors = reference(m, prompts)
        worst = check_full_forward(m, seqs, tensors)
        for s, t in zip(seqs, texts):
            s["prompt_text_prefix_of"] = t
            s["greedy_text"] = tok.decode(s["greedy_tokens"])
        write_reference(d, "LlamaForCausalLM", seqs, tensors, checkpoint="models/kvpilot-mini",
                        extra={"weights_dtype": "bfloat16", "note": "checkpoint path is relative to the repo root"})
        log(f"kvpilot-mini: prompt lens {[len(p) for p in prompts]}, cached-vs-full {worst:.2e}, "
            f"greedy {[s['greedy_text'][:60] for s in seqs]}")


if __name__ == "__main__":
    main()
