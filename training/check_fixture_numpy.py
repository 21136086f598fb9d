#!/usr/bin/env python3
"""Torch-free cross-check of a parity fixture: a plain numpy fp32 Llama/Mistral (no biases) decode with a KV cache.

    python3 training/check_fixture_numpy.py models/kvpilot-mini src/test/resources/parity/kvpilot-mini
    python3 training/check_fixture_numpy.py src/test/resources/parity/llama-f32 src/test/resources/parity/llama-f32

Handles single-file safetensors (F32/BF16/F16), GQA, tied embeddings and default RoPE only (not llama3 scaling,
shards or q/k/v biases). Prints max |logit diff| against reference.safetensors and whether the greedy tokens agree.
"""
import json, struct, time, sys
import numpy as np
def load(path):
    b = open(path, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8+n]); base = 8+n; out = {}
    for k, v in h.items():
        if k == '__metadata__': continue
        s, e = v['data_offsets']; raw = b[base+s:base+e]
        if v['dtype'] == 'BF16': a = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif v['dtype'] == 'F32': a = np.frombuffer(raw, np.float32)
        elif v['dtype'] == 'F16': a = np.frombuffer(raw, np.float16).astype(np.float32)
        out[k] = a.reshape(v['shape'])
    return out
d = sys.argv[1]; fix = sys.argv[2]
c = json.load(open(d + '/config.json')); W = load(d + '/model.safetensors'); R = load(fix + '/reference.safetensors')
ref = json.load(open(fix + '/reference.json'))
H, KV, hd, L, eps = c['num_attention_heads'], c['num_key_value_heads'], c['head_dim'], c['num_hidden_layers'], c['rms_norm_eps']
inv = 1.0 / (c['rope_theta'] ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
def rope(x, pos):  # x [n, hd]
    f = pos * inv; cos = np.cos(np.concatenate([f, f])).astype(np.float32); sin = np.sin(np.concatenate([f, f])).astype(np.float32)
    x1, x2 = x[:, :hd//2], x[:, hd//2:]; return x * cos + np.concatenate([-x2, x1], 1) * sin
def rms(x, w): return w * (x / np.sqrt((x.astype(np.float32) ** 2).mean() + eps))
E = W['model.embed_tokens.weight']; lm = W.get('lm_head.weight', E)
def step(tok, pos, cache):
    x = E[tok].copy()
    for i in range(L):
        p = f'model.layers.{i}.'
        h = rms(x, W[p+'input_layernorm.weight'])
        q = (W[p+'self_attn.q_proj.weight'] @ h).reshape(H, hd); k = (W[p+'self_attn.k_proj.weight'] @ h).reshape(KV, hd); v = (W[p+'self_attn.v_proj.weight'] @ h).reshape(KV, hd)
        q = rope(q, pos); k = rope(k, pos)
        cache[i][0].append(k); cache[i][1].append(v)
        K = np.stack(cache[i][0], 1); V = np.stack(cache[i][1], 1)  # [KV, T, hd]
        o = np.empty((H, hd), np.float32)
        for j in range(H):
            s = K[j // (H // KV)] @ q[j] / np.sqrt(hd); s = np.exp(s - s.max()); s /= s.sum(); o[j] = s @ V[j // (H // KV)]
        x = x + W[p+'self_attn.o_proj.weight'] @ o.reshape(-1)
        h = rms(x, W[p+'post_attention_layernorm.weight'])
        g = W[p+'mlp.gate_proj.weight'] @ h; u = W[p+'mlp.up_proj.weight'] @ h
        x = x + W[p+'mlp.down_proj.weight'] @ (g / (1 + np.exp(-g)) * u)
    return lm @ rms(x, W['model.norm.weight'])
worst = 0; same = True; t_dec = 0; n_dec = 0
for k, s in enumerate(ref['sequences']):
    cache = [([], []) for _ in range(L)]; pre = []
    for pos, t in enumerate(s['prompt_ids']): pre.append(step(t, pos, cache))
    worst = max(worst, np.abs(np.stack(pre) - R[f'seq{k}.prefill_logits']).max())
    toks = []; nxt = int(pre[-1].argmax())
    for i in range(32):
        toks.append(nxt); t0 = time.time(); lg = step(nxt, len(s['prompt_ids']) + i, cache); t_dec += time.time() - t0; n_dec += 1
        worst = max(worst, np.abs(lg - R[f'seq{k}.decode_logits'][i]).max()); nxt = int(lg.argmax())
    same &= toks == s['greedy_tokens']
print(f"{d}: max|dlogit| {worst:.2e}, greedy tokens equal: {same}, numpy decode {n_dec / t_dec:.0f} tok/s (2-core box, naive numpy)")
