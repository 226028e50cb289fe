#!/usr/bin/env python3
"""A large world's round trip: import N add-ons, export them (streamed), reset, import the export, export again, and
compare; with the server's peak resident memory (VmHWM) and the time each step took. With --pages, instead: import N
add-ons, restart on the same database, and walk `GET /_mock/resources/addons?limit=1000&after=` to the end: each
page's time and the fresh server's peak memory while it pages. With --startup: import N add-ons, then start the server
on that database 10 times after clean stops, then 10 times after kills (the first of those still follows a clean
stop), and time each start to its first 200 (`run.startup_ms`).

    python3 Benchmarks/world.py [--addons 200000] [--binary PATH] [--pages | --startup]

docs/performance.md records a run.
"""
import argparse
import hashlib
import http.client
import json
import os
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import run  # noqa: E402  (the harness: build, Process)


def peak_rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def call(address, method, path, body=None, sink=None):
    """One request on a fresh connection; the answer's body streamed into `sink` (a file) when given."""
    conn = http.client.HTTPConnection(*address, timeout=3600)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    if sink is None:
        data = r.read()
        assert r.status == 200, (r.status, data[:300])
        return json.loads(data)
    assert r.status == 200, r.status
    digest, size = hashlib.sha256(), 0
    while chunk := r.read(1 << 20):
        digest.update(chunk)
        sink.write(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addons", type=int, default=200_000)
    ap.add_argument("--binary", help="an addonmock to measure (default: build the release one)")
    ap.add_argument("--pages", action="store_true", help="measure paging through the control listing instead")
    ap.add_argument("--startup", action="store_true", help="measure start-up on the imported database instead")
    a = ap.parse_args()
    binary = a.binary or str(run.build()[0])
    work = tempfile.mkdtemp(prefix="addonmock-world-")
    db = os.path.join(work, "world.sqlite")
    argv = [binary, "--port", "0", "--db", db, "--profile", "instant", "--log-level", "warning"]
    server = run.Process(argv, "listening on")
    address = (server.url.split("//")[1].split(":")[0], int(server.url.rsplit(":", 1)[1]))
    try:
        seed = ("{\"addons\":[" + ",".join(
            f'{{"cluster":"c{i}","template":"coredns","status":"running"}}' for i in range(a.addons)) + "],\"plugins\":[]}").encode()
        t = time.monotonic()
        created = call(address, "POST", "/_mock/import", seed)
        assert created["created"] == a.addons, created
        print(f"world: imported {a.addons} add-ons from a {len(seed) / 2**20:.1f} MiB seed in {time.monotonic() - t:.1f} s")
        if a.startup:
            server.stop()
            for after, kill in (("a clean stop", False), ("a kill", True)):
                median, fastest, slowest = run.startup_ms(binary, runs=10, db=db, kill=kill)
                print(f"world: start-up to first 200 with {a.addons} add-ons stored, after {after}, median of 10: "
                      f"{median:.1f} ms (fastest {fastest:.1f}, slowest {slowest:.1f})")
            return
        if a.pages:
            server.stop()
            server = run.Process(argv, "listening on")
            address = (server.url.split("//")[1].split(":")[0], int(server.url.rsplit(":", 1)[1]))
            times, seen, after = [], 0, None
            while True:
                t = time.monotonic()
                page = call(address, "GET", "/_mock/resources/addons?limit=1000" + (f"&after={after}" if after else ""))
                times.append((time.monotonic() - t) * 1000)
                seen += len(page["items"])
                after = page["next"]
                if not after:
                    break
            assert seen == a.addons, seen
            times.sort()
            print(f"world: paged {seen} add-ons in {len(times)} pages of 1000: median {times[len(times) // 2]:.1f} ms, "
                  f"slowest {times[-1]:.1f} ms; the restarted server's peak RSS {peak_rss_mib(server.proc.pid):.0f} MiB")
            return
        first = os.path.join(work, "first.json")
        t = time.monotonic()
        with open(first, "wb") as f:
            digest, size = call(address, "GET", "/_mock/export", sink=f)
        print(f"world: exported {size / 2**20:.1f} MiB ({size / a.addons:.0f} B an add-on) in {time.monotonic() - t:.1f} s")
        call(address, "POST", "/_mock/reset", b'{"keepClock": true}')
        t = time.monotonic()
        with open(first, "rb") as f:
            created = call(address, "POST", "/_mock/import", f.read())
        assert created == {"created": a.addons, "skipped": 0}, created
        print(f"world: imported the export back in {time.monotonic() - t:.1f} s")
        with open(os.path.join(work, "second.json"), "wb") as f:
            again, _ = call(address, "GET", "/_mock/export", sink=f)
        assert again == digest, "the second export differs from the first"
        print(f"world: the second export is byte-identical; server peak RSS {peak_rss_mib(server.proc.pid):.0f} MiB")
    finally:
        server.stop()
        for name in os.listdir(work):
            os.remove(os.path.join(work, name))
        os.rmdir(work)


if __name__ == "__main__":
    main()
