"""Stops keep their promise: SIGTERM at random moments under write load exits 0, every request sent before the
signal gets a complete answer (its success, or a 503 in its service's format, never silence), and every
acknowledged write is there after a restart. Half-closed clients get their answers; a latency rule holding
many requests occupies no worker thread.

STOP_ROUNDS (default 30) sets how many stops."""
import json
import os
import pathlib
import random
import resource
import select
import signal
import socket
import sys
import threading
import time

import requests

REPO = pathlib.Path(__file__).resolve().parents[2]
from addonmock import AddonMockServer  # noqa: E402

STOP_ROUNDS = int(os.environ.get("STOP_ROUNDS", "30"))
WRITERS = 6


def install_body(cluster):
    return json.dumps({"kind": "Addon", "apiVersion": "v3",
                       "spec": {"clusterID": cluster, "addonTemplateName": "coredns", "values": {}}}).encode()


def host_port(url):
    host, port = url.split("//")[1].rsplit(":", 1)
    return host, int(port)


def read_answer(sock):
    """One complete HTTP/1.1 answer (status, headers, Content-Length body) or None if the connection ended first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    length = next(int(l.split(":", 1)[1]) for l in lines if l.lower().startswith("content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        body += chunk
    return int(lines[0].split()[1]), body[:length]


class Writer(threading.Thread):
    """Installs on one keep-alive connection, recording for each request whether it was sent before the stop."""

    def __init__(self, url, name, stop_sent_at):
        super().__init__(daemon=True)
        self.address = host_port(url)
        self.name_ = name
        self.stop_sent_at = stop_sent_at      # [monotonic time of the SIGTERM] once sent
        self.acknowledged = []                 # clusters whose install was answered 201
        self.unanswered_before_stop = []
        self.answers = {}

    def run(self):
        n = 0
        sock = None
        while True:
            sent_before_stop = False
            try:
                if sock is None:
                    sock = socket.create_connection(self.address, timeout=15)
                cluster = f"{self.name_}-{n}"
                n += 1
                body = install_body(cluster)
                sock.sendall(b"POST /api/v3/addons HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body) + body)
                sent_before_stop = not self.stop_sent_at
                answer = read_answer(sock)
            except OSError:
                if sent_before_stop:
                    self.unanswered_before_stop.append(cluster)
                if self.stop_sent_at:
                    return
                sock = None
                continue
            if answer is None:
                if sent_before_stop:
                    self.unanswered_before_stop.append(cluster)
                return
            status, payload = answer
            self.answers[status] = self.answers.get(status, 0) + 1
            if status == 201:
                self.acknowledged.append(cluster)
            elif status == 503:
                assert json.loads(payload)["errorCode"].startswith("CCE."), payload    # the service's own format
                return
            else:
                raise AssertionError(f"unexpected {status}: {payload[:200]}")


def test_sigterm_under_write_load_answers_everything_and_exits_0(server):
    rng = random.Random(int(os.environ.get("STOP_SEED", "20261130")))
    acknowledged, answers = [], {}
    for round_ in range(STOP_ROUNDS):
        stop_sent_at = []
        writers = [Writer(server.url, f"r{round_}w{i}", stop_sent_at) for i in range(WRITERS)]
        for w in writers:
            w.start()
        time.sleep(rng.uniform(0.05, 0.4))
        stop_sent_at.append(time.monotonic())
        server.proc.send_signal(signal.SIGTERM)
        code = server.proc.wait(timeout=30)
        for w in writers:
            w.join(timeout=30)
        assert code == 0, f"round {round_}: exit {code}: {server.process.output[-3000:]}"
        unanswered = [c for w in writers for c in w.unanswered_before_stop]
        assert not unanswered, f"round {round_}: sent before the stop, never answered: {unanswered}"
        for w in writers:
            acknowledged += w.acknowledged
            for status, count in w.answers.items():
                answers[status] = answers.get(status, 0) + count
        server.start()
    listed = requests.get(server.url + "/_mock/resources/addons", timeout=30).json()["items"]
    stored = {i["cluster"] for i in listed}
    missing = [c for c in acknowledged if c not in stored]
    print(f"stop: {STOP_ROUNDS} SIGTERMs under load, answers {answers}, {len(acknowledged)} acknowledged installs")
    assert not missing, f"acknowledged but lost: {missing[:10]}"
    assert len(acknowledged) > 20 * STOP_ROUNDS, "the load did not run"


def half_closed_install(address, cluster):
    """Sends an install, then shuts down its sending side (HTTP allows it), and reads the answer to the end."""
    body = install_body(cluster)
    sock = socket.create_connection(address, timeout=15)
    try:
        sock.sendall(b"POST /api/v3/addons HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
        sock.shutdown(socket.SHUT_WR)
        return read_answer(sock)
    except OSError:
        return None
    finally:
        sock.close()


def test_half_closed_writers_under_concurrent_load_get_their_answers(server):
    address = host_port(server.url)
    results = {}

    def run(i):
        if i % 2:
            results[i] = half_closed_install(address, f"half-{i}")
        else:   # a writer that keeps its connection open, so commits are shared and answers held
            with socket.create_connection(address, timeout=15) as sock:
                body = install_body(f"full-{i}")
                sock.sendall(b"POST /api/v3/addons HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                results[i] = read_answer(sock)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(300)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    half = [results[i] for i in range(1, 300, 2)]
    answered = [r for r in half if r is not None and r[0] == 201 and json.loads(r[1])["spec"]["clusterID"].startswith("half-")]
    stored = {i["cluster"] for i in requests.get(server.url + "/_mock/resources/addons", timeout=30).json()["items"]}
    print(f"half-close: {len(answered)} of {len(half)} half-closed installs answered; {len(stored)} stored")
    assert len(stored) == 300
    assert all(r is not None and r[0] == 201 for r in (results[i] for i in range(0, 300, 2)))
    # 54 of 150 before the server wrote half-closed clients' answers itself; 145-150 while it only looked for the
    # FIN, which libmicrohttpd may read first on resuming a connection (docs/reliability.md).
    assert len(answered) == len(half), f"only {len(answered)} of {len(half)} answered"


def test_a_latency_rule_holding_100_requests_occupies_no_worker(server):
    rule = {"match": {"service": "cce"}, "latencyMs": 5000}
    assert requests.post(server.url + "/_mock/faults", json=rule, timeout=10).status_code == 201
    address = host_port(server.url)
    socks = []
    for _ in range(100):
        sock = socket.create_connection(address, timeout=15)
        sock.sendall(b"GET /api/v3/addontemplates HTTP/1.1\r\nHost: localhost\r\n\r\n")
        socks.append(sock)
    time.sleep(0.5)     # let the server take in all of them (each is then held by the 5 s latency)
    timings = []
    for _ in range(5):
        started = time.monotonic()
        assert requests.get(server.url + "/_mock/health", timeout=10).status_code == 200
        timings.append(time.monotonic() - started)
    print(f"latency: health answered in {max(timings) * 1000:.1f} ms at most with 100 requests held")
    assert max(timings) < 0.05, timings
    # And the held ones are answered once their latency has passed.
    for sock in socks[:5]:
        status, _ = read_answer(sock)
        assert status == 200
    for sock in socks:
        sock.close()


class started_with_many_sockets:
    """A server of our own (extra flags) with this process allowed enough open files for thousands of sockets;
    the sockets the test opens are closed and the server must stop with exit 0."""

    def __init__(self, database, *flags):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4096)), hard))
        self.process = AddonMockServer(db=database, profile=None, log_level="error", args=flags).start()
        self.proc, self.url = self.process.proc, self.process.url
        self.socks = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for sock in self.socks:
            sock.close()
        self.proc.terminate()
        assert self.proc.wait(timeout=30) == 0


def test_idle_and_slow_clients_cannot_lock_others_out(database):
    """2,000 sockets, half idle and half sending an unfinished request head (slowloris): a normal client's health
    check answers within 1 s, and the server closes the slow ones once the request timeout has passed and the idle
    ones once the idle timeout has (each its own limit)."""
    with started_with_many_sockets(database, "--request-timeout", "2", "--idle-timeout", "3") as server:
        address = host_port(server.url)
        for i in range(2000):
            sock = socket.create_connection(address, timeout=15)
            if i % 2:
                sock.sendall(b"GET /api/v3/addontemplates HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            server.socks.append(sock)
        started = time.monotonic()
        assert requests.get(server.url + "/_mock/health", timeout=10).status_code == 200
        health_s = time.monotonic() - started
        assert health_s < 1.0, health_s
        # Every one of them is closed by the server (EOF or reset) once its limit has passed; wait for that state.
        by_fd = {sock.fileno(): sock for sock in server.socks}
        poller = select.poll()
        for fd in by_fd:
            poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + 30
        while by_fd and time.monotonic() < deadline:
            for fd, _ in poller.poll(1000):
                try:
                    ended = by_fd[fd].recv(1) == b""
                except OSError:
                    ended = True
                if ended:
                    poller.unregister(fd)
                    del by_fd[fd]
        print(f"slow clients: health in {health_s * 1000:.1f} ms with 2,000 open; {2000 - len(by_fd)} closed by the server")
        assert not by_fd, f"{len(by_fd)} idle or slow connections still open"
        assert requests.get(server.url + "/_mock/health", timeout=10).status_code == 200


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def test_memory_is_bounded_by_bytes_and_returned_after_a_burst(database):
    """Large add-ons read once each (the instance cache keeps at most --cache-mib of them) and 300 connections each
    sending an unfinished 1 MiB body (at most --body-budget-mib is held): resident memory stays under 128 MiB
    during the burst and comes back under 48 MiB once it is over."""
    with started_with_many_sockets(database, "--profile", "instant") as server:
        url, pid, peak = server.url, server.proc.pid, 0.0
        pad = "x" * 900_000
        ids = []
        session = requests.Session()
        for i in range(150):
            body = {"kind": "Addon", "apiVersion": "v3",
                    "spec": {"clusterID": f"big-{i}", "addonTemplateName": "coredns", "values": {"pad": pad}}}
            r = session.post(url + "/api/v3/addons", json=body, timeout=30)
            assert r.status_code == 201, r.text[:200]
            ids.append(r.json()["metadata"]["uid"])
        for uid in ids:
            assert len(session.get(f"{url}/api/v3/addons/{uid}", timeout=30).content) > 900_000
            peak = max(peak, rss_mib(pid))
        body_head = (b"POST /api/v3/addons HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % (1 << 20))
        chunk = b"x" * ((1 << 20) - 1)       # one byte short: the request never completes
        for _ in range(300):
            sock = socket.create_connection(host_port(url), timeout=15)
            sock.sendall(body_head + chunk)
            server.socks.append(sock)
            peak = max(peak, rss_mib(pid))
        for _ in range(10):                   # samples while all 300 are held
            peak = max(peak, rss_mib(pid))
            time.sleep(0.1)
        for sock in server.socks:
            sock.close()
        server.socks = []
        # Wait for the state, not a duration: resident memory back under 48 MiB (bounded by 30 s).
        deadline, after = time.monotonic() + 30, rss_mib(pid)
        while after > 48 and time.monotonic() < deadline:
            time.sleep(0.5)
            after = rss_mib(pid)
        print(f"memory: peak {peak:.1f} MiB during the burst, {after:.1f} MiB after")
        assert peak <= 128, peak
        assert after <= 48, after
        assert requests.get(url + "/_mock/health", timeout=10).status_code == 200


def test_curl_n_sees_an_install_made_after_it_connected(server):
    """`curl -N $B/_mock/events`: one connection, kept open; what happens after it connected arrives as it happens,
    and a stop ends the stream cleanly (curl exits 0)."""
    import subprocess
    curl = subprocess.Popen(["curl", "-N", "-s", server.url + "/_mock/events?types=created"], stdout=subprocess.PIPE)
    try:
        seen = b""
        while b": connected" not in seen:        # the stream is open: anything installed now must show
            seen += os.read(curl.stdout.fileno(), 4096)
        r = requests.post(server.url + "/api/v3/addons", data=install_body("curl-n"), headers={"Content-Type": "application/json"}, timeout=10)
        assert r.status_code == 201
        uid = r.json()["metadata"]["uid"].encode()
        deadline = time.monotonic() + 30
        while uid not in seen and time.monotonic() < deadline:
            if select.select([curl.stdout], [], [], 1)[0]:
                seen += os.read(curl.stdout.fileno(), 4096)
        assert b"event: created" in seen and uid in seen, seen[-500:]
        server.stop()
        assert curl.wait(timeout=30) == 0, "the stream ended as HTTP says (its last chunk), not cut off"
    finally:
        if curl.poll() is None:
            curl.kill()
