#!/usr/bin/env python3
"""Trace-replay benchmark of the adaptive controller (a command, not a test; standard library only).

An open-loop trace alternates quiet phases and bursts of a request mix -- passkey and multi-key retrieval with known
answers (300-1,800 tokens), short story continuations, and continuations of long documents (a large cache held for
100+ decode steps) -- and is replayed, same trace and seed, against the service under each policy: `auto` (the
controller), `off`, static settings (method:ratio:bits), and `threshold` (a static rule: compress when KV use > 80 %).
The service runs with a fixed KV budget small enough that uncompressed serving must queue or reject during bursts.

Quality of a request:
  retrieval     1 if the answer's leading number equals the key, else 0 (the model is ~100 % correct uncompressed);
  continuation  agreement with the uncompressed greedy output of the same prompt, computed at idle with
                kv_compression "off": the longest common subsequence of the two outputs' tokens over the reference's
                length (1.0 when identical).
A request meets its objective when it answered 200 with TTFT <= --ttft and TPOT <= --tpot. Quality-weighted goodput
= sum of the quality of requests that met their objective, per minute; rejected or failed requests count 0. The
per-request best in hindsight takes, for each request, the best (met x quality) over the static runs of the same
invocation: an upper bound no single static setting reaches.

  python3 bench/trace_replay.py --jar target/kvpilot.jar --family A --seed 1 --minutes 4 \\
      --policies auto,off,keydiff:0.5:16,threshold --out bench/out/trace-A

Writes <out>/trace.json, refs.json (the uncompressed references), <policy>.jsonl (one line per request), and
summary.json / summary.md / goodput.svg.
"""
import argparse
import hashlib
import http.client
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The retrieval prompts' strings are training/synthetic.py's (the ones the default model was trained and evaluated on)
sys.path.insert(0, os.path.join(ROOT, "training"))
from synthetic import MULTIKEY_INTRO, NAMES, PASSKEY_INTRO, PASSKEY_QUESTION, filler  # noqa: E402

TOKENS_PER_FILLER_UNIT = 24  # measured with the default model's tokenizer; the real count comes back in usage

# Trace families: the mix and the burst shape differ, so a policy tuned on one is reported on the other.
FAMILIES = {
    "A": {"mix": {"passkey": 0.25, "multikey": 0.15, "story": 0.35, "longdoc": 0.25},
          "quiet_s": 40, "burst_s": 20, "quiet_rps": 0.15, "burst_rps": 1.6},
    "B": {"mix": {"passkey": 0.15, "multikey": 0.20, "story": 0.25, "longdoc": 0.40},
          "quiet_s": 30, "burst_s": 25, "quiet_rps": 0.2, "burst_rps": 1.3},
}
STATIC_GRID = ["keydiff:0.5:16", "keydiff:0.5:8", "keydiff:0.5:4", "keydiff:0.75:16", "keydiff:0.75:8",
               "keydiff:0.75:4", "snapkv:0.5:16", "snapkv:0.5:8", "snapkv:0.5:4", "snapkv:0.75:16", "snapkv:0.75:8",
               "snapkv:0.75:4", "streaming_llm:0.5:16", "none:0:8", "none:0:4"]


