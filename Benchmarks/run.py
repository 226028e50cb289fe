#!/usr/bin/env python3
"""Benchmark harness: builds the release addonmock and the plain C libmicrohttpd reference, runs both in one go with
wrk on loopback, and prints a table of req/s, p50/p99 latency and ratios to the reference, plus start-up time and
peak RSS. Numbers are only comparable within one run (same machine, same moment).

    python3 Benchmarks/run.py [--seconds 5] [--rounds 3] [--connections 32] [--out Benchmarks/results/latest.md]
                              [--baseline OLDER_BINARY]
"""
import argparse
import json
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


def records_table(database):
    """Where a server's records are: `resources` from schema 5 on, `instances` before (a --baseline build)."""
    names = {r[0] for r in sqlite3.connect(database).execute("select name from sqlite_master where type = 'table'")}
    return "resources" if "resources" in names else "instances"


def build():
    print("building release addonmock and the C reference ...", file=sys.stderr)
    # Built as scripts/run and the Docker image build it: release, Swift runtime and libmicrohttpd 1.0.1
    # (scripts/libmicrohttpd) linked statically. The reference links the same libmicrohttpd, so a ratio measures
    # addonmock, not a difference between library releases.
    env = static_libmicrohttpd()
    subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib", "--product", "addonmock"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, env=env)
    binary = pathlib.Path(sh("swift", "build", "-c", "release", "--show-bin-path", cwd=ROOT, env=env).strip()) / "addonmock"
    return binary, build_reference()


def static_libmicrohttpd():
    pkgconfig = subprocess.run([str(ROOT / "scripts" / "libmicrohttpd"), "--static"], check=True, text=True, stdout=subprocess.PIPE).stdout
    return {**os.environ, "PKG_CONFIG_PATH": pkgconfig.strip()}


def build_reference():
    """Benchmarks/reference/hello.c, linked against the same static libmicrohttpd as the release build."""
    env = static_libmicrohttpd()
    reference = pathlib.Path(tempfile.gettempdir()) / "addonmock-bench-reference"
    # The pkg-config directory holds only the static library, so these flags link it in.
    flags = sh("pkg-config", "--cflags", "--libs", "libmicrohttpd", env=env).split()
    subprocess.run(["gcc", "-O2", "-o", str(reference), str(ROOT / "Benchmarks/reference/hello.c"), *flags, "-lpthread"],
                   check=True)
    return reference


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


def cpu_seconds(pid):
    """User plus system CPU time the process has used so far (all its threads)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url, seconds, connections, script=None, env=None, pid=None):
    """One wrk run (after a 2 s warm-up). With `pid`, also the CPU time that process spent per request in it, which
    moves less than req/s when another tenant of the machine takes a core away for a while."""
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        args += ["-s", str(script)]
    warm = {**(env or os.environ)}
    warm["BENCH_RUN"] = warm.get("BENCH_RUN", "run") + "-warmup"   # its installs must not collide with the measured ones
    subprocess.run(args[:3] + ["-d2s", url] + (["-s", str(script)] if script else []), capture_output=True,
                   env=warm, check=True)
    cpu_before = cpu_seconds(pid) if pid else 0
    out = sh(*args, url, env=env)
    cpu = cpu_seconds(pid) - cpu_before if pid else 0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))

    def latency(pct):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)\b", out)
        value, unit = float(m.group(1)), m.group(2)
        return value * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50": latency(50), "p99": latency(99), "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "errors": errors.group(1) if errors else "", "cpu_us": cpu * 1e6 / max(requests, 1)}


def post(url, body):
    req = urllib.request.Request(url, data=body.encode(), method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return r.read().decode()


def install_body(cluster, template="coredns"):
    return ('{"kind":"Addon","apiVersion":"v3","spec":{"clusterID":"%s","values":{},"addonTemplateName":"%s"}}'
            % (cluster, template))


def first_200_ms(argv, port, path="/_mock/health"):
    """Milliseconds from spawning `argv` to the first 200 on `path`, probing with a bare socket every 0.2 ms: a
    urllib request costs the probing side ~1 ms of Python a try (and a core the server needs), which the
    figures before 2026-12-03 include. Returns (ms, process); the caller stops the process."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as probe:
                probe.sendall(request)
                if probe.recv(12).startswith(b"HTTP/1.1 200"):
                    return (time.perf_counter() - t0) * 1000, p
        except OSError:
            if p.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited with {p.returncode} before answering")
        time.sleep(0.0002)


