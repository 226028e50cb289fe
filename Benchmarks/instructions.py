#!/usr/bin/env python3
"""Instructions per request, counted by valgrind: the same number on every run, where req/s on a shared two-core
machine moves 20-30 % from one run to the next. For comparing builds of the request path (a change too small for
run.py's rounds to resolve); run.py stays the measure of throughput.

    python3 Benchmarks/instructions.py [--requests 2000] [--reference] [BINARY ...]    (default: builds the release binary)

With --reference, the C reference of run.py (Benchmarks/reference/hello.c, the same libmicrohttpd) is counted too,
answering its constant body: what a bare libmicrohttpd answer costs in the same unit, pool zeroing included.

The workloads are the mixed workload's request kinds, and run.py's list of 100 add-ons in one cluster (its fixtures
catalog and import). Each workload is run twice under cachegrind, with 200 and 200 + N requests over one keep-alive connection, and the
difference divided by N, so start-up and shutdown cancel out. Counts are user-space instructions only (no kernel, no
cache misses), and valgrind emulates AVX2 at most, so `rep stosb` counts one per byte: the libmicrohttpd column
(zeroing its connection pool after each request, as 1.0.1 does) weighs far more here than in time. Needs valgrind
(apt-get install valgrind) and objcopy (binutils).
"""
import argparse
import collections
import http.client
import json
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import run  # noqa: E402  (the harness: build() and install_body())

WARMUP = 200
# The requests of Benchmarks/wrk/mixed.lua, one kind per workload: (method, path, body) for the i-th request, given the
# id of the add-on installed first (in cluster "seed").
WORKLOADS = {
    "GET by id": lambda i, uid: ("GET", f"/api/v3/addons/{uid}"),
    "install": lambda i, uid: ("POST", "/api/v3/addons", run.install_body(f"cluster-{i}")),
    "list": lambda i, uid: ("GET", "/api/v3/addons?cluster_id=seed"),
    "templates": lambda i, uid: ("GET", "/api/v3/addontemplates?addon_template_name=coredns"),
    # run.py's list row: 100 add-ons in one cluster, from a fixtures catalog of 100 coredns copies.
    "list of 100": lambda i, uid: ("GET", "/api/v3/addons?cluster_id=list100"),
}


def under_cachegrind(out, argv, port, ready_path):
    """Starts `argv` under cachegrind and returns once `ready_path` answers 200 — not once the port accepts: builds
    before 2026-12-03 refused with 503 a request that arrived between the daemon listening and the server booking
    itself as serving, which valgrind stretches to milliseconds."""
    server = subprocess.Popen(["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}", *argv],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            probe.request("GET", ready_path)
            ready = probe.getresponse().status == 200
            probe.close()
            if ready:
                return server
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"{argv[0]} did not start under valgrind")
        time.sleep(0.1)


def counts(binary, workload, requests, work):
    """Instructions by function for one server run of `requests` requests after the warm-up."""
    out = work / f"cachegrind-{workload}-{requests}.out"
    port = run.free_port()
    extra, seed = [], None
    if workload == "list of 100":
        fixtures, seed = run.list100_world(tempfile.mkdtemp(dir=work))
        extra = ["--fixtures", str(fixtures)]
    server = under_cachegrind(
        out, [str(binary), "--port", str(port), "--db", str(work / f"{workload}-{requests}.sqlite"), "--profile", "instant",
              "--log-level", "warning", *extra], port, "/_mock/health")
    conn = http.client.HTTPConnection("127.0.0.1", port)

    def send(method, path, body=None):
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        answer = conn.getresponse()
        data = answer.read()
        if answer.status not in (200, 201):
            raise SystemExit(f"{method} {path}: {answer.status} {data[:200]!r}")
        return data

    try:
        # The fixtures catalog of the list of 100 has coredns-000 to -099, not coredns.
        uid = json.loads(send("POST", "/api/v3/addons", run.install_body("seed", "coredns-000" if seed else "coredns")))["metadata"]["uid"]
        if seed:
            send("POST", "/_mock/import", seed)
        for i in range(WARMUP + requests):
            send(*WORKLOADS[workload](i, uid))
    finally:  # a failed run leaves no server behind
        conn.close()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
    return functions(out)


def reference_counts(binary, requests, work):
    """Instructions by function for one run of the C reference answering `requests` GETs after the warm-up."""
    out = work / f"cachegrind-reference-{requests}.out"
    port = run.free_port()
    server = under_cachegrind(out, [str(binary), str(port)], port, "/")
    conn = http.client.HTTPConnection("127.0.0.1", port)
    try:
        for _ in range(WARMUP + requests):
            conn.request("GET", "/")
            conn.getresponse().read()
    finally:
        conn.close()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
    return functions(out)


def functions(out):
    by_function = collections.Counter()
    function = None
    for line in out.read_text().splitlines():
        if line.startswith("fn="):
            function = line[3:]
        elif line[:1].isdigit() and function:
            by_function[function] += int(line.split()[1])
    return by_function


def per_request(binary, workload, requests, work):
    count = (lambda n: reference_counts(binary, n, work)) if workload is None else (lambda n: counts(binary, workload, n, work))
    base, more = count(0), count(requests)
    diff = {f: (more[f] - base[f]) / requests for f in set(base) | set(more)}
    pool = sum(v for f, v in diff.items() if "memset" in f)
    return sum(diff.values()), pool


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binaries", nargs="*", help="addonmock executables to compare (default: build the release one)")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--reference", action="store_true", help="count the C reference's constant GET too")
    a = ap.parse_args()
    for tool in ("valgrind", "objcopy"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install -y {'valgrind' if tool == 'valgrind' else 'binutils'}")
    binaries = [pathlib.Path(b) for b in a.binaries] or [run.build()[0]]
    work = pathlib.Path(tempfile.mkdtemp(prefix="addonmock-instructions-"))
    print("| build | workload | instructions per request | of which memset (libmicrohttpd's pool zeroing) |")
    print("|---|---|---|---|")
    for n, binary in enumerate(binaries):
        # valgrind 3.19 (Debian 12) cannot read the DWARF 5 that Swift emits: count a copy without it.
        (work / str(n)).mkdir()
        bare = work / str(n) / binary.name
        subprocess.run(["objcopy", "--strip-debug", str(binary), str(bare)], check=True)
        for workload in WORKLOADS:
            total, pool = per_request(bare, workload, a.requests, work / str(n))
            print(f"| {binary} | {workload} | {total:,.0f} | {pool:,.0f} |", flush=True)
    if a.reference:
        (work / "reference").mkdir()
        bare = work / "reference" / "hello"
        subprocess.run(["objcopy", "--strip-debug", str(run.build_reference()), str(bare)], check=True)
        total, pool = per_request(bare, None, a.requests, work / "reference")
        print(f"| C reference (hello.c) | GET constant body | {total:,.0f} | {pool:,.0f} |", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
