#!/usr/bin/env python3
"""Soak test (a command, not a test): sustained overload with mixed requests, then a check that nothing leaked.

It measures the service's capacity (completed requests/s with --capacity-clients closed-loop clients), then sends
open-loop arrivals at --load x that rate for --minutes: mixed prompt lengths, max_tokens, streaming and not, and KV
compression settings. It reports, and fails (exit status 1) when one does not hold:

  - unintended 5xx: 0 (a 500, a 503 circuit_open, or a stream's server_error event; 503 queue_timeout is load
    shedding, counted apart, and must carry Retry-After like every 429)
  - every 429 (and 503) has Retry-After
  - p50 / p99 latency of the answered requests (reported; p99 bounded by the deadline)
  - RSS drift after warm-up < 5 % (median RSS of the first minute after warm-up vs of the last minute; with --jar
    the heap is fixed and pre-touched, so heap growth does not count)
  - after the load drains: KV bytes in use 0 and every bulkhead permit back (/actuator/prometheus)

  python3 bench/soak.py --jar target/kvpilot.jar --model models/kvpilot-mini --minutes 30

With --jar it starts the service (random port, OMP_WAIT_POLICY=PASSIVE) and stops it after; without, it targets
--url and reads RSS from --pid if given. Standard library only. Results: bench/out/soak.json.
"""
import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

from serving_load import free_port, launch, percentile  # the same helpers, one copy (bench/ is on sys.path)

WORDS = ("the king said to the children that a little fox found a red ball in the tall grass and ran home to show "
         "it to his mother who smiled and told him a story about the moon and the stars").split()
COMPRESSIONS = ["auto", "off", {"method": "snapkv", "ratio": 0.5}, {"method": "streaming_llm", "ratio": 0.75},
                {"method": "tova", "ratio": 0.5}, {"method": "none", "bits": 8}, {"method": "knorm", "ratio": 0.5,
                                                                                   "bits": 8}]
PROMPT_WORDS = [4, 20, 80, 300]
MAX_TOKENS = [8, 32, 96]


class Client:
    def __init__(self, url, key, admin_key, compressions):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.key, self.admin_key = key, admin_key
        self.compressions = compressions

    def body(self, rng, stream):
        prompt = " ".join(rng.choice(WORDS) for _ in range(rng.choice(PROMPT_WORDS)))
        return {"prompt": prompt, "max_tokens": rng.choice(MAX_TOKENS), "temperature": rng.choice([0, 0.7]),
                "kv_compression": rng.choice(self.compressions), "stream": stream}

    def send(self, body, timeout=300):
        """Returns a dict: status, code (error code or None), retry_after, latency_s, error (transport)."""
        start = time.perf_counter()
        out = {"status": 0, "code": None, "retry_after": None, "latency_s": None, "error": None}
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            headers = {"Content-Type": "application/json", "Authorization": "Bearer " + self.key}
            conn.request("POST", "/v1/completions", json.dumps(body), headers)
            resp = conn.getresponse()
            out["status"] = resp.status
            out["retry_after"] = resp.getheader("Retry-After")
            if resp.status != 200:
                payload = resp.read()
                try:
                    out["code"] = json.loads(payload)["error"]["code"]
                except (ValueError, KeyError, TypeError):
                    out["code"] = "unparsable"
            elif body.get("stream"):
                done = False
                for raw in resp:
                    line = raw.decode("utf-8", "replace").strip()
                    if not line.startswith("data: "):
                        continue
                    if line == "data: [DONE]":
                        done = True
                        break
                    event = json.loads(line[6:])
                    if "error" in event:
                        out["code"] = event["error"].get("code")
                        out["stream_error_type"] = event["error"].get("type")
                if not done:
                    out["error"] = "stream ended without [DONE]"
            else:
                json.loads(resp.read())
        except Exception as e:  # noqa: BLE001 - every transport failure is a finding
            out["error"] = "%s: %s" % (type(e).__name__, e)
        finally:
            conn.close()
        out["latency_s"] = time.perf_counter() - start
        return out

    def get(self, path):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request("GET", path, headers={"Authorization": "Bearer " + self.admin_key})
            resp = conn.getresponse()
            return resp.status, resp.read().decode("utf-8", "replace")
        finally:
            conn.close()


def prometheus_value(text, name):
    """Sum of the samples of one metric family (all label sets)."""
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
            found = True
    return total if found else None


