"""Starts the real addonmock executable on a database file, so it can be killed and restarted on it."""
import os
import pathlib
import re
import signal
import subprocess
import tempfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("ADDONMOCK_BIN", str(REPO / ".build" / "debug" / "addonmock"))


class Server:
    def __init__(self, db):
        self.db = db
        self.proc = None
        self.url = None

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ADDONMOCK_")}
        self.proc = subprocess.Popen([BINARY, "--port", "0", "--db", self.db, "--profile", "instant", "--log-level", "error"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        line = self.proc.stdout.readline().strip()
        match = re.fullmatch(r"addonmock listening on (http://127\.0\.0\.1:\d+)", line)
        if not match:
            self.proc.kill()
            raise RuntimeError(f"server did not start: {line!r} {self.proc.stderr.read()}")
        self.url = match.group(1)
        return self

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        self.proc.terminate()
        assert self.proc.wait(timeout=20) == 0, self.proc.stderr.read()

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


@pytest.fixture
def database():
    with tempfile.TemporaryDirectory(prefix="addonmock-reliability-") as d:
        yield os.path.join(d, "state.sqlite")


@pytest.fixture
def server(database):
    s = Server(database).start()
    yield s
    if s.proc.poll() is None:
        s.proc.kill()
        s.proc.wait()
