"""The README's example script works as printed."""
import os
import subprocess
import sys

from conftest import REPO


def test_quickstart_example(start):
    server = start("--profile", "fast")
    out = subprocess.run([sys.executable, str(REPO / "examples" / "sdk_quickstart.py")], capture_output=True, text=True,
                         env={**os.environ, "ADDONMOCK_URL": server.url}, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].endswith("1.30.6 installing")
    assert lines[1].endswith(" running")
    assert lines[2] == "plugin gpu-driver 2.7.5 Pending"
    assert lines[3].startswith("plugins in quickstart-pool: [('gpu-driver', ")