def rss_bytes(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def measure_capacity(client, clients, seconds):
    """Completed requests/s with `clients` closed-loop clients sending the mix."""
    stop = time.time() + seconds
    done = []
    lock = threading.Lock()

    def loop(seed):
        rng = random.Random(seed)
        while time.time() < stop:
            r = client.send(client.body(rng, rng.random() < 0.5))
            if r["status"] == 200 and not r["error"]:
                with lock:
                    done.append(r)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    start = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(done) / (time.time() - start)


def start_server(args):
    port = free_port()
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", KVPILOT_SECURITY_API_KEYS=args.api_key,
               KVPILOT_SECURITY_ADMIN_KEYS=args.admin_key)
    # a fixed, pre-touched heap (as NoLeakTest runs): heap growth is not a leak, and RSS drift then measures what can
    # leak (native KV pool, libtorch, metaspace, code cache)
    cmd = ["java", "-Xms" + args.heap, "-Xmx" + args.heap, "-XX:+AlwaysPreTouch", "--add-modules",
           "jdk.incubator.vector", "-jar", args.jar,
           "--server.port=%d" % port, "--kvpilot.model.path=" + args.model] + args.server_arg
    return launch(cmd, env, port, "bench/out/soak-server-%d.log" % port)


def usable_compressions(client):
    """The mix's settings this server accepts (a checkpoint may not support every method)."""
    ok = []
    for c in COMPRESSIONS:
        r = client.send({"prompt": "the cat sat", "max_tokens": 2, "kv_compression": c})
        if r["status"] == 200:
            ok.append(c)
        else:
            print("note: kv_compression %s left out of the mix (%s %s)" % (json.dumps(c), r["status"], r["code"]))
    return ok


