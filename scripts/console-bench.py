#!/usr/bin/env python3
"""Console speed at national scale (issue 13): page latencies and the live stream's fan-out.

Against a database filled by `onshi-server seed --sites 250000`, this starts the real server,
logs in as a new viewer, and measures:

  1. time to first byte (≈ server time on localhost) of the dashboard and of the site list
     with searches and filters: p50 / p95 / max over --requests requests per page, from
     --concurrency keep-alive connections;
  2. --sse browsers (default 200) on /events for --sse-seconds: streams open, events each
     received, dashboard snapshots the server computed meanwhile (one per interval, not one
     per browser), the list's p95 while they listen, server RSS, and how long SIGTERM takes
     with them open.

Standard library only (Debian's python3 and psql). Short check:
  scripts/console-bench.py --database-url postgres://postgres@127.0.0.1:5432/bench --requests 10 --sse 50 --sse-seconds 10
Figures: docs/BENCHMARKS.md#console.
"""
import argparse
import http.client
import os
import random
import re
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

PAGES = [
    ("dashboard", "/"),
    ("list, first page", "/sites"),
    ("search 山田 + state 異常", "/sites?q=山田&state=critical"),
    ("search 山田 + 東京都", "/sites?q=山田&prefecture=東京都"),
    ("search 山 (1 char) + clinic", "/sites?q=山&kind=clinic"),
    ("search さくら + おまかせ", "/sites?q=さくら&maintenance=omakase"),
    ("search phone 03-1 + pharmacy", "/sites?q=03-1&kind=pharmacy"),
    ("search code 1310 + canon", "/sites?q=1310&maker=canon"),
    ("state 異常", "/sites?state=critical"),
    ("state 注意, sort state", "/sites?state=warning&sort=state"),
    ("sort state (problems first)", "/sites?sort=state"),
    ("sort last report", "/sites?sort=last_report"),
    ("東京都 + canon + NVR700", "/sites?prefecture=東京都&maker=canon&router=NVR700"),
]


def quote_path(path):
    base, _, query = path.partition("?")
    if not query:
        return base
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    return base + "?" + urllib.parse.urlencode(pairs)


