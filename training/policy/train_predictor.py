#!/usr/bin/env python3
"""Trains KVPilot's quality predictor (the controller's learned part) from the per-prompt compression data set.

    python3 training/policy/train_predictor.py --data training/policy/data/predictor_data.csv --out policy-models/v1

Deterministic (fixed seed, full-batch optimisation, numpy only). Writes to --out: quality-predictor.json (the weights
the Java LearnedQualityPredictor loads), its SHA-256 in quality-predictor.json.sha256, test-vectors.json (inputs and
this script's predictions, which the Java tests must reproduce within 1e-6), validation.json and calibration.csv
(held-out figures for the model card).

The model (monotone in the ratio by construction): quality q = exp(-H), H >= 0 the hazard of the setting,
    H = Hbits + sum_k c_k(ratio) * softplus(theta_k . z_k)
Hbits = softplus(beta . zq) for 8 and 4 bits, 0 at 16; c_k the share of the ratio segment k = (r_{k-1}, r_k] that the
ratio covers (knots 0, .25, .5, .75, .9; the last segment extends to ratio 1); z_k = [one-hot(method x task),
one-hot(method x task) * log2(prompt/1024), one-hot(method x task) * (1 - kept mass at r_k)]. Every term of H is
non-negative and c_k grows with the ratio, so predicted quality never rises with the ratio. Two heads: 'prefill' uses
the kept score mass, 'admission' (no prefill yet) leaves that block out.
"""
import argparse
import csv
import hashlib
import json
import math
import os

import numpy as np

VERSION = "v1"
METHODS = ["none", "keydiff", "snapkv", "streaming_llm", "knorm", "adakv_keydiff"]
TASKS = ["retrieval", "continuation", "unknown"]
# ppl: the evaluation's teacher-forced windows; story / longdoc: the trace replay's continuations (greedy agreement)
TASK_OF = {"passkey": "retrieval", "multikey": "retrieval", "ppl": "continuation", "story": "continuation",
           "longdoc": "continuation"}
KNOTS = [0.0, 0.25, 0.5, 0.75, 0.9]
QBITS = [8, 4]
SEED = 20261203
HEADS = ["admission", "prefill"]
MASS_RATIOS = [0.25, 0.5, 0.75, 0.9]  # the data set's kept-mass columns (read from its header in main)


def load(path):
    rows = []
    with open(path, newline="") as f:
        lines = [l for l in f if not l.startswith("#")]
    for r in csv.DictReader(lines):
        rows.append(r)
    return rows


def prompt_key(r):
    return (r["task"], r["set"], r["L"], r["depth"], r["trial"])


def targets(rows):
    """Quality retention per row, against the uncompressed (none, 16 bits) row of the same prompt; rows that carry
    their own measured quality (the trace-quality data set) keep it."""
    base = {}
    for r in rows:
        if r["method"] == "none" and r["bits"] == "16":
            base[prompt_key(r)] = r
    out = []
    for r in rows:
        if r.get("quality") not in (None, ""):
            out.append(float(r["quality"]))
            continue
        u = base[prompt_key(r)]
        if r["task"] == "ppl":
            d = max(0.0, float(r["nll"]) - float(u["nll"]))
            q = math.exp(-d / int(r["tokens"]))
        else:
            q = 1.0 if (r["answer"] == u["answer"] or (r["correct"] == "1" and u["correct"] == "1")) else 0.0
        out.append(q)
    return np.array(out)


def segment_cover(ratio):
    """c_k(ratio) for k = 1..4."""
    c = np.zeros(len(KNOTS) - 1)
    for k in range(1, len(KNOTS)):
        lo, hi = KNOTS[k - 1], KNOTS[k]
        v = (ratio - lo) / (hi - lo)
        c[k - 1] = max(0.0, v) if k == len(KNOTS) - 1 else min(1.0, max(0.0, v))
    return c


