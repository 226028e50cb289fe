#!/usr/bin/env python3
"""What held answers cost: thousands of `/_mock/wait`s and `/_mock/events` streams held open on a release build, the
server's CPU while nothing changes, health's latency meanwhile, and how soon a due transition ends the waits on it.

    python3 Benchmarks/held.py [--waits 2000] [--streams 2000] [--binary PATH]

Prints one line per figure; docs/performance.md records a run.
"""
import argparse
import calendar
import json
import os
import pathlib
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import run  # noqa: E402  (the harness: build, Process, cpu_seconds)


def request(url, method="GET", body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")


def events(url, query):
    with urllib.request.urlopen(url + "/_mock/events" + query, timeout=30) as r:
        return r.read().decode()


def hold(address, raw):
    sock = socket.create_connection(address, timeout=60)
    sock.sendall(raw)
    return sock


def health_ms(url, n=20):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        urllib.request.urlopen(url + "/_mock/health", timeout=30).read()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), max(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--waits", type=int, default=2000)
    ap.add_argument("--streams", type=int, default=2000)
    ap.add_argument("--binary", help="an addonmock to measure (default: build the release one)")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, a.waits + a.streams + 1000)), hard))
    binary = a.binary or str(run.build()[0])
    db = tempfile.mktemp(suffix=".sqlite")
    server = run.Process([binary, "--port", "0", "--db", db, "--profile", "manual", "--log-level", "warning",
                          "--max-held", str(a.waits + a.streams + 100)], "listening on")
    url = server.url
    address = (url.split("//")[1].split(":")[0], int(url.rsplit(":", 1)[1]))
    socks = []
    try:
        # 1,001 add-ons in flight (manual profile: they stay installing), as in the report that made health slow.
        for i in range(1001):
            request(url + "/api/v3/addons", "POST", {"spec": {"clusterID": f"k{i}", "addonTemplateName": "coredns", "values": {}}})
        body = json.dumps({"addon": "missing", "status": "running", "timeoutMs": 600000}).encode()
        settled = json.dumps({"settled": True, "timeoutMs": 600000}).encode()
        for i in range(a.waits):
            b = settled if i < 400 else body
            socks.append(hold(address, b"POST /_mock/wait HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                                       b"Content-Length: %d\r\n\r\n%s" % (len(b), b)))
        for _ in range(a.streams):
            socks.append(hold(address, b"GET /_mock/events HTTP/1.1\r\nHost: localhost\r\n\r\n"))
        time.sleep(3)  # let the server take them all in
        cpu0, t0 = run.cpu_seconds(server.proc.pid), time.monotonic()
        time.sleep(10)
        cpu = (run.cpu_seconds(server.proc.pid) - cpu0) / (time.monotonic() - t0) * 100
        p50, worst = health_ms(url)
        print(f"held: {a.waits} waits (400 of them settled over 1,001 add-ons in flight) and {a.streams} streams open: "
              f"server CPU {cpu:.2f} % over 10 s idle; health p50 {p50:.2f} ms, max {worst:.2f} ms of 20")
        for s in socks:
            s.close()
        time.sleep(2)
        cpu0, t0 = run.cpu_seconds(server.proc.pid), time.monotonic()
        time.sleep(5)
        cpu = (run.cpu_seconds(server.proc.pid) - cpu0) / (time.monotonic() - t0) * 100
        print(f"held: every client gone: server CPU {cpu:.2f} % over the next 5 s")
    finally:
        for s in socks:
            s.close()
        server.stop()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.remove(db + suffix)

    # Wake latency: the fast profile on a real clock; each wait is ended by its add-on's transition at its due time.
    db = tempfile.mktemp(suffix=".sqlite")
    server = run.Process([binary, "--port", "0", "--db", db, "--profile", "fast", "--log-level", "warning"], "listening on")
    try:
        lateness = []
        for i in range(50):
            cursor = events(server.url, "?holdMs=0").rsplit("id: ", 1)[1].split()[0]
            created = request(server.url + "/api/v3/addons", "POST",
                              {"spec": {"clusterID": f"w{i}", "addonTemplateName": "coredns", "values": {}}})
            uid = created["metadata"]["uid"]
            # The created event's dueAt has milliseconds (the resource listing's has seconds).
            frame = events(server.url, f"?after={cursor}&types=created&holdMs=5000")
            due = json.loads(frame.split("data: ", 1)[1].split("\n", 1)[0])["dueAt"]
            request(server.url + "/_mock/wait", "POST", {"addon": uid, "status": "running", "timeoutMs": 10000})
            answered_ms = time.time() * 1000
            due_ms = calendar.timegm(time.strptime(due[:19], "%Y-%m-%dT%H:%M:%S")) * 1000 + float(due[19:-1] or 0) * 1000
            lateness.append(answered_ms - due_ms)
        lateness.sort()
        print(f"wake: 50 waits ended by their add-on's transition: {statistics.median(lateness):.2f} ms after the due time "
              f"(median), {lateness[-3]:.2f} ms (3rd worst), {lateness[-1]:.2f} ms (worst)")
    finally:
        server.stop()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.remove(db + suffix)


if __name__ == "__main__":
    main()
