#!/usr/bin/env python3
"""Train kvpilot-mini: a small LLaMA-architecture model (RMSNorm, RoPE, SwiGLU, GQA, tied embeddings).

    python3 training/train.py --data training/data --tokenizer models/kvpilot-mini/tokenizer.json \
        --minutes 2.6 --out training/out/run --export models/kvpilot-mini

`--minutes` is a wall-clock budget counted from the start of this script (tokenising the corpus and
torch.compile included); the learning-rate schedule (linear warm-up by steps, cosine decay by elapsed time)
spreads over whatever remains. Sequences are 2048 tokens; a fraction `--synthetic` of each batch are synthetic
long-context retrieval sequences (training/synthetic.py), the rest random windows of the corpus token stream,
drawn per category in proportion to tokens x weight (weights from sources.json: the story books are upsampled).

The model is plain PyTorch whose parameter names are exactly those of HF LlamaForCausalLM; at the end the weights
are exported (training/export.py) and checked against transformers' own LlamaForCausalLM on the exported files.
"""
import argparse
import json
import math
import os
import random
import sys
import time

T_START = time.time()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from corpus_io import CATEGORIES, ensure_text, read_docs  # noqa: E402
import stories  # noqa: E402
import synthetic  # noqa: E402


def log(*a):
    print(f"[{time.time() - T_START:7.1f}s]", *a, flush=True)


