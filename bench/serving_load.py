#!/usr/bin/env python3
"""Serving load benchmark (a command, not a test): concurrent streaming clients against /v1/completions.

For each concurrency level it runs `clients` threads, each sending `--requests` streaming greedy requests one after
another (stream_options.include_usage, ignore_eos so every request generates exactly --max-tokens tokens), and
reports aggregate generated tokens/s over the level's wall time, p50/p99 time to first token and time per output
token (measured by the client), errors (429s counted apart). Standard library only.

  python3 bench/serving_load.py --jar target/kvpilot.jar --model models/kvpilot-mini --clients 1,4,16

--kv-compression cycles the requests over settings (`off`, or `method:ratio:bits`); after the run the KV
accounting figure is read from the server's /actuator/prometheus: the p99 (bucket bound) and max of
kvpilot_predictor_abs_error{target="kv_bytes"}, |predicted - held| / held of each request's peak KV bytes.

With --jar it starts the service (OMP_WAIT_POLICY=PASSIVE, random port), waits for readiness and stops it after;
without, it targets --url.
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

PROMPTS = [
    "Once upon a time, a little", "The king said to the", "In the morning the children",
    "The old man walked along the", "She opened the door and saw", "A long way from home, the",
    "The cat sat on the", "When the rain stopped, they",
]


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def compression_setting(text):
    """`off` or `method:ratio:bits` -> the request's kv_compression value."""
    if text == "off":
        return "off"
    method, ratio, bits = text.split(":")
    return {"method": method, "ratio": float(ratio), "bits": int(bits)}


def sse_events(resp):
    """A completion stream's frames up to [DONE], parsed only as far as needed (the client shares the server's
    cores): yields (arrival time, None) for a frame carrying text, (None, chunk) for a usage or error chunk."""
    for raw in resp:
        line = raw.decode("utf-8").strip()
        if not line.startswith("data: "):
            continue
        data = line[6:]
        if data == "[DONE]":
            return
        if '"text":"' in data and '"text":""' not in data:
            yield time.perf_counter(), None
        elif '"usage":{' in data or '"error"' in data:
            yield None, json.loads(data)


def one_request(url, key, prompt, max_tokens, compression=None):
    """Returns (status, ttft_s, tpot_s, completion_tokens, error)."""
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    request = {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True,
               "stream": True, "stream_options": {"include_usage": True}}
    if compression is not None:
        request["kv_compression"] = compression
    body = json.dumps(request)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = "Bearer " + key
    start = time.perf_counter()
    conn.request("POST", "/v1/completions", body, headers)
    resp = conn.getresponse()
    if resp.status != 200:
        resp.read()
        conn.close()
        return resp.status, None, None, 0, None
    first = last = None
    tokens = 0
    error = None
    for at, chunk in sse_events(resp):
        if at is not None:
            first = first or at
            last = at
        elif "error" in chunk:
            error = chunk["error"]
        elif chunk.get("usage"):
            tokens = chunk["usage"]["completion_tokens"]
    conn.close()
    ttft = (first - start) if first else None
    tpot = (last - first) / (tokens - 1) if first and tokens > 1 else None
    return 200, ttft, tpot, tokens, error


def run_level(url, key, clients, requests, max_tokens, settings=None):
    results = []
    lock = threading.Lock()

    def client(i):
        for r in range(requests):
            setting = settings[(i * requests + r) % len(settings)] if settings else None
            res = one_request(url, key, PROMPTS[(i + r) % len(PROMPTS)], max_tokens, setting)
            with lock:
                results.append(res)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ok = [r for r in results if r[0] == 200 and r[4] is None]
    tokens = sum(r[3] for r in ok)
    ttfts = [r[1] for r in ok if r[1] is not None]
    tpots = [r[2] for r in ok if r[2] is not None]
    return {
        "clients": clients, "requests": len(results), "wall_s": wall, "tokens": tokens,
        "tokens_per_s": tokens / wall, "ttft_p50_ms": percentile(ttfts, 50) * 1e3,
        "ttft_p99_ms": percentile(ttfts, 99) * 1e3, "tpot_p50_ms": percentile(tpots, 50) * 1e3,
        "tpot_p99_ms": percentile(tpots, 99) * 1e3,
        "errors": sum(1 for r in results if (r[0] != 200 and r[0] != 429) or r[4] is not None),
        "rejected_429": sum(1 for r in results if r[0] == 429),
    }


