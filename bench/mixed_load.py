#!/usr/bin/env python3
"""Mixed-load benchmark (a command, not a test): streams decoding while long prompts arrive.

`--streams` clients each send streaming greedy requests (a short prompt, --max-tokens tokens, ignore_eos) one after
another for the whole run. Two phases on the same server: first the streams alone (`--seconds`), then the same
streams while a prompt of about --long-tokens tokens arrives every --every seconds (each generating 4 tokens). For
each phase it reports, for the stream requests that end within the phase, TPOT (each request's (last token - first token) / (tokens - 1)) p50/p99 and
the gap between two consecutive tokens (inter-token latency) p50/p99, and for the long prompts TTFT p50/p99 and
their prompt length as the server counted it. The first --warmup seconds of each phase are not counted. Standard
library only; the load average is printed with the figures (the machine may be shared).

  python3 bench/mixed_load.py --jar target/kvpilot.jar --server-arg=--kvpilot.scheduler.prefill-chunk-tokens=0
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serving_load import PROMPTS, free_port, launch, percentile, sse_events  # noqa: E402

FILLER = ("The harbour town woke slowly: fishermen mended their nets, a baker carried warm bread up the hill, and "
          "children ran between the boats while gulls argued over scraps on the old stone pier. ")


def stream(url, key, prompt, max_tokens):
    """Returns (ttft_s, token times, completion tokens, prompt tokens) or None on an error."""
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True,
                       "stream": True, "stream_options": {"include_usage": True}})
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + key}
    start = time.perf_counter()
    conn.request("POST", "/v1/completions", body, headers)
    resp = conn.getresponse()
    if resp.status != 200:
        resp.read()
        conn.close()
        return None
    times, usage = [], None
    for at, chunk in sse_events(resp):
        if at is not None:
            times.append(at)
        elif "error" in chunk:
            conn.close()
            return None
        else:
            usage = chunk.get("usage") or usage
    conn.close()
    if not times or usage is None:
        return None
    return times[0] - start, times, usage["completion_tokens"], usage["prompt_tokens"]


def long_prompt(url, key, tokens):
    """A prompt of about `tokens` tokens, calibrated on the server's own count."""
    probe = stream(url, key, FILLER * 10, 1)
    per_copy = probe[3] / 10.0
    return FILLER * max(1, int((tokens - 2) / per_copy))


def phase(url, key, args, long_text):
    stop = threading.Event()
    lock = threading.Lock()
    tpots, gaps, long_ttfts, long_lengths, errors = [], [], [], [], [0]
    t0 = time.perf_counter()
    counted_from = t0 + args.warmup

    def client(i):
        r = 0
        while not stop.is_set():
            res = stream(url, key, PROMPTS[(i + r) % len(PROMPTS)], args.max_tokens)
            r += 1
            with lock:
                if res is None:
                    errors[0] += 1
                    continue
                _, times, n, _ = res
                if times[-1] < counted_from or stop.is_set():
                    continue  # ended in the warm-up, or after the phase
                if n > 1:
                    tpots.append((times[-1] - times[0]) / (n - 1))
                gaps.extend(b - a for a, b in zip(times, times[1:]) if a >= counted_from)

    def arrival(text):
        res = stream(url, key, text, 4)
        with lock:
            if res is None:
                errors[0] += 1
            elif not stop.is_set():
                long_ttfts.append(res[0])
                long_lengths.append(res[3])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.streams)]
    for t in threads:
        t.start()
    arrivals = []
    end = t0 + args.warmup + args.seconds
    k = 0
    while time.perf_counter() < end:
        if long_text is not None and time.perf_counter() >= counted_from:
            a = threading.Thread(target=arrival, args=(("%d. " % k) + long_text,))
            a.start()
            arrivals.append(a)
            k += 1
        time.sleep(args.every)
    for a in arrivals:
        a.join()
    stop.set()
    for t in threads:
        t.join()
    ms = lambda v, p: round(percentile(v, p) * 1e3, 1)  # noqa: E731
    return {"tpot_p50_ms": ms(tpots, 50), "tpot_p99_ms": ms(tpots, 99), "itl_p50_ms": ms(gaps, 50),
            "itl_p99_ms": ms(gaps, 99), "stream_requests": len(tpots),
            "long_ttft_p50_ms": ms(long_ttfts, 50), "long_ttft_p99_ms": ms(long_ttfts, 99),
            "long_prompts": len(long_ttfts), "long_prompt_tokens": max(long_lengths) if long_lengths else 0,
            "errors": errors[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--jar", help="start this jar (and stop it after) instead of using --url")
    ap.add_argument("--model", default="models/kvpilot-mini")
    ap.add_argument("--heap", default="4g")
    ap.add_argument("--server-arg", action="append", default=[], help="extra service argument (repeatable)")
    ap.add_argument("--api-key", default="bench-key")
    ap.add_argument("--streams", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--long-tokens", type=int, default=1800)
    ap.add_argument("--every", type=float, default=2.0)
    ap.add_argument("--seconds", type=float, default=30.0, help="counted seconds per phase")
    ap.add_argument("--warmup", type=float, default=5.0)
    args = ap.parse_args()
    proc = None
    url = args.url
    if args.jar:
        os.makedirs("bench/out", exist_ok=True)
        port = free_port()
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", KVPILOT_SECURITY_API_KEYS=args.api_key)
        cmd = ["java", "-Xmx" + args.heap, "--add-modules", "jdk.incubator.vector", "-jar", args.jar,
               "--server.port=%d" % port, "--kvpilot.model.path=" + args.model] + args.server_arg
        proc, url = launch(cmd, env, port, "bench/out/mixed-%d.log" % port)
    try:
        text = long_prompt(url, args.api_key, args.long_tokens)
        alone = phase(url, args.api_key, args, None)
        mixed = phase(url, args.api_key, args, text)
        load = os.getloadavg()
        print(json.dumps({"server_args": args.server_arg, "streams_alone": alone, "with_long_prompts": mixed,
                          "tpot_p99_ratio": round(mixed["tpot_p99_ms"] / alone["tpot_p99_ms"], 2),
                          "itl_p99_ratio": round(mixed["itl_p99_ms"] / alone["itl_p99_ms"], 2),
                          "loadavg_1_5_15": [round(x, 2) for x in load]}))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
