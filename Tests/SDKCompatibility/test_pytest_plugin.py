"""The pytest plugin (clients/python) as a user's project uses it: examples/pytest_project runs in its own pytest,
which starts its own server from ADDONMOCK_BIN."""
import os
import pathlib
import subprocess
import sys

from addonmock import AddonMockError, AddonMockServer, find_binary

PROJECT = pathlib.Path(__file__).resolve().parents[2] / "examples" / "pytest_project"


def test_the_sample_project_passes_with_the_plugin():
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=PROJECT,
                         capture_output=True, text=True, timeout=300, env={**os.environ, "ADDONMOCK_BIN": find_binary()})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "5 passed" in run.stdout, run.stdout


def test_the_server_drains_its_output_and_stops_cleanly():
    """At info, one access line per request: 2,000 requests write far more than a pipe holds; a server whose
    output nobody read would stall. The plugin reads it and keeps it: once stopped, all of it (while running, its
    reader may still be a line behind the answers)."""
    with AddonMockServer(log_level="info") as server:
        for _ in range(2000):
            server.control("GET", "/_mock/clock")
    assert server.proc.returncode == 0
    assert server.output.count("GET /_mock/clock 200") == 2000


def test_a_refused_control_call_raises_with_status_and_body():
    with AddonMockServer() as server:
        try:
            server.wait(addon="nope", status="running", timeout_ms=10)
        except AddonMockError as e:
            assert e.status == 408 and "MOCK.408" in e.body and "no addon nope" in e.body
        else:
            raise AssertionError("a wait on a missing add-on was not refused")


def test_a_missing_binary_is_named():
    try:
        AddonMockServer(binary="/nonexistent/addonmock")
    except AddonMockError as e:
        assert "/nonexistent/addonmock is not an executable file" in str(e)
    else:
        raise AssertionError("no error")