def passkey_prompt(rng, tokens):
    key = rng.randrange(10000, 100000)
    n = max(1, tokens // TOKENS_PER_FILLER_UNIT)
    a = (n * rng.choice([10, 30, 50, 70, 90]) + 50) // 100
    ctx = (PASSKEY_INTRO + filler(a) + " The pass key is %d. Remember it. %d is the pass key." % (key, key)
           + filler(n - a))
    return ctx + PASSKEY_QUESTION, str(key)


def multikey_prompt(rng, tokens, k=4):
    names = rng.sample(NAMES, k)
    values = [rng.randrange(10000, 100000) for _ in names]
    n = max(k, tokens // TOKENS_PER_FILLER_UNIT)
    parts, prev = [MULTIKEY_INTRO], 0
    for i in range(k):
        p = (n * (2 * i + 1)) // (2 * k)
        parts.append(filler(p - prev) + " The value of the %s key is %d. Remember it." % (names[i], values[i]))
        prev = p
    parts.append(filler(n - prev))
    q = rng.randrange(k)
    question = "\nWhat is the value of the %s key? The value of the %s key is" % (names[q], names[q])
    return "".join(parts) + question, str(values[q])


def paragraphs(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return [p.strip() for p in re.split(r"\n\s*\n|\n\f\n", text) if len(p.strip()) > 80]


def make_trace(family, seed, minutes):
    """Open-loop arrivals: Poisson within alternating quiet and burst phases; deterministic for (family, seed)."""
    spec = FAMILIES[family]
    rng = random.Random(seed)
    children = paragraphs(os.path.join(ROOT, "eval/heldout/heldout_children.txt"))
    docs = paragraphs(os.path.join(ROOT, "eval/heldout/heldout_docs.txt"))
    kinds, weights = zip(*spec["mix"].items())
    arrivals, phase_start, burst, end = [], 0.0, False, minutes * 60.0
    while phase_start < end:  # Poisson arrivals within each phase, quiet first
        length = spec["burst_s"] if burst else spec["quiet_s"]
        rate = spec["burst_rps"] if burst else spec["quiet_rps"]
        t = phase_start + rng.expovariate(rate)
        while t < min(phase_start + length, end):
            arrivals.append((t, burst))
            t += rng.expovariate(rate)
        phase_start += length
        burst = not burst
    trace = []
    for t, burst in arrivals:
        kind = rng.choices(kinds, weights)[0]
        item = {"id": len(trace), "at": round(t, 3), "kind": kind, "phase": "burst" if burst else "quiet"}
        if kind == "passkey":
            item["prompt"], item["answer"] = passkey_prompt(rng, rng.randrange(300, 1800))
            item["max_tokens"] = 8
        elif kind == "multikey":
            item["prompt"], item["answer"] = multikey_prompt(rng, rng.randrange(300, 1800))
            item["max_tokens"] = 8
        elif kind == "story":
            p = rng.choice(children)
            item["prompt"], item["max_tokens"] = p[: rng.randrange(120, 400)], 48
        else:  # a long document continued for 100+ steps
            start = rng.randrange(len(docs))
            text, i = "", start
            target = rng.randrange(4000, 7000)  # characters: ~1,000-1,700 tokens
            while len(text) < target:
                text += docs[i % len(docs)] + "\n\n"
                i += 1
            item["prompt"], item["max_tokens"] = text[:target], 128
        trace.append(item)
    return trace


def kv_field(policy, item=None, hints=True):
    if policy in ("auto", "threshold"):
        if hints and item is not None:  # what a client knows of its own request: retrieval or continuation
            return {"auto": {"task": "retrieval" if "answer" in item else "continuation"}}
        return "auto"
    if policy == "off":
        return "off"
    method, ratio, bits = policy.split(":")
    return {"method": method, "ratio": float(ratio), "bits": int(bits)}


class Service:
    """The jar on a free port, started with the given arguments, stopped on exit."""

    def __init__(self, jar, model, args, log_path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
        cmd = ["java", "--add-modules", "jdk.incubator.vector", "-jar", jar, "--server.port=%d" % self.port,
               "--kvpilot.model.path=" + model] + args
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = "http://127.0.0.1:%d" % self.port
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/actuator/health/readiness", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit("service exited during start-up, see " + log_path)
            time.sleep(0.5)
        raise SystemExit("service not ready after 180 s, see " + log_path)

    def get(self, path, key=None):
        req = urllib.request.Request(self.url + path, headers={"Authorization": "Bearer " + key} if key else {})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read().decode()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def run_request(url, key, item, kv, out):
    """One streaming completion; fills out with status, ttft, tpot, text, usage."""
    u = urllib.parse.urlparse(url)
    body = {"prompt": item["prompt"], "max_tokens": item["max_tokens"], "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}, "kv_compression": kv}
    if "answer" not in item:  # continuations run their whole length, so a long document's cache is held 100+ steps
        body["ignore_eos"] = True
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = "Bearer " + key
    start = time.perf_counter()
    out.update(status=None, ttft=None, tpot=None, text="", usage=None, error=None)
    try:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
        conn.request("POST", "/v1/completions", json.dumps(body), headers)
        resp = conn.getresponse()
        out["status"] = resp.status
        if resp.status != 200:
            out["error"] = resp.read().decode(errors="replace")[:300]
            return
        first = last = None
        pieces, chunks = [], 0
        for raw in resp:
            line = raw.decode().strip()
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            event = json.loads(data)
            if "error" in event:
                out["error"] = json.dumps(event["error"])[:300]
                break
            if event.get("usage"):
                out["usage"] = event["usage"]
            for choice in event.get("choices", []):
                if choice.get("text"):
                    now = time.perf_counter()
                    first = first or now
                    last = now
                    chunks += 1
                    pieces.append(choice["text"])
                if choice.get("finish_reason"):
                    out["finish_reason"] = choice["finish_reason"]
        conn.close()
        out["text"] = "".join(pieces)
        if first is not None:
            out["ttft"] = first - start
            generated = (out["usage"] or {}).get("completion_tokens", chunks)
            out["tpot"] = (last - first) / (generated - 1) if generated > 1 else 0.0
    except (OSError, ValueError, http.client.HTTPException) as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)


def replay(url, key, trace, policy, hints, speed=1.0):
    results = [dict(id=item["id"]) for item in trace]
    threads, t0 = [], time.perf_counter()
    for item, out in zip(trace, results):
        delay = item["at"] / speed - (time.perf_counter() - t0)
        if delay > 0:
            time.sleep(delay)
        th = threading.Thread(target=run_request, args=(url, key, item, kv_field(policy, item, hints), out),
                              daemon=True)
        th.start()
        threads.append(th)
    for th in threads:
        th.join(900)
    return results


def words(text):
    return text.split()


def lcs_agreement(reference, candidate):
    a, b = words(reference), words(candidate)
    if not a:
        return 1.0 if not b else 0.0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1] / len(a)


def quality(item, result, refs):
    if result.get("status") != 200 or result.get("error"):
        return 0.0
    if "answer" in item:
        m = re.match(r"^\s*(\d+)", result["text"])
        return 1.0 if m and m.group(1) == item["answer"] else 0.0
    return lcs_agreement(refs[str(item["id"])], result["text"])


def score(trace, results, refs, args):
    rows = []
    for item, r in zip(trace, results):
        q = quality(item, r, refs)
        met = (r.get("status") == 200 and not r.get("error") and r.get("ttft") is not None
               and r["ttft"] <= args.ttft and (r.get("tpot") or 0.0) <= args.tpot)
        kvc = ((r.get("usage") or {}).get("kv_cache")) or {}
        rows.append(dict(id=item["id"], kind=item["kind"], phase=item["phase"], status=r.get("status"),
                         ttft=r.get("ttft"), tpot=r.get("tpot"), quality=q, met=met, kv=kvc,
                         error=r.get("error")))
    return rows


def summarize(name, rows, minutes):
    n = len(rows)
    ok = [r for r in rows if r["status"] == 200 and not r["error"]]
    goodput = sum(r["quality"] for r in rows if r["met"]) / minutes
    quiet = [r for r in rows if r["phase"] == "quiet" and r["kv"]]
    lossless = [r for r in quiet if float(r["kv"].get("ratio", 0)) == 0 and int(r["kv"].get("bits", 16)) >= 8]
    ttfts = sorted(r["ttft"] for r in ok if r["ttft"] is not None)
    tpots = sorted(r["tpot"] for r in ok if r["tpot"] is not None)

    def pct(v, p):
        return v[min(len(v) - 1, int(round((len(v) - 1) * p)))] if v else float("nan")

    return dict(policy=name, requests=n, ok=len(ok), met=sum(r["met"] for r in rows),
                rejected=sum(1 for r in rows if r["status"] == 429), failed=sum(1 for r in rows if r["error"]
                                                                                 and r["status"] != 429),
                goodput_per_min=round(goodput, 3), mean_quality=round(sum(r["quality"] for r in rows) / max(1, n), 4),
                quiet_lossless_frac=round(len(lossless) / len(quiet), 4) if quiet else None,
                ttft_p50=round(pct(ttfts, 0.5), 3), ttft_p99=round(pct(ttfts, 0.99), 3),
                tpot_p50=round(pct(tpots, 0.5), 4), tpot_p99=round(pct(tpots, 0.99), 4))


def spearman(a, b):
    def ranks(x):
        order = sorted(range(len(x)), key=lambda i: x[i])
        r = [0.0] * len(x)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2.0
            i = j + 1
        return r
    ra, rb = ranks(a), ranks(b)
    n = len(a)
    ma, mb = sum(ra) / n, sum(rb) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra) ** 0.5
    vb = sum((y - mb) ** 2 for y in rb) ** 0.5
    return cov / (va * vb) if va and vb else None


def predictor_accuracy(rows):
    """The controller's predicted quality (usage.kv_cache.predicted_quality) against the quality measured on the
    trace, over the requests it compressed and over all it answered; per kind too."""
    out = {}
    answered = [r for r in rows if r["status"] == 200 and r["kv"].get("predicted_quality") is not None]
    for name, sel in (("all", answered), ("compressed", [r for r in answered if r["kv"].get("ratio", 0) > 0
                                                         or r["kv"].get("bits", 16) < 16])):
        if not sel:
            continue
        pred = [float(r["kv"]["predicted_quality"]) for r in sel]
        meas = [r["quality"] for r in sel]
        out[name] = {"requests": len(sel), "mae": round(sum(abs(p - m) for p, m in zip(pred, meas)) / len(sel), 4),
                     "mean_predicted": round(sum(pred) / len(sel), 4), "mean_measured": round(sum(meas) / len(sel), 4),
                     "spearman": spearman(pred, meas) if len(sel) > 2 else None}
        for kind in sorted({r["kind"] for r in sel}):
            k = [r for r in sel if r["kind"] == kind]
            out[name][kind] = {"requests": len(k),
                               "mean_predicted": round(sum(float(r["kv"]["predicted_quality"]) for r in k) / len(k), 4),
                               "mean_measured": round(sum(r["quality"] for r in k) / len(k), 4)}
    return out


def svg_bars(path, summaries):
    width, bar, gap, left = 760, 18, 6, 190
    top = max(s["goodput_per_min"] for s in summaries) or 1.0
    h = 40 + len(summaries) * (bar + gap)
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
           'font-size="12">' % (width, h), '<text x="10" y="20">quality-weighted goodput (per minute)</text>']
    for i, s in enumerate(summaries):
        y = 35 + i * (bar + gap)
        w = (width - left - 80) * s["goodput_per_min"] / top
        colour = "#d62728" if s["policy"] == "auto" else ("#7f7f7f" if s["policy"] == "hindsight" else "#1f77b4")
        out.append('<text x="10" y="%d">%s</text>' % (y + 13, s["policy"]))
        out.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>' % (left, y, w, bar, colour))
        out.append('<text x="%.1f" y="%d">%.2f</text>' % (left + w + 5, y + 13, s["goodput_per_min"]))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out))


