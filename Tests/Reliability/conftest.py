"""Starts the real addonmock executable on a database file, so it can be killed and restarted on it."""
import os
import pathlib
import signal
import sys
import tempfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Tests" / "pysupport"))
import addonmock_process  # noqa: E402


class Server:
    def __init__(self, db):
        self.db = db
        self.proc = None
        self.url = None

    def start(self):
        self.proc, self.url = addonmock_process.start("--db", self.db, "--profile", "instant", "--log-level", "error")
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
