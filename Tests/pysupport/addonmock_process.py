"""Starting the built addonmock executable from the Python suites (SDK compatibility, reliability)."""
import os
import pathlib
import re
import subprocess

REPO = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("ADDONMOCK_BIN", str(REPO / ".build" / "debug" / "addonmock"))


def start(*args):
    """Starts addonmock on an ephemeral port with `args`; returns (process, base URL) once it listens. The
    caller's ADDONMOCK_* variables are not passed on: the flags given here are the whole configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADDONMOCK_")}
    # The SDK uses requests, which honours proxy variables: keep loopback direct.
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    proc = subprocess.Popen([BINARY, "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    line = proc.stdout.readline().strip()
    match = re.fullmatch(r"addonmock listening on (http://127\.0\.0\.1:\d+)", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r} {proc.stderr.read()}")
    return proc, match.group(1)
