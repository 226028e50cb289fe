"""scripts/check-image: the Dockerfile builds and its image runs (without a Docker engine), and drift between the
Dockerfile and what Debian serves fails with one line naming the package."""
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
CHECK = REPO / "scripts" / "check-image"
DOCKERFILE = (REPO / "Dockerfile").read_text()

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="scripts/check-image needs root (debootstrap, chroot, namespaces)")


def check(*args, dockerfile=None, tmp_path=None):
    argv = [str(CHECK), *args]
    if dockerfile is not None:
        path = tmp_path / "Dockerfile"
        path.write_text(dockerfile)
        argv += ["--dockerfile", str(path)]
    if os.environ.get("ADDONMOCK_RELEASE_BIN") and "--pins-only" not in args:
        argv += ["--binary", os.environ["ADDONMOCK_RELEASE_BIN"]]
    return subprocess.run(argv, text=True, capture_output=True, timeout=1800)


def failure_lines(result):
    return [line for line in result.stderr.splitlines() if not line.startswith("check-image: pins:")]


def test_the_image_builds_runs_answers_the_sdk_and_stops_cleanly():
    r = check()
    assert r.returncode == 0, r.stderr
    assert "SDK quickstart passed" in r.stderr
    assert "image with `serve --port 9000`: healthy" in r.stderr


@pytest.mark.parametrize("pin, replacement, line", [
    ("pkg-config=1.8.1-1", "pkg-config=0.29-6",
     "check-image: stage build pins pkg-config=0.29-6, but Debian bookworm serves pkg-config 1.8.1-1"),
    ("make=4.3-4.1", "make=4.4.1-2",
     "check-image: stage build pins make=4.4.1-2, but Debian bookworm serves make 4.3-4.1"),
    ("'libsqlite3-0=3.40.1-2+deb12u*'", "'libsqlite3-0=3.46*'",
     "check-image: stage debian:bookworm-slim pins libsqlite3-0=3.46*, but Debian bookworm serves libsqlite3-0 3.40.1-2+deb12u2"),
    ("'libsqlite3-0=3.40.1-2+deb12u*'", "libsqlite99",
     "check-image: stage debian:bookworm-slim installs libsqlite99, which Debian bookworm does not have"),
])
def test_a_pin_debian_does_not_serve_fails_with_one_line_naming_the_package(tmp_path, pin, replacement, line):
    assert pin in DOCKERFILE, "the test's pin must be in the Dockerfile"
    r = check("--pins-only", dockerfile=DOCKERFILE.replace(pin, replacement), tmp_path=tmp_path)
    assert r.returncode == 1
    lines = failure_lines(r)
    # Debian may move libsqlite3-0 to a newer +deb12uN; the line still names the package and what is served.
    if "libsqlite3-0" in line:
        assert len(lines) == 1 and lines[0].startswith(line.rsplit(" ", 1)[0]), r.stderr
    else:
        assert lines == [line], r.stderr


def test_a_copy_the_build_context_does_not_hold_fails(tmp_path):
    broken = DOCKERFILE.replace("COPY fixtures ./fixtures", "COPY fixtures ./fixtures\nCOPY Package.resolved ./")
    r = check("--pins-only", dockerfile=broken, tmp_path=tmp_path)
    assert r.returncode == 1
    assert failure_lines(r) == ["check-image: stage build copies Package.resolved, which .dockerignore leaves out"]
