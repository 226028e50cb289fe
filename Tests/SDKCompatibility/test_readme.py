"""The README's walkthroughs (and docs/walkthroughs.md's), run as pasted: each curl block in one go against a fresh server with the profile the
README starts it with (every call must succeed; the only 4xx allowed are the 404s the README itself shows, a `curl`
line whose comment says 404), and the SDK pool script with the server's address as its argument."""
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# The README's walkthrough, then the ones docs/walkthroughs.md continues with.
WALKTHROUGHS = README.read_text() + (ROOT / "docs" / "walkthroughs.md").read_text()
BLOCKS = [b for b in re.findall(r"```sh\n(.*?)```", WALKTHROUGHS, re.S) if b.startswith("B=http://127.0.0.1:8080")]
SCRIPTS = [b for b in re.findall(r"```python\n(.*?)```", README.read_text(), re.S) if b.startswith("# pool_flow.py")]
# curl's write-out goes to stderr (%{stderr}), so what the walkthrough pipes and parses is untouched.
WRAPPER = """set -euo pipefail
curl() { command curl -w '%{stderr}STATUS %{http_code} %{method}\\n' "$@"; }
"""


def test_the_readme_has_its_walkthroughs():
    assert len(BLOCKS) == 4, BLOCKS


@pytest.mark.parametrize("block", BLOCKS, ids=["cce", "clusters", "modelarts", "export-import"])
def test_walkthrough_runs_as_pasted(start, block):
    server = start("--profile", "fast")
    script = WRAPPER + block.replace("http://127.0.0.1:8080", server.url)
    run = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    statuses = [line.split()[1:] for line in run.stderr.splitlines() if line.startswith("STATUS ")]
    assert len(statuses) == len(re.findall(r"^(?:\S+=\$\()?curl ", block, re.M)), run.stderr
    documented_404s = len(re.findall(r"^curl [^#\n]*#[^\n]*\b404\b", block, re.M))
    unexpected = [s for s in statuses if s[0] not in ("200", "201")]
    assert unexpected == [["404", "GET"]] * documented_404s, run.stdout + run.stderr


def test_the_sdk_pool_flow_runs_as_pasted(start, tmp_path):
    """ModelArts pools with only the official SDK: create, Running, gpu-driver, scale, delete, the plug-in gone."""
    assert len(SCRIPTS) == 1
    server = start("--profile", "fast")
    script = tmp_path / "pool_flow.py"
    script.write_text(SCRIPTS[0])
    run = subprocess.run([sys.executable, str(script), server.url], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.endswith("scaled to 3, deleted with its plug-in\n"), run.stdout
    assert server.control("GET", "/_mock/resources/pools")["items"] == []