def saved_digest(out):
    """The trace digest the earlier run in `out` recorded with its references, or None."""
    try:
        with open(os.path.join(out, "refs.json")) as f:
            return json.load(f).get("trace")
    except (OSError, ValueError):
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jar", default=os.path.join(ROOT, "target/kvpilot.jar"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models/kvpilot-mini"))
    ap.add_argument("--family", default="A", choices=sorted(FAMILIES))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--budget-bytes", type=int, default=48 << 20)
    ap.add_argument("--ttft", type=float, default=3.0)
    ap.add_argument("--tpot", type=float, default=0.25)
    ap.add_argument("--policies", default="auto,off,threshold," + ",".join(STATIC_GRID))
    ap.add_argument("--server-arg", action="append", default=[], help="extra service argument, every run")
    ap.add_argument("--out", default=None)
    ap.add_argument("--no-task-hints", action="store_true",
                    help="send plain \"auto\" (by default auto requests say their task: retrieval or continuation)")
    ap.add_argument("--trace-only", action="store_true", help="write <out>/trace.json and stop")
    ap.add_argument("--reuse", action="store_true",
                    help="a policy whose <policy>.jsonl is already in --out for this same trace is read back, not run "
                         "again (to add policies to an earlier run's table; same jar, budget and machine assumed)")
    args = ap.parse_args()
    out = args.out or os.path.join(ROOT, "bench/out/trace-%s-%d" % (args.family, args.seed))
    os.makedirs(out, exist_ok=True)

    trace = make_trace(args.family, args.seed, args.minutes)
    with open(os.path.join(out, "trace.json"), "w") as f:
        json.dump(trace, f)
    digest = hashlib.sha256(json.dumps(trace).encode()).hexdigest()[:16]
    print("trace %s seed %d: %d requests over %.1f min (%s)" % (args.family, args.seed, len(trace), args.minutes,
                                                               digest), flush=True)
    if args.trace_only:
        return

    refs_path = os.path.join(out, "refs.json")
    refs = {}
    if os.path.exists(refs_path):
        with open(refs_path) as f:
            saved = json.load(f)
        refs = saved["refs"] if saved.get("trace") == digest else {}
    if not refs:  # the uncompressed greedy output of each continuation, one request at a time at idle
        svc = Service(args.jar, args.model, args.server_arg, os.path.join(out, "refs.log"))
        try:
            for item in trace:
                if "answer" in item:
                    continue
                r = {}
                run_request(svc.url, None, item, "off", r)
                if r.get("status") != 200 or r.get("error"):
                    raise SystemExit("reference request %d failed: %s" % (item["id"], r))
                refs[str(item["id"])] = r["text"]
        finally:
            svc.stop()
        with open(refs_path, "w") as f:
            json.dump({"trace": digest, "refs": refs}, f)

    summaries, per_policy = [], {}
    for policy in args.policies.split(","):
        rows_path = os.path.join(out, policy.replace(":", "_") + ".jsonl")
        if args.reuse and os.path.exists(rows_path) and saved_digest(out) == digest:
            with open(rows_path) as f:
                rows = [json.loads(line) for line in f if line.strip()]
            if len(rows) == len(trace):
                per_policy[policy] = rows
                s = summarize(policy, rows, args.minutes)
                if policy == "auto":
                    s["predictor"] = predictor_accuracy(rows)
                summaries.append(s)
                print("reused " + json.dumps(s), flush=True)
                continue
        server_args = ["--kvpilot.kv.budget-bytes=%d" % args.budget_bytes] + args.server_arg
        if policy == "threshold":
            server_args.append("--kvpilot.policy.threshold.enabled=true")
        svc = Service(args.jar, args.model, server_args, os.path.join(out, policy.replace(":", "_") + ".log"))
        try:
            results = replay(svc.url, None, trace, policy, not args.no_task_hints)
            if policy == "auto":
                try:
                    with open(os.path.join(out, "auto-decisions.json"), "w") as f:
                        f.write(svc.get("/admin/policy/decisions?limit=10000"))
                except OSError as e:
                    print("decisions not read: %s" % e, file=sys.stderr)
        finally:
            svc.stop()
        rows = score(trace, results, refs, args)
        per_policy[policy] = rows
        with open(rows_path, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        s = summarize(policy, rows, args.minutes)
        if policy == "auto":
            s["predictor"] = predictor_accuracy(rows)
        summaries.append(s)
        print(json.dumps(s), flush=True)

    statics = [p for p in per_policy if ":" in p or p == "off"]
    if statics:
        best = []
        for i, item in enumerate(trace):
            cands = [per_policy[p][i] for p in statics]
            best.append(max(cands, key=lambda r: (r["met"] * r["quality"], r["met"], r["quality"])))
        s = summarize("hindsight", best, args.minutes)
        summaries.append(s)
        print(json.dumps(s), flush=True)

    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump({"trace": digest, "family": args.family, "seed": args.seed, "minutes": args.minutes,
                   "budget_bytes": args.budget_bytes, "ttft": args.ttft, "tpot": args.tpot,
                   "summaries": summaries}, f, indent=1)
    cols = ["policy", "requests", "met", "rejected", "failed", "goodput_per_min", "mean_quality",
            "quiet_lossless_frac", "ttft_p50", "ttft_p99", "tpot_p50", "tpot_p99"]
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n")
        for s in summaries:
            f.write("| " + " | ".join(str(s[c]) for c in cols) + " |\n")
    svg_bars(os.path.join(out, "goodput.svg"), summaries)
    print("wrote " + out)


if __name__ == "__main__":
    main()