def kv_prediction_error(url):
    """p99 (upper bound of its histogram bucket), max and count of kvpilot_predictor_abs_error{target="kv_bytes"}."""
    with urllib.request.urlopen(url + "/actuator/prometheus", timeout=10) as r:
        text = r.read().decode("utf-8")
    buckets, count, top = [], 0, float("nan")
    for line in text.splitlines():
        if not line.startswith("kvpilot_predictor_abs_error") or 'target="kv_bytes"' not in line:
            continue
        name, value = line.rsplit(" ", 1)
        if name.startswith("kvpilot_predictor_abs_error_bucket"):
            le = name.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(value)))
        elif name.startswith("kvpilot_predictor_abs_error_count"):
            count = int(float(value))
        elif name.startswith("kvpilot_predictor_abs_error_max"):
            top = float(value)
    p99 = float("nan")
    for le, cumulative in sorted(buckets):
        if count and cumulative >= 0.99 * count:
            p99 = le
            break
    return {"requests": count, "p99_le": p99, "max": top}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(jar, model, key, heap, threads, java_pass, extra):
    port = free_port()
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", KVPILOT_SECURITY_API_KEYS=key)
    jvm = ["-Xmx" + heap, "--add-modules", "jdk.incubator.vector"]
    if not java_pass:  # the libtorch baseline of docs/benchmarks.md
        jvm.append("-Dkvpilot.engine.java-forward-pass=false")
    cmd = ["java"] + jvm + ["-jar", jar, "--server.port=%d" % port, "--kvpilot.model.path=" + model,
                            "--kvpilot.model.threads=%d" % threads] + extra
    return launch(cmd, env, port, "bench/out/server-%d.log" % port)


def launch(cmd, env, port, log_path):
    """Starts the service command on `port` and waits (up to 300 s) for readiness; returns (process, base url)."""
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = "http://127.0.0.1:%d" % port
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit("server exited with %s; see %s" % (proc.returncode, log.name))
        try:
            with urllib.request.urlopen(url + "/actuator/health/readiness", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            pass
        time.sleep(1)
    proc.terminate()
    sys.exit("server not ready within 300 s")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--jar", help="start this jar (and stop it after) instead of using --url")
    ap.add_argument("--model", default="models/kvpilot-mini", help="checkpoint for --jar")
    ap.add_argument("--heap", default="4g")
    ap.add_argument("--threads", type=int, default=0, help="engine intra-op threads for --jar (0: engine default)")
    ap.add_argument("--no-java-forward-pass", action="store_true",
                    help="with --jar: every pass on libtorch instead of the Java forward pass (the A/B baseline)")
    ap.add_argument("--server-arg", action="append", default=[],
                    help="a further argument for --jar's service, e.g. --server-arg=--kvpilot.scheduler.max-batched-tokens=64")
    ap.add_argument("--api-key", default="bench-key")
    ap.add_argument("--clients", default="1,4,16")
    ap.add_argument("--requests", type=int, default=3, help="requests per client, one after another")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--kv-compression", default="",
                    help="comma-separated settings the requests cycle over: off or method:ratio:bits "
                         "(e.g. off,snapkv:0.5:16,streaming_llm:0.75:4,none:0:8)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each level this many times (interleaved) and keep its fastest run: on a shared "
                         "machine other work only ever slows a run down")
    args = ap.parse_args()
    os.makedirs("bench/out", exist_ok=True)
    proc = None
    url = args.url
    settings = [compression_setting(s) for s in args.kv_compression.split(",")] if args.kv_compression else None
    kv_error = None
    if args.jar:
        proc, url = start_server(args.jar, args.model, args.api_key, args.heap, args.threads, not args.no_java_forward_pass,
                                 args.server_arg)
    try:
        # warm the JIT and the engine on every batch size first; unmeasured
        for c in args.clients.split(","):
            run_level(url, args.api_key, int(c), 1, args.max_tokens, settings)
        levels = [int(c) for c in args.clients.split(",")]
        runs = {c: [] for c in levels}
        for _ in range(args.repeat):
            for c in levels:
                runs[c].append(run_level(url, args.api_key, c, args.requests, args.max_tokens, settings))
        rows = [max(runs[c], key=lambda r: r["tokens_per_s"]) for c in levels]
        for c in levels:
            print("clients %d: tokens/s of each run: %s" % (c, ", ".join("%.1f" % r["tokens_per_s"] for r in runs[c])))
        kv_error = kv_prediction_error(url)
    finally:
        if proc:
            proc.terminate()
            proc.wait(60)
    base = rows[0]["tokens_per_s"]
    print("| clients | requests | generated tokens/s | × 1 client | TTFT p50 ms | TTFT p99 ms | TPOT p50 ms "
          "| TPOT p99 ms | errors | 429 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %d | %d | %.1f | %.2f | %.0f | %.0f | %.1f | %.1f | %d | %d |" % (
            r["clients"], r["requests"], r["tokens_per_s"], r["tokens_per_s"] / base, r["ttft_p50_ms"],
            r["ttft_p99_ms"], r["tpot_p50_ms"], r["tpot_p99_ms"], r["errors"], r["rejected_429"]))
    print("KV bytes predicted vs held (kvpilot_predictor_abs_error{target=\"kv_bytes\"}): %d requests, "
          "p99 <= %g, max %g" % (kv_error["requests"], kv_error["p99_le"], kv_error["max"]))
    with open("bench/out/serving_load.json", "w") as f:
        json.dump({"args": vars(args), "rows": rows, "runs": runs, "kv_prediction_error": kv_error}, f, indent=2)


if __name__ == "__main__":
    main()