# ================================================================================================== model
class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        dt = x.dtype
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(dt)


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.h, self.kv, self.hd = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        d = c["hidden_size"]
        self.q_proj = nn.Linear(d, self.h * self.hd, bias=False)
        self.k_proj = nn.Linear(d, self.kv * self.hd, bias=False)
        self.v_proj = nn.Linear(d, self.kv * self.hd, bias=False)
        self.o_proj = nn.Linear(self.h * self.hd, d, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.h, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv, self.hd).transpose(1, 2)
        cos, sin = cos.to(q.dtype), sin.to(q.dtype)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.h // self.kv
        k = k.repeat_interleave(rep, dim=1)  # head j uses kv head j // rep, as HF repeat_kv
        v = v.repeat_interleave(rep, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o_proj(y.transpose(1, 2).reshape(b, t, self.h * self.hd))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, f = c["hidden_size"], c["intermediate_size"]
        self.gate_proj = nn.Linear(d, f, bias=False)
        self.up_proj = nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn = Attention(c)
        self.mlp = MLP(c)
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class Inner(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([Block(c) for _ in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])


class Llama(nn.Module):
    """Parameter names == HF LlamaForCausalLM (tied: no lm_head.weight)."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        self.model = Inner(c)
        hd = c["head_dim"]
        inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
        pos = torch.arange(c["max_position_embeddings"], dtype=torch.float32)
        fr = torch.outer(pos, inv)
        emb = torch.cat((fr, fr), dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)
        self.apply(self._init)
        for n, p in self.named_parameters():
            if n.endswith("o_proj.weight") or n.endswith("down_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * c["num_hidden_layers"]))

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)

    def logits(self, idx):
        t = idx.shape[1]
        x = self.model.embed_tokens(idx)
        cos, sin = self.cos[:t], self.sin[:t]
        for blk in self.model.layers:
            x = blk(x, cos, sin)
        x = self.model.norm(x)
        return F.linear(x, self.model.embed_tokens.weight)

    def forward(self, idx, targets, weights):
        lg = self.logits(idx)
        lt = F.cross_entropy(lg.float().view(-1, lg.shape[-1]), targets.reshape(-1), reduction="none")
        w = weights.reshape(-1)
        return (lt * w).sum() / w.sum(), lt.mean().detach()


def model_config(a):
    return {"vocab_size": a.vocab, "hidden_size": a.dim, "intermediate_size": a.ffn,
            "num_hidden_layers": a.layers, "num_attention_heads": a.heads, "num_key_value_heads": a.kv_heads,
            "head_dim": a.dim // a.heads, "max_position_embeddings": a.seq_len, "rope_theta": a.rope_theta,
            "rms_norm_eps": 1e-5}


# ================================================================================================== data
def tokenize_corpus(text_dir, tok, bos, eos):
    """-> {category: np.uint16 stream of [bos] doc [eos] [bos] doc [eos] ...}"""
    nl2 = tok.encode("\n\n", add_special_tokens=False).ids
    streams = {}
    for cat in CATEGORIES:
        docs = read_docs(os.path.join(text_dir, f"train_{cat}.txt"))
        pieces, owner = [], []
        for di, d in enumerate(docs):
            paras = d.split("\n\n")
            for i in range(0, len(paras), 16):
                pieces.append("\n\n".join(paras[i:i + 16]))
                owner.append(di)
        encs = tok.encode_batch(pieces, add_special_tokens=False)
        out, prev = [], -1
        sep = np.array(nl2, dtype=np.uint16)
        for di, e in zip(owner, encs):
            if di != prev:
                if prev >= 0:
                    out.append(np.array([eos], dtype=np.uint16))
                out.append(np.array([bos], dtype=np.uint16))
                prev = di
            else:
                out.append(sep)
            out.append(np.array(e.ids, dtype=np.uint16))
        out.append(np.array([eos], dtype=np.uint16))
        streams[cat] = np.concatenate(out)
    return streams


class Batches(torch.utils.data.IterableDataset):
    def __init__(self, streams, weights, seq_len, batch, syn_frac, tok_path, seed, story_frac=0.0):
        super().__init__()
        self.story_frac = story_frac
        self.streams = {c: s for c, s in streams.items() if len(s) > seq_len + 2}
        self.cats = list(self.streams)
        p = np.array([len(self.streams[c]) * weights.get(c, 1.0) for c in self.cats], dtype=np.float64)
        self.p = p / p.sum()
        self.seq_len, self.batch, self.syn_frac = seq_len, batch, syn_frac
        self.tok_path, self.seed = tok_path, seed

    def natural(self, n, rng):
        c = self.cats[int(np.searchsorted(np.cumsum(self.p), rng.random() * 0.999999))]
        s = self.streams[c]
        n = min(n, len(s) - 1)
        st = rng.randrange(0, len(s) - n)
        return s[st:st + n].tolist()

    def __iter__(self):
        from tokenizers import Tokenizer
        info = torch.utils.data.get_worker_info()
        wid = info.id if info else 0
        rng = random.Random(self.seed * 1009 + wid)
        nrng = np.random.default_rng(self.seed * 1009 + wid)
        tok = Tokenizer.from_file(self.tok_path)
        gen = synthetic.SyntheticGenerator(tok, self.natural, self.seq_len)
        T = self.seq_len
        cum = np.cumsum(self.p)
        srng = random.Random(self.seed * 7919 + wid)  # synthetic stories (training/stories.py), fresh every time
        sbuf = []

        def story_seq():
            # whole stories, each <s> story </s>, packed from a story start; cut at T + 1 tokens
            out = []
            while len(out) < T + 1:
                if not sbuf:
                    for e in tok.encode_batch([stories.story(srng) for _ in range(64)], add_special_tokens=False):
                        sbuf.append([1] + e.ids + [2])
                out += sbuf.pop()
            return out[:T + 1]

        while True:
            x = np.empty((self.batch, T + 1), dtype=np.int64)
            w = np.ones((self.batch, T), dtype=np.float32)
            nsyn = int(self.batch * self.syn_frac + rng.random())
            for i in range(self.batch):
                if i < nsyn:
                    ids, ww = gen.sequence(rng)
                    x[i] = ids
                    w[i] = ww
                elif rng.random() < self.story_frac:
                    x[i] = story_seq()
                else:
                    c = self.cats[int(np.searchsorted(cum, rng.random() * 0.999999))]
                    s = self.streams[c]
                    st = int(nrng.integers(0, len(s) - T - 1))
                    x[i] = s[st:st + T + 1]
            yield torch.from_numpy(x), torch.from_numpy(w)


# ================================================================================================== main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="training/data")
    ap.add_argument("--tokenizer", default="models/kvpilot-mini/tokenizer.json")
    ap.add_argument("--out", default="training/out/run")
    ap.add_argument("--export", default="models/kvpilot-mini", help="HF export directory ('' to skip)")
    ap.add_argument("--minutes", type=float, default=2.6, help="wall-clock budget from script start")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: time only)")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=1024)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--rope-theta", type=float, default=10000.0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-ratio", type=float, default=0.05)
    ap.add_argument("--warmup-steps", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--synthetic", type=float, default=0.35, help="fraction of sequences that are synthetic")
    ap.add_argument("--stories", type=float, default=0.35,
                    help="fraction of the natural-text (non-retrieval) sequences that are synthetic children's "
                         "stories from training/stories.py")
    ap.add_argument("--compile", type=int, default=1)
    ap.add_argument("--workers", type=int, default=12)
    ap.add_argument("--eval-every", type=int, default=200, help="held-out loss + passkey probe every N steps")
    ap.add_argument("--select-best", type=int, default=1,
                    help="export the probed checkpoint with the lowest held-out (children + docs) monitoring loss "
                         "among those whose teacher-forced passkey probe is >= 0.9 (early stopping)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--log-every", type=int, default=50)
    args = ap.parse_args()
    deadline = T_START + args.minutes * 60
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    from tokenizers import Tokenizer

    text_dir = ensure_text(args.data)
    meta = json.load(open(os.path.join(args.data, "sources.json")))
    weights = meta.get("weights", {})
    tok = Tokenizer.from_file(args.tokenizer)
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    assert (bos, eos) == (1, 2), (bos, eos)
    assert tok.get_vocab_size() == args.vocab, tok.get_vocab_size()
    gen_check = synthetic.SyntheticGenerator(tok, None, args.seq_len)
    bad = gen_check.check_consistency()
    log(f"synthetic token-assembly consistency: {bad} mismatches of 40")
    streams = tokenize_corpus(text_dir, tok, bos, eos)
    ntok = {c: int(len(s)) for c, s in streams.items()}
    log("corpus tokens", ntok, "total", sum(ntok.values()))

    probe = make_probe(text_dir, tok, args.seq_len)
    c = model_config(args)
    dev = "cuda"
    model = Llama(c).to(dev)
    nparams = sum(p.numel() for p in model.parameters())
    log(f"params {nparams:,} (non-embedding {nparams - c['vocab_size'] * c['hidden_size']:,})")
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95),
                            eps=1e-8, fused=True)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    fwd = torch.compile(model) if args.compile else model

    ds = Batches(streams, weights, args.seq_len, args.batch, args.synthetic, args.tokenizer, args.seed,
                 args.stories)
    dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=args.workers, pin_memory=True,
                                     prefetch_factor=4 if args.workers else None,
                                     persistent_workers=bool(args.workers))
    it = iter(dl)
    step, seen, t_loop0, hist, best = 0, 0, None, [], None
    log("training starts")
    while True:
        x, w = next(it)
        x = x.to(dev, non_blocking=True)
        w = w.to(dev, non_blocking=True)
        now = time.time()
        if t_loop0 is None:
            frac = 0.0
        else:
            frac = min(1.0, (now - t_loop0) / max(1e-6, deadline - t_loop0))
        lr = args.lr * min(1.0, (step + 1) / args.warmup_steps) * (
            args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss, lm = fwd(x[:, :-1], x[:, 1:], w)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        seen += x.shape[0] * args.seq_len
        if t_loop0 is None:
            torch.cuda.synchronize()
            t_loop0 = time.time()
            log(f"first step (compile) done; loss {loss.item():.3f}")
            seen_at_loop0 = seen
        if step % args.log_every == 0:
            el = time.time() - t_loop0
            rec = {"step": step, "loss": round(loss.item(), 4), "lm_loss": round(lm.item(), 4), "lr": lr,
                   "grad_norm": round(float(gn), 3), "tok_per_s": int((seen - seen_at_loop0) / max(el, 1e-6))}
            hist.append(rec)
            log(json.dumps(rec))
        stop = time.time() >= deadline or (args.max_steps and step >= args.max_steps)
        if step % args.eval_every == 0 or stop:
            r = run_probe(model, probe, dev)
            r["step"] = step
            r["tokens_seen"] = seen
            hist.append(r)
            log(json.dumps(r))
            score = r.get("heldout_children_loss", 0) + r.get("heldout_docs_loss", 0)
            if r["passkey2048_teacher_forced"] >= 0.9 and (best is None or score < best[0]):
                best = (score, step, seen, {k: v.detach().clone() for k, v in model.state_dict().items()})
        if stop:
            break
    torch.cuda.synchronize()
    train_s = time.time() - (t_loop0 or time.time())
    log(f"done: {step} steps, {seen:,} tokens, loop {train_s:.0f}s, final loss {loss.item():.3f}")
    selected = None
    if args.select_best and best is not None:
        model.load_state_dict(best[3])
        selected = {"step": best[1], "tokens_seen": best[2], "monitor_loss_sum": round(best[0], 4)}
        log(f"selected checkpoint of step {best[1]} ({best[2]:,} tokens), monitoring loss sum {best[0]:.4f}")
    os.makedirs(args.out, exist_ok=True)
    state = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    torch.save({"config": c, "state": state}, os.path.join(args.out, "model.pt"))
    summary = {"command": "python3 " + " ".join(sys.argv), "args": vars(args), "params": nparams,
               "steps": step, "tokens_seen": seen, "sequence_length": args.seq_len,
               "tokens_per_step": args.batch * args.seq_len, "train_loop_seconds": round(train_s, 1),
               "script_seconds": round(time.time() - T_START, 1), "corpus_tokens": ntok,
               "final_loss": round(loss.item(), 4), "final_lm_loss": round(lm.item(), 4), "history": hist,
               "device": torch.cuda.get_device_name(0), "torch": torch.__version__,
               "synthetic_consistency_mismatches": bad, "selected": selected}
    with open(os.path.join(args.out, "training_summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    if args.export:
        import export
        export.export_hf(state, c, args.tokenizer, args.export, summary)
        log("exported to", args.export)
        d = hf_parity_check(args.export, model)
        summary["hf_parity_max_abs_logit_diff"] = d
        with open(os.path.join(args.export, "training_summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
    log("finished")
    os._exit(0)  # do not wait for dataloader workers


def make_probe(text_dir, tok, T):
    """Held-out windows (children, docs) and teacher-forced passkey answers at L=2048 for monitoring."""
    pr = {}
    for name in ("heldout_children", "heldout_docs"):
        st = []
        for d in read_docs(os.path.join(text_dir, f"{name}.txt"))[:400]:
            st += [1] + tok.encode(d, add_special_tokens=False).ids + [2]
            if len(st) > 4 * T + 4:
                break
        pr[name] = torch.tensor([st[i * T:(i + 1) * T + 1] for i in range(min(4, (len(st) - 1) // T))])
    count = lambda s: len(tok.encode(s).ids)  # noqa: E731
    cases = []
    for i, pct in enumerate(synthetic.DEPTHS_PCT * 2):
        prompt, ans = synthetic.passkey_eval_case(count, T, pct, 1000 + i)
        ids = tok.encode(prompt).ids
        a = tok.encode(" " + ans, add_special_tokens=False).ids
        cases.append((ids, a))
    pr["passkey"] = cases
    return pr


@torch.no_grad()
def run_probe(model, pr, dev):
    r = {}
    with torch.autocast("cuda", dtype=torch.bfloat16):
        for name in ("heldout_children", "heldout_docs"):
            x = pr[name].to(dev)
            if len(x):
                lg = model.logits(x[:, :-1]).float()
                r[name + "_loss"] = round(float(F.cross_entropy(lg.reshape(-1, lg.shape[-1]),
                                                                x[:, 1:].reshape(-1))), 4)
        ok = 0
        for ids, a in pr["passkey"]:
            x = torch.tensor([ids + a], device=dev)
            pred = model.logits(x)[0, len(ids) - 1:len(ids) - 1 + len(a)].argmax(-1).tolist()
            ok += pred == a
        r["passkey2048_teacher_forced"] = ok / len(pr["passkey"])
    return r


def hf_parity_check(export_dir, model):
    """Our model (weights rounded to the exported bf16) vs transformers' LlamaForCausalLM on the exported dir."""
    from transformers import AutoModelForCausalLM
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    hf = AutoModelForCausalLM.from_pretrained(export_dir, dtype=torch.float32).cuda().eval()
    ours = Llama(model.c).cuda().eval()
    ours.load_state_dict({k: v.to(torch.bfloat16).float() for k, v in model.state_dict().items()})
    idx = torch.randint(3, model.c["vocab_size"], (2, 300), device="cuda")
    with torch.no_grad():
        a = hf(input_ids=idx).logits.float()
        b = ours.logits(idx).float()
    d = float((a - b).abs().max())
    log(f"HF parity: max |logit diff| ours vs transformers = {d:.2e} (logit scale {float(a.abs().max()):.1f})")
    return d


if __name__ == "__main__":
    main()
