"""The `addonmock` command a wheel installs: runs the server it carries (`addonmock serve --port 9000`), with every
argument passed on. Without a bundled server (an sdist) it runs $ADDONMOCK_BIN or another `addonmock` on PATH."""
import os
import shutil
import sys

from .server import bundled_binary


def _elsewhere_on_path():
    """An `addonmock` on PATH that is not this command itself."""
    me = os.path.realpath(sys.argv[0]) if sys.argv and sys.argv[0] else None
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = shutil.which("addonmock", path=directory) if directory else None
        if candidate and os.path.realpath(candidate) != me:
            return candidate
    return None


def main():
    binary = os.environ.get("ADDONMOCK_BIN") or bundled_binary() or _elsewhere_on_path()
    if not binary:
        print("addonmock: this installation carries no server (an sdist): install the platform wheel, or set "
              "ADDONMOCK_BIN to an addonmock executable", file=sys.stderr)
        return 127
    os.execv(binary, [binary, *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