def kept_mass_at(masses, ratios, r):
    """Kept mass at ratio r, linear between the measured ratios, 1 at ratio 0."""
    xs = [0.0] + list(ratios)
    ys = [1.0] + list(masses)
    return float(np.interp(r, xs, ys))


SEGMENTS = len(KNOTS) - 1


def configure(methods):
    """The model's methods: a method the data never shows would keep its initial weights (a guess), so only methods
    with rows are modelled; the Java predictor answers 0 and supports() false for any other."""
    global METHODS, N_MT, Z_DIM, ZQ_DIM
    METHODS = methods
    N_MT = len(METHODS) * len(TASKS)
    Z_DIM = {"admission": 2 * N_MT, "prefill": 3 * N_MT}
    ZQ_DIM = len(QBITS) * N_MT + len(QBITS) * len(TASKS)


configure(METHODS)


def encode(cases, head):
    """Sparse features of (method, task, bits, ratio, prompt_tokens, masses) cases; masses None: the method keeps all.

    theta[k] is read at mt (intercept), N_MT + mt (times log2(prompt / 1024)) and, prefill head only, 2 N_MT + mt
    (times 1 - kept mass at knot k); beta at the (bits, method, task) intercept and the (bits, task) length slope."""
    n = len(cases)
    f = {"mt": np.zeros(n, int), "lx": np.zeros(n), "lost": np.zeros((n, SEGMENTS)), "c": np.zeros((n, SEGMENTS)),
         "qi": np.zeros(n, int), "qs": np.zeros(n, int), "qm": np.zeros(n), "prefill": head == "prefill"}
    for i, (method, task, bits, ratio, prompt_tokens, masses) in enumerate(cases):
        mi, ti = METHODS.index(method), TASKS.index(task)
        f["mt"][i] = mi * len(TASKS) + ti
        f["lx"][i] = math.log2(prompt_tokens / 1024.0)
        f["c"][i] = segment_cover(ratio)
        if head == "prefill":
            for k in range(1, len(KNOTS)):
                f["lost"][i, k - 1] = 1.0 - (1.0 if masses is None else kept_mass_at(masses, MASS_RATIOS, KNOTS[k]))
        if bits != 16:
            bi = QBITS.index(bits)
            f["qi"][i] = (bi * len(METHODS) + mi) * len(TASKS) + ti
            f["qs"][i] = len(QBITS) * N_MT + bi * len(TASKS) + ti
            f["qm"][i] = 1.0
    return f


def concat(parts):
    return {k: (np.concatenate([p[k] for p in parts]) if k != "prefill" else parts[0][k]) for k in parts[0]}


def softplus(x):
    return np.logaddexp(0.0, x)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def hazard(params, f):
    th, mt = params["theta"], f["mt"]
    a = th[:, mt].T + th[:, N_MT + mt].T * f["lx"][:, None]  # [N, K]
    if f["prefill"]:
        a = a + th[:, 2 * N_MT + mt].T * f["lost"]
    h_seg = (f["c"] * softplus(a)).sum(1)
    aq = params["beta"][f["qi"]] + params["beta"][f["qs"]] * f["lx"]
    return h_seg + f["qm"] * softplus(aq), a, aq


