#!/usr/bin/env python3
"""Benchmark harness: builds the release addonmock and the plain C libmicrohttpd reference, runs both in one go with
wrk on loopback, and prints a table of req/s, p50/p99 latency and ratios to the reference, plus start-up time and
peak RSS. Numbers are only comparable within one run (same machine, same moment).

    python3 Benchmarks/run.py [--seconds 5] [--rounds 3] [--connections 32] [--out Benchmarks/results/latest.md]
"""
import argparse
import os
import pathlib
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
WRK = ROOT / "Benchmarks" / "wrk"


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def build():
    print("building release addonmock and the C reference ...", file=sys.stderr)
    # Built as scripts/run and the Docker image build it: release, Swift runtime and libmicrohttpd 1.0.1
    # (scripts/libmicrohttpd) linked statically. The reference links the same libmicrohttpd, so a ratio measures
    # addonmock, not a difference between library releases.
    pkgconfig = subprocess.run([str(ROOT / "scripts" / "libmicrohttpd")], check=True, text=True, stdout=subprocess.PIPE).stdout
    env = {**os.environ, "PKG_CONFIG_PATH": pkgconfig.strip()}
    subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib", "--product", "addonmock"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, env=env)
    binary = pathlib.Path(sh("swift", "build", "-c", "release", "--show-bin-path", cwd=ROOT, env=env).strip()) / "addonmock"
    reference = pathlib.Path(tempfile.gettempdir()) / "addonmock-bench-reference"
    # The pkg-config directory holds only the static library, so these flags link it in.
    flags = sh("pkg-config", "--cflags", "--libs", "libmicrohttpd", env=env).split()
    subprocess.run(["gcc", "-O2", "-o", str(reference), str(ROOT / "Benchmarks/reference/hello.c"), *flags, "-lpthread"],
                   check=True)
    return binary, reference


class Process:
    def __init__(self, argv, ready_prefix):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().strip()
        if ready_prefix not in line:
            self.proc.kill()
            raise RuntimeError(f"{argv[0]} did not start: {line!r}")
        self.url = line.split(" listening on ")[1]

    def peak_rss_mib(self):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(url, seconds, connections, script=None, env=None):
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        args += ["-s", str(script)]
    warm = {**(env or os.environ)}
    warm["BENCH_RUN"] = warm.get("BENCH_RUN", "run") + "-warmup"   # its installs must not collide with the measured ones
    subprocess.run(args[:3] + ["-d2s", url] + (["-s", str(script)] if script else []), capture_output=True,
                   env=warm, check=True)
    out = sh(*args, url, env=env)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def latency(pct):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)\b", out)
        value, unit = float(m.group(1)), m.group(2)
        return value * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50": latency(50), "p99": latency(99), "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "errors": errors.group(1) if errors else ""}