def list100_world(work):
    """The list-of-100 setup: a fixtures directory (under `work`) whose CCE catalog is 100 copies of coredns (the catalog
    allows one add-on of a template per cluster), and the /_mock/import body that puts one of each in cluster
    `list100`. Returns (fixtures directory, seed JSON)."""
    fixtures = pathlib.Path(work) / "fixtures-100"
    fixtures.mkdir()
    catalog = json.loads((ROOT / "Sources/Services/CCE/catalog/cce-addon-templates.json").read_text())
    coredns = next(t for t in catalog["templates"] if t["name"] == "coredns")
    names = [f"coredns-{i:03d}" for i in range(100)]
    (fixtures / "cce-addon-templates.json").write_text(json.dumps({"templates": [{**coredns, "name": n, "alias": n} for n in names]}))
    return fixtures, json.dumps({"addons": [{"cluster": "list100", "template": n, "status": "running"} for n in names], "plugins": []})


def startup_ms(binary, runs=20, db=None, reference=False, kill=False):
    """Median, fastest and slowest start-up to first 200 over `runs` starts: on a new database each time, or on
    `db` (kept) when given; `reference` starts the C reference instead (the floor: a process that only listens).
    Each server is stopped (SIGTERM, a clean stop) or with `kill` killed (SIGKILL: the next start-up finds no
    clean stop and checks the file)."""
    times = []
    for i in range(runs):
        port = free_port()
        path = db or tempfile.mktemp(suffix=".sqlite")
        argv = ([str(binary), str(port)] if reference
                else [str(binary), "--port", str(port), "--db", path, "--log-level", "warning"])
        ms, p = first_200_ms(argv, port, "/" if reference else "/_mock/health")
        times.append(ms)
        p.kill() if kill else p.terminate()
        p.wait()
        if db is None and not reference:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
    return statistics.median(times), min(times), max(times)


def paired(ref, targets, a, script=None, envs=None):
    """`a.rounds` rounds of (reference, then each addonmock server in `targets`) back to back: the machine's speed
    drifts between runs (the reference alone has measured 67k-221k req/s), so each ratio compares measurements taken
    seconds apart, and the table reports medians. `targets` are (url, server process); with a baseline build (the
    second) the two take turns going first, and `vs` is the median of their per-round ratio."""
    rounds = []
    for i in range(a.rounds):
        base = wrk(ref.url + "/", a.seconds, a.connections)
        order = list(range(len(targets))) if i % 2 == 0 else list(reversed(range(len(targets))))
        results = [None] * len(targets)
        for k in order:
            # Each round installs into clusters of its own: a repeated name would be a 409, not an install.
            env = envs[k] if envs else None
            round_env = {**env, "BENCH_RUN": f"{env.get('BENCH_RUN', 'run')}-r{i}"} if env else None
            url, server = targets[k]
            results[k] = wrk(url, a.seconds, a.connections, script, round_env, server.proc.pid)
        rounds.append((base, results))
    median = statistics.median

    def summary(k):
        return {
            "rps": median([r[k]["rps"] for _, r in rounds]),
            "base": median([b["rps"] for b, _ in rounds]),
            "ratio": median([r[k]["rps"] / b["rps"] for b, r in rounds]),
            "p50": median([r[k]["p50"] for _, r in rounds]),
            "p99": median([r[k]["p99"] for _, r in rounds]),
            "non2xx": sum(r[k]["non2xx"] for _, r in rounds),
            "cpu_us": median([r[k]["cpu_us"] for _, r in rounds]),
        }

    out = [summary(k) for k in range(len(targets))]
    if len(targets) > 1:
        out[0]["vs"] = median([r[0]["rps"] / r[1]["rps"] for _, r in rounds])
    return out