def loss_grad(params, f, y, w, l2):
    H, a, aq = hazard(params, f)
    He = H + 1e-3  # keeps log(1 - q) finite where the setting loses nothing
    # soft-label Bernoulli NLL of q = exp(-H): y * H - (1 - y) * log(1 - exp(-H))
    loss = (w * (y * He - (1 - y) * np.log(-np.expm1(-He)))).sum() / w.sum()
    dH = w * (y - (1 - y) / np.expm1(He)) / w.sum()
    g = dH[:, None] * f["c"] * sigmoid(a)  # [N, K]
    d_theta = np.zeros_like(params["theta"])
    for k in range(SEGMENTS):
        blocks = [(0, g[:, k]), (N_MT, g[:, k] * f["lx"])]
        if f["prefill"]:
            blocks.append((2 * N_MT, g[:, k] * f["lost"][:, k]))
        for off, wk in blocks:
            d_theta[k, off:off + N_MT] += np.bincount(f["mt"], weights=wk, minlength=N_MT)
    gq = dH * f["qm"] * sigmoid(aq)
    d_beta = np.bincount(f["qi"], weights=gq, minlength=ZQ_DIM) + np.bincount(f["qs"], weights=gq * f["lx"],
                                                                               minlength=ZQ_DIM)
    # ridge on the slopes only (log length, kept mass): the per-cell intercepts stay free, or the many small cells
    # could not reach a hazard near 0 (a setting that loses nothing)
    rt, rb = slope_mask(params["theta"].shape, params["beta"].shape)
    loss += l2 * ((rt * params["theta"] ** 2).sum() + (rb * params["beta"] ** 2).sum())
    return loss, {"theta": d_theta + 2 * l2 * rt * params["theta"], "beta": d_beta + 2 * l2 * rb * params["beta"]}


def slope_mask(theta_shape, beta_shape):
    rt = np.zeros(theta_shape)
    rt[:, N_MT:] = 1.0
    rb = np.zeros(beta_shape)
    rb[len(QBITS) * N_MT:] = 1.0
    return rt, rb


def fit(f, y, w, head, iters=4000, lr=0.05, l2=1e-3):
    rng = np.random.default_rng(SEED)
    params = {"theta": rng.normal(0, 0.01, (SEGMENTS, Z_DIM[head])), "beta": rng.normal(0, 0.01, ZQ_DIM) - 3.0}
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(x) for k, x in params.items()}
    b1, b2 = 0.9, 0.999
    loss = None
    for t in range(1, iters + 1):
        loss, g = loss_grad(params, f, y, w, l2)
        for k in params:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            params[k] -= lr * (m[k] / (1 - b1 ** t)) / (np.sqrt(v[k] / (1 - b2 ** t)) + 1e-8)
    return params, loss


def row_case(r, task_override=None):
    masses = None if r["method"] == "none" else [float(r["kept_mass_%.2f" % x]) for x in MASS_RATIOS]
    return (r["method"], task_override or TASK_OF[r["task"]], int(r["bits"]), float(r["ratio"]),
            int(r["prompt_tokens"]), masses)


def featurise(rows, head, task_override=None):
    return encode([row_case(r, task_override) for r in rows], head)


def training_set(rows, y, head):
    """Each row with its true task hint, and again with hint 'unknown' (the model's answer for requests without one)."""
    f = concat([featurise(rows, head), featurise(rows, head, "unknown")])
    return f, np.concatenate([y, y]), np.ones(2 * len(y))


def predict(params, rows, head, task_override=None):
    H, _, _ = hazard(params, featurise(rows, head, task_override))
    return np.exp(-H)


def spearman(a, b):
    def ranks(x):
        order = np.argsort(x, kind="mergesort")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        # average ranks of ties
        xs = x[order]
        i = 0
        while i < len(x):
            j = i
            while j + 1 < len(x) and xs[j + 1] == xs[i]:
                j += 1
            r[order[i:j + 1]] = (i + j) / 2.0
            i = j + 1
        return r
    ra, rb = ranks(np.asarray(a, float)), ranks(np.asarray(b, float))
    return float(np.corrcoef(ra, rb)[0, 1])


