"""What scripts/release makes, checked from a user's side (docs/release.md): the tarball's binary needs only the C
runtime and runs in a bare Debian root; auditwheel accepts the wheel as manylinux; a fresh venv with only the wheel
(and the sample project's own requirements) runs examples/pytest_project green, with no Swift, no .build and no
ADDONMOCK_BIN in sight; the wheel's `addonmock` command serves; the sdist stays pure.

    scripts/release .build/dist && .venv/bin/python -m pytest Tests/Distribution   (DIST overrides the directory)
"""
import glob
import hashlib
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DIST = pathlib.Path(os.environ.get("DIST", ROOT / ".build" / "dist"))
ALLOWED = {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "ld-linux-x86-64.so.2"}


def one(pattern):
    found = glob.glob(str(DIST / pattern))
    assert len(found) == 1, f"{pattern} in {DIST}: {found} (run scripts/release first)"
    return pathlib.Path(found[0])


@pytest.fixture(scope="module")
def tarball():
    return one("addonmock-*-linux-x86_64.tar.gz")


@pytest.fixture(scope="module")
def wheel():
    return one("addonmock-*-py3-none-manylinux*_x86_64.whl")


def user_env(venv):
    """A user's shell: the venv and the system's directories on PATH, nothing of this repository's build."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADDONMOCK_") and k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{venv}/bin:/usr/local/bin:/usr/bin:/bin"
    return env


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel):
    """A fresh venv with the wheel (and its sdk extra) installed, from PyPI for everything but the wheel."""
    path = tmp_path_factory.mktemp("user") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    subprocess.run([f"{path}/bin/pip", "install", "-q", "--disable-pip-version-check", f"{wheel}[sdk]", "pytest"],
                   check=True, env=user_env(path))
    return path


def test_the_tarball_carries_a_binary_that_needs_only_the_c_runtime(tarball, tmp_path):
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    assert pathlib.Path(f"{tarball}.sha256").read_text() == f"{digest}  {tarball.name}\n"
    with tarfile.open(tarball) as t:
        t.extractall(tmp_path, filter="data")
    binary = next(tmp_path.glob("addonmock-*/addonmock"))
    dynamic = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True, check=True).stdout
    needed = set(re.findall(r"\(NEEDED\).*\[(.*)\]", dynamic))
    assert needed and needed <= ALLOWED, needed - ALLOWED
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    assert tarball.name == f"addonmock-{version}-linux-x86_64.tar.gz"


@pytest.mark.skipif(os.geteuid() != 0, reason="the bare root needs root (debootstrap, chroot, namespaces)")
def test_the_binary_runs_in_a_bare_debian_root(tarball):
    run = subprocess.run([sys.executable, str(ROOT / "scripts/check-image"), "--bare", str(tarball)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "exit 0 on SIGTERM" in run.stderr


def test_auditwheel_accepts_the_wheel_as_manylinux(wheel):
    auditwheel = ROOT / ".build/release-tools/bin/auditwheel"
    shown = subprocess.run([str(auditwheel), "show", str(wheel)], capture_output=True, text=True, check=True).stdout
    flat = " ".join(shown.split())
    tag = re.search(r"consistent with the following platform tag: \"?(manylinux_\d+_\d+_x86_64)", flat)
    assert tag, shown
    assert wheel.name.endswith(f"-py3-none-{tag.group(1)}.whl"), (wheel.name, tag.group(1))
    with zipfile.ZipFile(wheel) as z:
        info = z.getinfo("addonmock/bin/addonmock")
        assert info.external_attr >> 16 & 0o111, "the server is executable"
        assert "Root-Is-Purelib: false" in z.read(next(n for n in z.namelist() if n.endswith(".dist-info/WHEEL"))).decode()


def test_a_fresh_venv_with_only_the_wheel_runs_the_sample_project(venv):
    env = user_env(venv)
    assert shutil.which("swift", path=env["PATH"]) is None, "the user's PATH has no Swift"
    found = subprocess.run([f"{venv}/bin/python", "-c", "import addonmock; print(addonmock.find_binary())"],
                           capture_output=True, text=True, check=True, env=env).stdout.strip()
    assert found.startswith(str(venv)) and found.endswith("addonmock/bin/addonmock"), found
    run = subprocess.run([f"{venv}/bin/pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "examples/pytest_project")],
                         capture_output=True, text=True, timeout=600, env=env, cwd=venv.parent)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert re.search(r"\d+ passed", run.stdout), run.stdout


def test_the_wheels_command_serves(venv, tmp_path):
    address = tmp_path / "address"
    server = subprocess.Popen([f"{venv}/bin/addonmock", "serve", "--port", "0", "--db", ":memory:", "--address-file", str(address)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=user_env(venv))
    try:
        deadline = time.monotonic() + 30
        while not (address.exists() and address.read_text().strip()):
            assert server.poll() is None and time.monotonic() < deadline, server.stderr.read() if server.poll() is not None else "no address"
            time.sleep(0.05)
        with urllib.request.urlopen(f"{address.read_text().strip()}/_mock/health", timeout=10) as answer:
            assert answer.status == 200
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()


def test_the_sdist_is_pure_and_says_where_the_server_comes_from(tmp_path):
    sdists = [p for p in map(pathlib.Path, glob.glob(str(DIST / "addonmock-*.tar.gz"))) if "linux" not in p.name]
    assert len(sdists) == 1, sdists
    sdist = sdists[0]
    with tarfile.open(sdist) as t:
        names = t.getnames()
    assert not [n for n in names if "/bin/addonmock" in n], names
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([f"{venv}/bin/pip", "install", "-q", "--disable-pip-version-check", str(sdist)], check=True, env=user_env(venv))
    run = subprocess.run([f"{venv}/bin/addonmock", "--version"], capture_output=True, text=True, env=user_env(venv))
    assert run.returncode == 127 and "carries no server" in run.stderr, run.stderr