def soak(client, rate, seconds, pid, warmup_s, max_in_flight):
    results = []
    lock = threading.Lock()
    in_flight = threading.Semaphore(max_in_flight)
    overflow = [0]
    rss = []
    stop_sampling = threading.Event()

    def sample():
        t0 = time.time()
        while not stop_sampling.wait(5):
            if pid:
                value = rss_bytes(pid)
                if value:
                    rss.append((time.time() - t0, value))

    def one(seed):
        try:
            rng = random.Random(seed)
            r = client.send(client.body(rng, rng.random() < 0.5))
            with lock:
                results.append(r)
        finally:
            in_flight.release()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rng = random.Random(1)
    start = time.time()
    next_at = start
    n = 0
    threads = []
    while time.time() - start < seconds:
        next_at += rng.expovariate(rate)
        delay = next_at - time.time()
        if delay > 0:
            time.sleep(delay)
        if not in_flight.acquire(blocking=False):
            overflow[0] += 1  # the client's own cap: the server is not answering fast enough to keep up
            continue
        t = threading.Thread(target=one, args=(n,), daemon=True)
        t.start()
        threads.append(t)
        n += 1
        if len(threads) > 4096:
            threads = [x for x in threads if x.is_alive()]
    for t in threads:
        t.join(330)
    stop_sampling.set()
    wall = time.time() - start
    return results, rss, overflow[0], wall


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--pid", type=int, help="without --jar: the service's pid, for RSS")
    ap.add_argument("--jar", help="start this jar (and stop it after) instead of using --url")
    ap.add_argument("--model", default="models/kvpilot-mini")
    ap.add_argument("--heap", default="4g")
    ap.add_argument("--server-arg", action="append", default=[], help="a further argument for --jar's service")
    ap.add_argument("--api-key", default="soak-key")
    ap.add_argument("--admin-key", default="soak-admin-key")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--load", type=float, default=2.0, help="arrival rate as a multiple of measured capacity")
    ap.add_argument("--capacity", type=float, help="requests/s; measured when not given")
    ap.add_argument("--capacity-clients", type=int, default=16)
    ap.add_argument("--capacity-seconds", type=float, default=30.0)
    ap.add_argument("--warmup-minutes", type=float, help="RSS baseline starts after this (default: 20 %% of the run)")
    ap.add_argument("--max-in-flight", type=int, default=512, help="the client's cap on open requests")
    args = ap.parse_args()
    os.makedirs("bench/out", exist_ok=True)

    proc, url, pid = None, args.url, args.pid
    if args.jar:
        proc, url = start_server(args)
        pid = proc.pid
    client = Client(url, args.api_key, args.admin_key, COMPRESSIONS)
    report = {"args": vars(args)}
    try:
        client.compressions = usable_compressions(client)
        capacity = args.capacity or measure_capacity(client, args.capacity_clients, args.capacity_seconds)
        rate = capacity * args.load
        print("capacity %.2f requests/s; soaking at %.2f requests/s for %.1f min" % (capacity, rate, args.minutes))
        seconds = args.minutes * 60
        results, rss, overflow, wall = soak(client, rate, seconds, pid, 0, args.max_in_flight)

        # drain: nothing running or waiting, then the KV pool and the bulkhead must be whole again
        drained = False
        for _ in range(120):
            status, text = client.get("/actuator/prometheus")
            if status == 200 and prometheus_value(text, "kvpilot_requests_running") == 0 \
                    and prometheus_value(text, "kvpilot_requests_waiting") == 0:
                drained = True
                break
            time.sleep(1)
        time.sleep(2)  # one more scheduler step publishes the freed KV
        status, text = client.get("/actuator/prometheus")
        kv_used = prometheus_value(text, "kvpilot_kv_cache_used_bytes") if status == 200 else None
        permits_free = prometheus_value(text, "resilience4j_bulkhead_available_concurrent_calls")
        permits_max = prometheus_value(text, "resilience4j_bulkhead_max_allowed_concurrent_calls")
    finally:
        if proc:
            proc.terminate()
            proc.wait(120)

    by_status = {}
    for r in results:
        key = "transport error" if r["error"] and r["status"] == 0 else str(r["status"])
        by_status[key] = by_status.get(key, 0) + 1
    codes = {}
    for r in results:
        if r["code"]:
            codes[r["code"]] = codes.get(r["code"], 0) + 1
    unintended_5xx = [r for r in results if (r["status"] >= 500 and r["code"] != "queue_timeout")
                      or r.get("stream_error_type") == "server_error" and r["code"] != "queue_timeout"]
    missing_retry = [r for r in results if r["status"] in (429, 503) and not r["retry_after"]]
    broken = [r for r in results if r["error"]]
    answered = [r["latency_s"] for r in results if r["status"] == 200 and not r["error"] and not r["code"]]
    warmup_s = (args.warmup_minutes * 60) if args.warmup_minutes is not None else 0.2 * wall
    after = [v for t, v in rss if t >= warmup_s]
    drift = None
    if len(after) >= 4:
        window = max(2, min(12, len(after) // 4))  # a minute of 5 s samples, less on short runs
        base, last = statistics.median(after[:window]), statistics.median(after[-window:])
        drift = (last - base) / base
    report.update({
        "capacity_rps": capacity, "rate_rps": rate, "wall_s": wall, "requests": len(results),
        "client_overflow": overflow, "by_status": by_status, "error_codes": codes,
        "unintended_5xx": len(unintended_5xx), "missing_retry_after": len(missing_retry),
        "transport_errors": len(broken), "latency_p50_s": percentile(answered, 50),
        "latency_p99_s": percentile(answered, 99), "rss_samples": len(rss),
        "rss_first_mb": rss[0][1] / 2**20 if rss else None, "rss_last_mb": rss[-1][1] / 2**20 if rss else None,
        "rss_drift_after_warmup": drift, "drained": drained, "kv_used_bytes_after_drain": kv_used,
        "bulkhead_permits_free_after_drain": permits_free, "bulkhead_permits_max": permits_max,
    })
    with open("bench/out/soak.json", "w") as f:
        json.dump(report, f, indent=2)
    checks = [
        ("unintended 5xx = 0", len(unintended_5xx) == 0),
        ("every 429/503 has Retry-After", not missing_retry),
        ("no transport errors or streams without [DONE]", not broken),
        ("RSS drift after warm-up < 5 %", drift is not None and abs(drift) < 0.05),
        ("drained", drained),
        ("KV bytes in use 0 after drain", kv_used == 0),
        ("bulkhead permits all back", permits_free is not None and permits_free == permits_max),
    ]
    print("requests %d in %.0f s (client cap hit %d times); statuses %s; error codes %s" % (
        len(results), wall, overflow, by_status, codes))
    print("latency of answered requests: p50 %.2f s, p99 %.2f s" % (report["latency_p50_s"], report["latency_p99_s"]))
    print("RSS %s -> %s MB, drift after warm-up %s" % (
        "%.0f" % report["rss_first_mb"] if rss else "?", "%.0f" % report["rss_last_mb"] if rss else "?",
        "%+.2f %%" % (drift * 100) if drift is not None else "n/a"))
    print("after drain: KV bytes %s, bulkhead permits %s of %s" % (kv_used, permits_free, permits_max))
    for name, ok in checks:
        print("%s %s" % ("PASS" if ok else "FAIL", name))
    for r in (unintended_5xx + missing_retry + broken)[:10]:
        print("  e.g. %s" % r)
    sys.exit(0 if all(ok for _, ok in checks) else 1)


if __name__ == "__main__":
    main()
