"""Servers for the terraform-shaped suite: the built addonmock (ADDONMOCK_BIN), started by the pytest plugin's
AddonMockServer with the flags each test needs."""
import pathlib
import sys

import pytest

from addonmock import AddonMockServer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from golangsdk import ServiceClient  # noqa: E402

AK, SK = "TFTESTAK00000000", "TFTESTSK0000000000000000000000000000000000"
PROJECT = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def server():
    """No auth, the fast profile (a step takes at most 200 ms): what a provider pointed at localhost meets."""
    with AddonMockServer(profile="fast", log_level="warning") as s:
        yield s


@pytest.fixture(scope="module")
def signed_server():
    """--auth aksk: every request must carry golangsdk's signature."""
    with AddonMockServer(profile="fast", log_level="warning", args=("--auth", "aksk", "--credentials", f"{AK}:{SK}")) as s:
        yield s


@pytest.fixture(scope="module")
def strict_server(request):
    """--parents strict (a module may name the flags, STRICT_ARGS): add-ons need their cluster and plug-ins their
    pool, as in the real cloud."""
    args = getattr(request.module, "STRICT_ARGS", ("--parents", "strict"))
    with AddonMockServer(profile="fast", log_level="warning", args=args) as s:
        yield s


@pytest.fixture
def strict_client(strict_server):
    strict_server.reset()
    c = ServiceClient(strict_server.url)
    yield c
    c.close()


@pytest.fixture
def client(server):
    server.reset()
    c = ServiceClient(server.url)
    yield c
    c.close()


@pytest.fixture
def signed_client(signed_server):
    signed_server.reset()
    c = ServiceClient(signed_server.url, ak=AK, sk=SK, project=PROJECT)
    yield c
    c.close()