CONSOLE_EVENTS = "created,transition,updated,deleted,reset,clock"


def follow_events(url, types, stop):
    """A `/_mock/events` subscriber (by default taking what the console takes): one stream, read in large chunks and
    thrown away, so the client costs little next to the server it measures."""
    try:
        with urllib.request.urlopen(url + "/_mock/events?types=" + types, timeout=30) as r:
            while not stop.is_set() and r.read1(1 << 16):
                pass
    except OSError:
        return


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
    ap.add_argument("--baseline", metavar="BINARY",
                    help="an earlier addonmock build (e.g. the one a published table was taken with) measured in the same "
                         "rounds, on the same reference: adds its req/s, its ratio and this build's req/s over it")
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

    def server(db, build, profile="instant", extra=()):
        p = Process([str(build), "--port", "0", "--db", str(db), "--profile", profile, "--log-level", a.log_level, *extra],
                    "addonmock listening")
        if a.subscriber:
            threading.Thread(target=follow_events, args=(p.url, a.subscriber, stop_following), daemon=True).start()
        return p

    builds = [binary] + ([pathlib.Path(a.baseline).resolve()] if a.baseline else [])

    def servers(name):
        return [server(work / f"{name}-{k}.sqlite", b) for k, b in enumerate(builds)]

    def row(name, results, group):
        rows.append((name, results, [s.peak_rss_mib() for s in group]))

    # GET by id with 10 instances stored.
    group = servers("small")
    uids = []
    for s in group:
        for i in range(10):
            uid = re.search(r'"uid":"([^"]+)"', post(s.url + "/api/v3/addons", install_body(f"small-{i}"))).group(1)
        uids.append(uid)
    row("addonmock GET /api/v3/addons/{id}, 10 stored", paired(ref, [(f"{s.url}/api/v3/addons/{u}", s) for s, u in zip(group, uids)], a), group)
    for s in group:
        s.stop()

    # A list of 100 add-ons in one cluster (a catalog of 100 copies of coredns, from a fixtures directory: one add-on
    # per template per cluster), paired with a reference answering the same bytes: a 240 KB body costs any server
    # its copying and sending, and the small-body reference's ratio is given beside it (docs/performance.md).
    fixtures, seed = list100_world(work)
    group = [server(work / f"list-{k}.sqlite", b, extra=("--fixtures", str(fixtures))) for k, b in enumerate(builds)]
    for s in group:
        post(s.url + "/_mock/import", seed)
    listed = work / "list-100.json"
    with urllib.request.urlopen(group[0].url + "/api/v3/addons?cluster_id=list100") as r:
        listed.write_bytes(r.read())
    same_bytes = Process([str(reference), str(free_port()), str(listed)], "reference listening")
    results = paired(same_bytes, [(f"{s.url}/api/v3/addons?cluster_id=list100", s) for s in group], a)
    list_over_small_reference = results[0]["rps"] / ref_alone["rps"]
    list_row = (f"addonmock GET /api/v3/addons?cluster_id= (100 add-ons, {listed.stat().st_size / 1000:.0f} KB; "
                "the reference answers the same bytes)")
    row(list_row, results, group)
    same_bytes.stop()
    for s in group:
        s.stop()

    # Installs, each committed before its 200; this also fills the large database.
    group = servers("big")
    measure = {**os.environ, "BENCH_RUN": "measure"}
    row("addonmock POST /api/v3/addons (install, committed)",
        paired(ref, [(s.url, s) for s in group], a, WRK / "install.lua", [measure] * len(group)), group)
    uids, id_files, stored = [], [], []
    for k, s in enumerate(group):
        big = work / f"big-{k}.sqlite"
        count = lambda: sqlite3.connect(big).execute(f"select count(*) from {records_table(big)}").fetchone()[0]
        fill = 0
        while (before := count()) < a.stored:
            fill += 1
            subprocess.run(["wrk", "-t2", f"-c{a.connections}", "-d3s", "-s", str(WRK / "install.lua"), s.url], capture_output=True,
                           check=True, env={**os.environ, "BENCH_RUN": f"fill{fill}"})
            if count() <= before:
                sys.exit("filling the database made no progress: are installs failing?")
        conn = sqlite3.connect(big)
        table = records_table(big)
        stored.append(conn.execute(f"select count(*) from {table}").fetchone()[0])
        uids.append(conn.execute(f"select id from {table} order by random() limit 1").fetchone()[0])
        ids = work / f"ids-{k}.txt"
        ids.write_text("".join(f"{i} {c}\n" for i, c in conn.execute(f"select id, scope from {table} order by random() limit 1000")))
        id_files.append(ids)
        conn.close()
    row(f"addonmock GET /api/v3/addons/{{id}}, {stored[0]:,} stored",
        paired(ref, [(f"{s.url}/api/v3/addons/{u}", s) for s, u in zip(group, uids)], a), group)
    row("addonmock mixed (25 % install, 50 % show, 20 % list, 5 % templates)",
        paired(ref, [(s.url, s) for s in group], a, WRK / "mixed.lua", [{**os.environ, "BENCH_IDS": str(f)} for f in id_files]), group)
    for s in group:
        s.stop()
    ref_rss = ref.peak_rss_mib()
    ref.stop()
    stop_following.set()

    median, fastest, slowest = startup_ms(binary)
    floor = startup_ms(reference, reference=True)
    cpu = sh("sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    lines = [
        f"Machine: {os.cpu_count()} cores ({cpu}), {sh('uname', '-r').strip()}; wrk -t2 -c{a.connections} -d{a.seconds}s on "
        f"loopback, server and wrk sharing the cores; {a.rounds} rounds per workload, each an addonmock run right after a "
        f"reference run; medians; {time.strftime('%Y-%m-%d')}; servers at --log-level {a.log_level}"
        f"{f', each followed by a /_mock/events subscriber (types={a.subscriber})' if a.subscriber else ''}"
        f"{f'; baseline {builds[1]}, run in the same rounds (first in every other one)' if a.baseline else ''}.",
        "",
        "| workload | req/s | reference req/s (same rounds) | ratio | p50 ms | p99 ms | non-2xx | peak RSS MiB | server CPU µs/request |"
        + (" baseline req/s | baseline ratio | baseline CPU µs/request | this build / baseline, req/s |" if a.baseline else ""),
        "|---|---|---|---|---|---|---|---|---|" + ("---|---|---|---|" if a.baseline else ""),
        f"| C libmicrohttpd reference, GET constant body | {ref_alone['rps']:,.0f} | | 1.00 | {ref_alone['p50']:.2f} | "
        f"{ref_alone['p99']:.2f} | {ref_alone['non2xx']} | {ref_rss:.1f} | |" + (" | | | |" if a.baseline else ""),
    ]
    for name, results, rss in rows:
        r = results[0]
        line = (f"| {name} | {r['rps']:,.0f} | {r['base']:,.0f} | {r['ratio']:.2f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                f"{r['non2xx']} | {rss[0]:.1f} | {r['cpu_us']:.1f} |")
        if a.baseline:
            line += f" {results[1]['rps']:,.0f} | {results[1]['ratio']:.2f} | {results[1]['cpu_us']:.1f} | {r['vs']:.2f} |"
        lines.append(line)
    lines += ["", f"The list of 100 over the small-body reference (its run alone, first row): {list_over_small_reference:.3f}."]
    lines += ["", f"Start-up to first 200 on `/_mock/health` (release build, new database, median of 20): "
                  f"{median:.1f} ms (fastest {fastest:.1f}, slowest {slowest:.1f})"
                  + (" baseline: {:.1f} ms (fastest {:.1f}, slowest {:.1f}).".format(*startup_ms(builds[1])) if a.baseline else ".")
                  + " The C reference, which only listens: {:.1f} ms (fastest {:.1f}, slowest {:.1f}).".format(*floor)]
    text = "\n".join(lines) + "\n"
    print(text)
    pathlib.Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(a.out).write_text(text)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