def psql(url, sql):
    out = subprocess.run(["psql", url, "-Atqc", sql], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def start_server(binary, url, data_dir, refresh):
    env = dict(os.environ, DATABASE_URL=url, ONSHI_LOG="warn")
    proc = subprocess.Popen(
        [binary, "serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
         "--data-dir", data_dir, "--dashboard-refresh-seconds", str(refresh)],
        env=env, stdout=subprocess.PIPE, stderr=open(os.path.join(data_dir, "server.log"), "ab"))
    line = proc.stdout.readline().decode()
    m = re.match(r"grpc: (\S+)\s+http: (\S+)", line)
    if not m:
        proc.kill()
        sys.exit(f"server did not start: {line!r}; see {data_dir}/server.log")
    host, port = m.group(2).rsplit(":", 1)
    return proc, host, int(port)


def login(binary, url, data_dir, host, port):
    user = f"bench{random.randrange(10**6)}"
    password = f"pw-{user}-correct-horse-battery"
    env = dict(os.environ, DATABASE_URL=url, ONSHI_LOG="warn")
    subprocess.run([binary, "admin", "create", "--username", user, "--role", "viewer",
                    "--password-stdin", "--data-dir", data_dir],
                   input=password.encode(), env=env, check=True, capture_output=True)
    conn = http.client.HTTPConnection(host, port, timeout=60)
    body = urllib.parse.urlencode({"username": user, "password": password, "next": "/"})
    conn.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    resp.read()
    cookie = resp.getheader("Set-Cookie", "").split(";")[0]
    if resp.status != 303 or not cookie:
        sys.exit(f"login failed: {resp.status}")
    return cookie


def measure(host, port, cookie, path, requests, concurrency):
    """Times to first byte in ms, from `concurrency` keep-alive connections."""
    times, lock, errors = [], threading.Lock(), []
    per_worker = max(1, requests // concurrency)

    def worker():
        conn = http.client.HTTPConnection(host, port, timeout=120)
        for _ in range(per_worker):
            start = time.perf_counter()
            conn.request("GET", quote_path(path), headers={"Cookie": cookie})
            resp = conn.getresponse()
            first_byte = time.perf_counter()
            resp.read()
            if resp.status not in (200, 303):
                errors.append(resp.status)
            with lock:
                times.append((first_byte - start) * 1000)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times, errors


def percentile(values, p):
    values = sorted(values)
    k = max(0, min(len(values) - 1, int(round(p / 100 * len(values) + 0.5)) - 1))
    return values[k]


def metric(host, port, name):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def sse(host, port, cookie, browsers, seconds):
    """Open `browsers` event streams; count the snapshot events each receives."""
    sel = selectors.DefaultSelector()
    counts = {}
    request = (f"GET /events HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
               "Accept: text/event-stream\r\n\r\n").encode()
    for i in range(browsers):
        s = socket.create_connection((host, port))
        s.sendall(request)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
        counts[i] = 0
    deadline = time.time() + seconds
    while time.time() < deadline:
        for key, _ in sel.select(timeout=0.5):
            try:
                data = key.fileobj.recv(65536)
            except BlockingIOError:
                continue
            counts[key.data] += data.count(b"event: snapshot")
    return sel, counts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL"), required=False)
    ap.add_argument("--server", default="target/release/onshi-server")
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--sse", type=int, default=200)
    ap.add_argument("--sse-seconds", type=int, default=30)
    ap.add_argument("--refresh-seconds", type=int, default=5, help="--dashboard-refresh-seconds")
    ap.add_argument("--make-current", action="store_true",
                    help="move the seeded reports' times so the newest is now (seeded database only)")
    args = ap.parse_args()
    if not args.database_url:
        sys.exit("--database-url (or DATABASE_URL) is required: a database filled by onshi-server seed")
    sites = int(psql(args.database_url, "SELECT count(*) FROM sites"))
    incidents = int(psql(args.database_url, "SELECT count(*) FROM incidents WHERE state <> 'resolved'"))
    if args.make_current:
        if psql(args.database_url, "SELECT count(*) FROM sites WHERE site_id NOT LIKE 'seed-%'") != "0":
            sys.exit("--make-current only on a seeded benchmark database")
        psql(args.database_url,
             "ALTER TABLE site_state DISABLE TRIGGER site_state_evaluation; "
             "UPDATE site_state SET received_at = received_at + "
             "(now() - (SELECT max(received_at) FROM site_state)); "
             "ALTER TABLE site_state ENABLE TRIGGER site_state_evaluation; ANALYZE site_state;")
    data_dir = tempfile.mkdtemp(prefix="console-bench-")
    proc, host, port = start_server(args.server, args.database_url, data_dir, args.refresh_seconds)
    try:
        cookie = login(args.server, args.database_url, data_dir, host, port)
        load = os.getloadavg()[0]
        print(f"{sites} sites, {incidents} open incidents; load average {load:.1f}; "
              f"{args.requests} requests per page from {args.concurrency} connections\n")
        print("| page | p50 ms | p95 ms | max ms | errors |")
        print("|---|---|---|---|---|")
        for name, path in PAGES:
            measure(host, port, cookie, path, 3, 1)
            times, errors = measure(host, port, cookie, path, args.requests, args.concurrency)
            print(f"| {name} (`{path}`) | {statistics.median(times):.1f} | {percentile(times, 95):.1f} "
                  f"| {max(times):.1f} | {len(errors)} |", flush=True)

        before = metric(host, port, "onshi_console_snapshots_total")
        started = time.time()
        result = {}

        def listen():
            result["sel"], result["counts"] = sse(host, port, cookie, args.sse, args.sse_seconds)

        listener = threading.Thread(target=listen)
        listener.start()
        time.sleep(min(5, args.sse_seconds / 2))
        streams = metric(host, port, "onshi_console_streams")
        times, errors = measure(host, port, cookie, "/sites?q=山田&state=critical", 20, 1)
        listener.join()
        elapsed = time.time() - started
        snapshots = metric(host, port, "onshi_console_snapshots_total") - before
        counts = sorted(result["counts"].values())
        print(f"\n{args.sse} browsers on /events for {elapsed:.0f} s: {streams:.0f} streams open, "
              f"events per browser min {counts[0]} / median {statistics.median(counts):.0f}, "
              f"{snapshots:.0f} snapshots computed (one per {args.refresh_seconds} s interval), "
              f"list p95 meanwhile {percentile(times, 95):.1f} ms, server RSS {rss_mb(proc.pid):.0f} MB")
        count = metric(host, port, "onshi_console_snapshot_duration_seconds_count")
        total = metric(host, port, "onshi_console_snapshot_duration_seconds_sum")
        if count:
            print(f"dashboard snapshot (read + render, shared by every browser): "
                  f"mean {1000 * total / count:.0f} ms over {count:.0f}")
        stop = time.time()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        print(f"SIGTERM with {args.sse} streams open: stopped in {time.time() - stop:.1f} s "
              f"(exit {proc.returncode})")
        for key in list(result["sel"].get_map().values()):
            key.fileobj.close()
    finally:
        if proc.poll() is None:
            proc.kill()


if __name__ == "__main__":
    main()