def split_prompts(rows):
    """A quarter of each task's prompts held out (seeded); every row of a prompt falls on one side."""
    rng = np.random.default_rng(SEED)
    by_task = {}
    for k in sorted({prompt_key(r) for r in rows}):
        by_task.setdefault(k[0], []).append(k)
    held = set()
    for task, keys in sorted(by_task.items()):
        idx = rng.permutation(len(keys))
        held.update(keys[i] for i in idx[: max(1, len(keys) // 4)])
    return held


def cell_baseline(train_rows, y_train, rows):
    """The mean measured quality of the training rows of the same method x ratio x bits x task (no per-prompt input)."""
    acc = {}
    for r, q in zip(train_rows, y_train):
        acc.setdefault((r["method"], r["ratio"], r["bits"], TASK_OF[r["task"]]), []).append(q)
    return np.array([np.mean(acc[(r["method"], r["ratio"], r["bits"], TASK_OF[r["task"]])]) for r in rows])


def metrics(pred, y, rows):
    out = {"rows": int(len(y)), "mae": float(np.mean(np.abs(pred - y))),
           "spearman_loss": spearman(1 - pred, 1 - y)}
    for task in sorted({r["task"] for r in rows}):
        idx = np.array([r["task"] == task for r in rows])
        out["mae_" + task] = float(np.mean(np.abs(pred[idx] - y[idx])))
        out["spearman_loss_" + task] = spearman(1 - pred[idx], 1 - y[idx]) if np.std(y[idx]) > 0 else None
    sources = sorted({source(r) for r in rows})
    if len(sources) > 1:  # several data sets: each one's own figures too
        for src in sources:
            idx = np.array([source(r) == src for r in rows])
            out["mae_source_" + src] = float(np.mean(np.abs(pred[idx] - y[idx])))
            out["spearman_loss_source_" + src] = spearman(1 - pred[idx], 1 - y[idx]) if np.std(y[idx]) > 0 else None
    return out


def source(r):
    """Which data set a row comes from: the trace-quality set (a per-row quality) or the compression evaluation."""
    return "trace" if r.get("quality") not in (None, "") else "evaluation"


def export(params_by_head, mass_ratios, out_dir, data_path, n_rows, n_prompts, validation):
    model = {
        "format": "kvpilot-quality-predictor",
        "version": VERSION,
        "kind": "monotone-hazard",
        "methods": METHODS,
        "tasks": TASKS,
        "task_of_hint": {"retrieval": "retrieval", "continuation": "continuation"},
        "knots": KNOTS,
        "quantized_bits": QBITS,
        "kept_mass_ratios": list(mass_ratios),
        "log_length_reference_tokens": 1024,
        "heads": {h: {"theta": p["theta"].tolist(), "beta": p["beta"].tolist()} for h, p in params_by_head.items()},
        "training": {"data": [os.path.basename(p) for p in data_path], "rows": n_rows, "prompts": n_prompts, "seed": SEED,
                     "validation": validation},
    }
    text = json.dumps(model, indent=1, sort_keys=False) + "\n"
    path = os.path.join(out_dir, "quality-predictor.json")
    with open(path, "w") as f:
        f.write(text)
    digest = hashlib.sha256(text.encode()).hexdigest()
    with open(path + ".sha256", "w") as f:
        f.write(digest + "  quality-predictor.json\n")
    return digest


def test_vectors(params_by_head, mass_ratios, rows, out_dir):
    """A few inputs across methods, bits, ratios (grid and off-grid), lengths and hints, with this script's answers."""
    rng = np.random.default_rng(SEED + 1)
    cases = []
    for i in range(48):
        method = METHODS[i % len(METHODS)]
        ratio = 0.0 if method == "none" else float(rng.choice([0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.8, 0.9, 0.95]))
        bits = int(rng.choice([16, 8, 4]))
        prompt = int(rng.choice([80, 300, 512, 1100, 2048, 4000]))
        hint = [None, "retrieval", "continuation", "story"][i % 4]
        task = hint if hint in ("retrieval", "continuation") else "unknown"
        head = HEADS[(i // 2) % 2]
        masses = None if (head == "admission" or method == "none") else sorted(
            [float(x) for x in rng.uniform(0.2, 1.0, len(mass_ratios))], reverse=True)
        H, _, _ = hazard(params_by_head[head], encode([(method, task, bits, ratio, prompt, masses)], head))
        cases.append({"head": head, "method": method, "ratio": ratio, "bits": bits, "prompt_tokens": prompt, "task_hint": hint,
                      "kept_mass": masses, "quality": float(np.exp(-H[0]))})
    with open(os.path.join(out_dir, "test-vectors.json"), "w") as f:
        json.dump({"kept_mass_ratios": list(mass_ratios), "cases": cases}, f, indent=1)
        f.write("\n")


def calibration(pred, y, rows, out_dir):
    with open(os.path.join(out_dir, "calibration.csv"), "w") as f:
        f.write("task,bin_lo,bin_hi,rows,mean_predicted,mean_measured\n")
        for task in ["all"] + sorted({TASK_OF[r["task"]] for r in rows}):
            idx = np.array([task == "all" or TASK_OF[r["task"]] == task for r in rows])
            for b in range(10):
                lo, hi = b / 10, (b + 1) / 10
                sel = idx & (pred >= lo) & ((pred < hi) if b < 9 else (pred <= hi))
                if sel.sum():
                    f.write("%s,%.1f,%.1f,%d,%.6f,%.6f\n" % (task, lo, hi, sel.sum(), pred[sel].mean(), y[sel].mean()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", nargs="+", default=["training/policy/data/predictor_data.csv"])
    ap.add_argument("--exclude-tasks", default="", help="comma-separated data-set tasks left out (e.g. ppl)")
    ap.add_argument("--version", default="v1")
    ap.add_argument("--out", default="policy-models/v1")
    ap.add_argument("--iters", type=int, default=4000)
    args = ap.parse_args()
    global VERSION
    VERSION = args.version
    os.makedirs(args.out, exist_ok=True)
    excluded = {t for t in args.exclude_tasks.split(",") if t}
    rows = [r for path in args.data for r in load(path)
            if r["method"] in METHODS and int(r["bits"]) in (16, 8, 4) and r["task"] not in excluded]
    configure([m for m in METHODS if any(r["method"] == m for r in rows)])
    global MASS_RATIOS
    MASS_RATIOS = [float(c[len("kept_mass_"):]) for c in rows[0] if c.startswith("kept_mass_")]
    mass_ratios = MASS_RATIOS
    y = targets(rows)
    held = split_prompts(rows)
    tr = [i for i, r in enumerate(rows) if prompt_key(r) not in held]
    te = [i for i, r in enumerate(rows) if prompt_key(r) in held]
    tr_rows, te_rows = [rows[i] for i in tr], [rows[i] for i in te]
    validation = {"held_out_prompts": len(held), "train_prompts": len({prompt_key(r) for r in tr_rows})}
    for head in HEADS:
        params, loss = fit(*training_set(tr_rows, y[tr], head), head, iters=args.iters)
        p = predict(params, te_rows, head)
        validation[head] = metrics(p, y[te], te_rows)
        validation[head]["train_loss"] = float(loss)
        pu = predict(params, te_rows, head, "unknown")
        validation[head]["unknown_hint"] = metrics(pu, y[te], te_rows)
        if head == "prefill":
            calibration(p, y[te], te_rows, args.out)
    validation["cell_mean_baseline"] = metrics(cell_baseline(tr_rows, y[tr], te_rows), y[te], te_rows)
    # the published weights: the same fit on every prompt
    final = {}
    for head in HEADS:
        final[head], _ = fit(*training_set(rows, y, head), head, iters=args.iters)
    digest = export(final, mass_ratios, args.out, args.data, len(rows), len({prompt_key(r) for r in rows}),
                    validation)
    test_vectors(final, mass_ratios, rows, args.out)
    with open(os.path.join(args.out, "validation.json"), "w") as f:
        json.dump(validation, f, indent=1)
        f.write("\n")
    print(json.dumps(validation, indent=1))
    print("sha256", digest)


if __name__ == "__main__":
    main()
