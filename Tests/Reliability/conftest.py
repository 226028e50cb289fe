"""Starts the real addonmock executable on a database file, so it can be killed and restarted on it."""
import os
import pathlib
import signal
import sys
import tempfile

import pytest

from addonmock import AddonMockServer


class Server:
    def __init__(self, db):
        self.db = db
        self.proc = None
        self.url = None

    def start(self):
        self.process = AddonMockServer(db=self.db, profile="instant", log_level="error").start()
        self.proc, self.url = self.process.proc, self.process.url
        return self

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        self.proc.terminate()
        assert self.proc.wait(timeout=20) == 0, self.process.output

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
