"""pytest fixtures for addonmock, registered automatically once the package is installed:

- `addonmock_server` (session): one server for the run; binary from --addonmock-bin, $ADDONMOCK_BIN, the wheel's own, or PATH;
  a free port, an in-memory database, the profile from --addonmock-profile (default instant).
- `addonmock` (each test): that server, reset before the test (state, fault rules, journal and clock).
- `cce_client`, `modelarts_client` (each test): official SDK clients pointed at it (pip install "addonmock[sdk]").
"""
import pytest

from .server import AddonMockServer


def pytest_addoption(parser):
    group = parser.getgroup("addonmock")
    group.addoption("--addonmock-bin", default=None, help="the addonmock executable (default: $ADDONMOCK_BIN, then the one the wheel carries, then PATH)")
    group.addoption("--addonmock-profile", default=None, help="realistic | fast | instant | manual (default: instant)")
    parser.addini("addonmock_profile", "the timing profile of the session's server", default="instant")
    parser.addini("addonmock_args", "more server flags, e.g. --auth aksk --credentials AK:SK", type="args", default=[])


@pytest.fixture(scope="session")
def addonmock_server(pytestconfig):
    profile = pytestconfig.getoption("addonmock_profile") or pytestconfig.getini("addonmock_profile")
    server = AddonMockServer(
        binary=pytestconfig.getoption("addonmock_bin"), profile=profile, args=pytestconfig.getini("addonmock_args"))
    server.start()
    yield server
    code = server.stop()
    assert code == 0, f"addonmock exited with {code}:\n{server.output}"


@pytest.fixture
def addonmock(addonmock_server):
    addonmock_server.reset()
    return addonmock_server


@pytest.fixture
def cce_client(addonmock):
    return addonmock.cce()


@pytest.fixture
def modelarts_client(addonmock):
    return addonmock.modelarts()