def post(url, body):
    req = urllib.request.Request(url, data=body.encode(), method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return r.read().decode()


def install_body(cluster, template="coredns"):
    return ('{"kind":"Addon","apiVersion":"v3","spec":{"clusterID":"%s","values":{},"addonTemplateName":"%s"}}'
            % (cluster, template))


def startup_ms(binary, runs=20):
    times = []
    for i in range(runs):
        db = tempfile.mktemp(suffix=".sqlite")
        port = free_port()
        t0 = time.perf_counter()
        p = subprocess.Popen([str(binary), "--port", str(port), "--db", db, "--log-level", "warning"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_mock/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.0005)
        times.append((time.perf_counter() - t0) * 1000)
        p.terminate()
        p.wait()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.remove(db + suffix)
    return statistics.median(times), min(times), max(times)


def paired(ref, url, a, script=None, env=None):
    """`a.rounds` rounds of (reference, then addonmock) back to back: the machine's speed drifts between runs
    (the reference alone has measured 67k-104k req/s), so each ratio compares two measurements taken seconds
    apart, and the table reports medians."""
    rounds = []
    for i in range(a.rounds):
        base = wrk(ref.url + "/", a.seconds, a.connections)
        # Each round installs into clusters of its own: a repeated name would be a 409, not an install.
        round_env = {**env, "BENCH_RUN": f"{env.get('BENCH_RUN', 'run')}-r{i}"} if env else None
        rounds.append((base, wrk(url, a.seconds, a.connections, script, round_env)))
    median = lambda xs: statistics.median(xs)
    return {
        "rps": median([r["rps"] for _, r in rounds]),
        "base": median([b["rps"] for b, _ in rounds]),
        "ratio": median([r["rps"] / b["rps"] for b, r in rounds]),
        "p50": median([r["p50"] for _, r in rounds]),
        "p99": median([r["p99"] for _, r in rounds]),
        "non2xx": sum(r["non2xx"] for _, r in rounds),
    }


CONSOLE_EVENTS = "created,transition,updated,deleted,reset,clock"


def follow_events(url, types, stop):
    """A `/_mock/events` subscriber (by default taking what the console takes): each batch is read whole and only its
    last `id:` is looked at (in C, by bytes.rfind), so the client costs little next to the server it measures."""
    cursor = None
    while not stop.is_set():
        query = f"?types={types}" + ("" if cursor is None else f"&after={cursor}")
        try:
            with urllib.request.urlopen(url + "/_mock/events" + query, timeout=30) as r:
                body = r.read()
        except OSError:
            return
        at = body.rfind(b"\nid: ")
        if at >= 0:
            cursor = body[at + 5:body.index(b"\n", at + 5)].decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3, help="reference/addonmock pairs per workload")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--stored", type=int, default=100_000, help="instances stored for the large-database GET")
    ap.add_argument("--out", default=str(ROOT / "Benchmarks/results/latest.md"))
    ap.add_argument("--subscriber", nargs="?", const=CONSOLE_EVENTS, default=None, metavar="TYPES",
                    help=f"keep a /_mock/events subscriber on each addonmock server (types: default {CONSOLE_EVENTS}, "
                         "as the console; add request for every request)")
    ap.add_argument("--log-level", default="warning", help="the servers' --log-level (info: one access line per request)")
    a = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install -y wrk")
    binary, reference = build()
    work = pathlib.Path(tempfile.mkdtemp(prefix="addonmock-bench-"))
    rows = []

    # The reference keeps running (idle while addonmock is measured) so every round can pair the two.
    ref = Process([str(reference), str(free_port())], "reference listening")
    ref_alone = wrk(ref.url + "/", a.seconds, a.connections)

    stop_following = threading.Event()

    def server(db, profile="instant"):
        p = Process([str(binary), "--port", "0", "--db", str(db), "--profile", profile, "--log-level", a.log_level],
                    "addonmock listening")
        if a.subscriber:
            threading.Thread(target=follow_events, args=(p.url, a.subscriber, stop_following), daemon=True).start()
        return p

    # GET by id with 10 instances stored.
    s = server(work / "small.sqlite")
    uid = None
    for i in range(10):
        uid = re.search(r'"uid":"([^"]+)"', post(s.url + "/api/v3/addons", install_body(f"small-{i}"))).group(1)
    rows.append(("addonmock GET /api/v3/addons/{id}, 10 stored", paired(ref, f"{s.url}/api/v3/addons/{uid}", a), s.peak_rss_mib()))
    s.stop()

    # Installs, each committed before its 200; this also fills the large database.
    big = work / "big.sqlite"
    s = server(big)
    rows.append(("addonmock POST /api/v3/addons (install, committed)",
                 paired(ref, s.url, a, WRK / "install.lua", {**os.environ, "BENCH_RUN": "measure"}), s.peak_rss_mib()))
    count = lambda: sqlite3.connect(big).execute("select count(*) from instances").fetchone()[0]
    fill = 0
    while (before := count()) < a.stored:
        fill += 1
        subprocess.run(["wrk", "-t2", f"-c{a.connections}", "-d3s", "-s", str(WRK / "install.lua"), s.url], capture_output=True,
                       check=True, env={**os.environ, "BENCH_RUN": f"fill{fill}"})
        if count() <= before:
            sys.exit("filling the database made no progress: are installs failing?")
    conn = sqlite3.connect(big)
    stored = conn.execute("select count(*) from instances").fetchone()[0]
    uid = conn.execute("select id from instances order by random() limit 1").fetchone()[0]
    ids = work / "ids.txt"
    ids.write_text("".join(f"{i} {c}\n" for i, c in conn.execute("select id, scope from instances order by random() limit 1000")))
    conn.close()
    rows.append((f"addonmock GET /api/v3/addons/{{id}}, {stored:,} stored", paired(ref, f"{s.url}/api/v3/addons/{uid}", a),
                 s.peak_rss_mib()))
    rows.append(("addonmock mixed (25 % install, 50 % show, 20 % list, 5 % templates)",
                 paired(ref, s.url, a, WRK / "mixed.lua", {**os.environ, "BENCH_IDS": str(ids)}), s.peak_rss_mib()))
    s.stop()
    ref_rss = ref.peak_rss_mib()
    ref.stop()
    stop_following.set()

    median, fastest, slowest = startup_ms(binary)
    cpu = sh("sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    lines = [
        f"Machine: {os.cpu_count()} cores ({cpu}), {sh('uname', '-r').strip()}; wrk -t2 -c{a.connections} -d{a.seconds}s on "
        f"loopback, server and wrk sharing the cores; {a.rounds} rounds per workload, each an addonmock run right after a "
        f"reference run; medians; {time.strftime('%Y-%m-%d')}; servers at --log-level {a.log_level}"
        f"{f', each followed by a /_mock/events subscriber (types={a.subscriber})' if a.subscriber else ''}.",
        "",
        "| workload | req/s | reference req/s (same rounds) | ratio | p50 ms | p99 ms | non-2xx | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|",
        f"| C libmicrohttpd reference, GET constant body | {ref_alone['rps']:,.0f} | | 1.00 | {ref_alone['p50']:.2f} | "
        f"{ref_alone['p99']:.2f} | {ref_alone['non2xx']} | {ref_rss:.1f} |",
    ]
    for name, r, rss in rows:
        lines.append(f"| {name} | {r['rps']:,.0f} | {r['base']:,.0f} | {r['ratio']:.2f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                     f"{r['non2xx']} | {rss:.1f} |")
    lines += ["", f"Start-up to first 200 on `/_mock/health` (release build, new database, median of 20): "
                  f"{median:.1f} ms (fastest {fastest:.1f}, slowest {slowest:.1f})."]
    text = "\n".join(lines) + "\n"
    print(text)
    pathlib.Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(a.out).write_text(text)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
